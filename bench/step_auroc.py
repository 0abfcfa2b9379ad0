"""Step AUROC on the solver's own errors, per method and seed, for a finished run.

Reads a run's results.json (its `stages` name every artifact), loads each method's final scorer
(a baseline's `train-prm` folder; a game's R after its last round) and scores the samples of one
suite: the step AUROC over oracle process labels (steps up to and including the first error) and
the solution AUROC of the min step score against the final answer's correctness. The number the
issue "The verifier verifies" asks of the static PRM (>= 0.90 on `id`); the report does not show it.

    .venv/bin/python bench/step_auroc.py <home>/artifacts/runs/<hash>/results.json --suite id
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def scorer_folders(results: dict) -> dict[tuple[str, int], str]:
    """(method, seed) -> the folder its evaluation scored with."""
    paths = {s["name"]: s["path"] for s in results["stages"]}
    out: dict[tuple[str, int], str] = {}
    for name, path in paths.items():
        if m := re.fullmatch(r"train-prm\[(\w+),seed=(\d+)\]", name):
            out[(m.group(1), int(m.group(2)))] = path
    for row in results["rounds"]:
        name = f"game-round[{row['method']},{row['round']},seed={row['seed']}]"
        final = Path(paths[name]) / ("prm" if row["method"] == "aprm" else "prm_0")
        key = (row["method"], row["seed"])
        if key not in out or row["round"] >= out.get(("_round",) + key, -1):  # the last round's R
            out[key], out[("_round",) + key] = str(final), row["round"]
    return {k: v for k, v in out.items() if k[0] != "_round" and k[0] in results["methods"]}


def measure(folder: str, samples_path: str) -> dict[str, float]:
    from aprm.models.prm_metrics import auroc
    from aprm.pipeline.evaluate_stage import load_step_scorer, solver_error_auroc
    from aprm.pipeline.samples_stage import read_samples

    rows = read_samples(samples_path)
    scorer = load_step_scorer(folder, 64)
    items = [(problem, s) for problem, samples in rows for s in samples if s["steps"]]
    flat = iter(scorer.score_batch([(p, s["steps"]) for p, s in items]))
    scores = [[next(flat) if s["steps"] else [] for s in samples] for _, samples in rows]
    steps = solver_error_auroc(rows, scores)
    solution_scores = [min(sc) for problem_scores in scores for sc in problem_scores if sc]
    solution_labels = [int(s["correct"]) for _, samples in rows for s in samples if s["steps"]]
    return {"step_auroc": steps["step_auroc_solver_errors"], "wrong_steps": steps["solver_wrong_steps"],
            "solution_auroc": auroc(solution_scores, solution_labels)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", type=Path)
    parser.add_argument("--suite", default="id")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--methods", default=None, help="comma-separated methods (default: every one)")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    results = json.loads(args.results.read_text(encoding="utf-8"))
    samples = {int(m.group(1)): s["path"] for s in results["stages"]
               if (m := re.fullmatch(rf"sample-solutions\[{args.suite},seed=(\d+)\]", s["name"]))}
    print(f"| method | seed | step AUROC, solver errors ({args.suite}) | solution AUROC (min) | wrong steps |")
    print("|---|---|---|---|---|")
    wanted = set(args.methods.split(",")) if args.methods else None
    for (method, seed), folder in sorted(scorer_folders(results).items(), key=lambda kv: (kv[0][0], kv[0][1])):
        if wanted is not None and method not in wanted:
            continue
        row = measure(folder, samples[seed])
        print(f"| {method} | {seed} | {row['step_auroc'] or float('nan'):.3f} | {row['solution_auroc']:.3f} | "
              f"{row['wrong_steps']} |", flush=True)


if __name__ == "__main__":
    main()
