"""Which PRM recipe learns to verify? One table on ID validation only, against items and CPU s.

For each candidate recipe (a scorer of steps) it prints:
- the paired AUROC per rule-perturbation type: the wrong step vs the reference step at the same
  position of the same problem (static set, val split);
- the step AUROC on the solver's own sampled errors (oracle labels of ID-val samples, steps up to
  and including the first error);
- the solution AUROC (the min step score against the final answer's correctness);
- best-of-N (min) against pass@1 and majority@N, on the same samples;
- training items and CPU seconds spent building the scorer.

The solver, the static set and the samples come from the library's own stage functions, built
once into --workdir with the composed experiment config (cached: a second call re-scores only):

    .venv/bin/python bench/prm_learnability.py --workdir /tmp/learnability experiment=benchmark

Recipes are named in --recipes; the table is printed as Markdown (paste it into docs/LOG.md).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def prepare(cfg: dict, workdir: Path, threads: int) -> dict:
    """Splits, static set, solver, ID-val samples and pool samples, each built once."""
    from aprm.data import build_splits
    from aprm.io import write_json
    from aprm.labeling import label_static_set
    from aprm.pipeline.common import load_splits
    from aprm.pipeline.samples_stage import sample_suite_stage
    from aprm.pipeline.solver_stage import train_solver_stage
    from aprm.pipeline.solver_work import sampling_settings

    seed = int(cfg["solver_seed"] if cfg.get("solver_seed") is not None else cfg["seed"])
    workdir.mkdir(parents=True, exist_ok=True)
    paths = {"splits": workdir / "splits.json", "static": workdir / "static.jsonl",
             "solver": workdir / "solver" / "model", "val": workdir / "val_samples.jsonl",
             "pool": workdir / "pool_samples.jsonl"}
    if not paths["splits"].exists():
        write_json(paths["splits"], build_splits(cfg["data"], seed).to_dict())
    if not paths["static"].exists():
        label_static_set(paths["splits"], cfg["oracle"], seed, paths["static"])
    if not (paths["solver"] / "config.json").exists():
        start = time.process_time()
        metrics = train_solver_stage(str(paths["splits"]), cfg["model"], cfg["train"]["solver"], seed,
                                     paths["solver"].parent, threads)
        print(f"solver trained: {metrics} ({time.process_time() - start:.0f} CPU s)", flush=True)
    splits = load_splits(str(paths["splits"]))
    eval_cfg = sampling_settings(cfg["eval"])
    if not paths["val"].exists():
        print(sample_suite_stage(str(paths["solver"]), splits.val, eval_cfg, cfg["backend"], seed,
                                 paths["val"], threads), flush=True)
    pool = cfg["train"]["pool"]
    if not paths["pool"].exists():
        print(sample_suite_stage(str(paths["solver"]), splits.train[: int(pool["problems"])],
                                 {**eval_cfg, "n_samples": int(pool["samples"])}, cfg["backend"], seed,
                                 paths["pool"], threads), flush=True)
    return {key: str(path) for key, path in paths.items()}


# --- what every recipe is measured on ------------------------------------------------------


def measure(score_batch, pairs, val_rows) -> dict:
    """The table's columns for one scorer (`score_batch(items) -> step scores per item`)."""
    from aprm.eval import evaluate_selection
    from aprm.eval.samples import ProblemSamples, Sample
    from aprm.models.prm_metrics import auroc
    from aprm.pipeline.samples_stage import process_labels

    out: dict = {}
    flat = [item[:2] for _, right, wrong in pairs for item in (right, wrong)]
    scores = score_batch(flat)
    by_rule: dict[str, tuple[list, list]] = {}
    for (rule, _, _), right, wrong in zip(pairs, scores[0::2], scores[1::2]):
        by_rule.setdefault(rule, ([], []))
        by_rule[rule][0].append(right[-1])
        by_rule[rule][1].append(wrong[-1])
    for rule, (right, wrong) in sorted(by_rule.items()):
        out[f"paired {rule}"] = auroc(right + wrong, [1] * len(right) + [0] * len(wrong))
    items = [(problem, s["steps"]) for problem, samples in val_rows for s in samples if s["steps"]]
    sample_scores = iter(score_batch(items))
    step_scores, step_labels, solution_scores, solution_labels, problems = [], [], [], [], []
    for problem, samples in val_rows:
        picked = []
        for s in samples:
            sc = next(sample_scores) if s["steps"] else []
            picked.append(Sample(correct=s["correct"], final_answer=s["final_answer"], step_scores=tuple(sc),
                                 valid=bool(s["steps"]), truncated=s["truncated"]))
            labeled = process_labels(s)
            if labeled:
                step_scores += sc[: len(labeled[1])]
                step_labels += labeled[1]
            if sc:
                solution_scores.append(min(sc))
                solution_labels.append(int(s["correct"]))
        problems.append(ProblemSamples(problem.id, tuple(picked)))
    out["step AUROC, solver errors"] = auroc(step_scores, step_labels)
    out["solution AUROC (min)"] = auroc(solution_scores, solution_labels)
    selection = evaluate_selection(problems, aggs=["min"], seed=0)
    n = str(selection["n_max"])
    out[f"best-of-{n} min"] = selection["best_of_n"]["min"][n]
    out[f"weighted-{n} min"] = selection["weighted"]["min"][n]
    out["pass@1"] = selection["pass_at"]["1"]
    out[f"majority@{n}"] = selection["majority"][n]
    return out


# --- the recipes ------------------------------------------------------------------------------


def likelihood_recipe(reader, feature: str):
    """The uncalibrated likelihood verifier: P = the least likely token's probability."""
    from aprm.models.likelihood import LikelihoodConfig, likelihood_scorer

    return likelihood_scorer(reader, LikelihoodConfig("", feature)).score_batch


def head_recipe(reader, train_items, seed: int | None = None):
    """The pipeline's `model.prm_kind: surprise_head` fit (aprm.models.surprise_head) on
    (problem, steps, labels) items."""
    from aprm.models.surprise_head import HeadPRM, SurpriseHeadScorer, fit_head, labeled_tensors

    head = fit_head(labeled_tensors(reader, train_items, "solver surprise (train)"), seed)
    return SurpriseHeadScorer(HeadPRM("", head), reader).score_batch, len(train_items)


def prior_recipe(train_items):
    """No model: P(correct) by (step index, answer line) from the training items' labels."""
    from collections import defaultdict

    from aprm.models.text_format import answer_from_line

    counts = defaultdict(lambda: [0, 0])
    for _, steps, labels in train_items:
        for k, (step, label) in enumerate(zip(steps, labels)):
            key = (min(k, 8), answer_from_line(step) is not None)
            counts[key][0] += int(label >= 0.5)
            counts[key][1] += 1

    def score_batch(items):
        return [[(counts[(min(k, 8), answer_from_line(s) is not None)][0] + 1)
                 / (counts[(min(k, 8), answer_from_line(s) is not None)][1] + 2)
                 for k, s in enumerate(steps)] for _, steps in items]

    return score_batch, len(train_items)


def prm_recipe(cfg: dict, paths: dict, workdir: Path, name: str, threads: int, model_overrides: dict):
    """The pipeline's own static PRM (train_baseline_prm), trained once into workdir."""
    from aprm.models.loading import load_prm
    from aprm.models.scorer import PRMScorer
    from aprm.pipeline.prm_stage import static_items, train_baseline_prm

    out = workdir / f"prm-{name}"
    if not (out / "model" / "config.json").exists():
        inputs = {"verifier_dir": paths["solver"], "val_samples": paths["val"], "static": paths["static"]}
        train_baseline_prm("static", {"name": "static"}, inputs, {**cfg["model"], **model_overrides},
                           cfg["train"]["prm"], int(cfg["seed"]), out, threads)
    model, tokenizer = load_prm(out / "model")
    scorer = PRMScorer(model, tokenizer, batch_size=64, on_overflow="score_zero")
    return scorer.score_batch, len(static_items(paths["static"]))


RECIPES = ("prior", "likelihood_numeric", "likelihood_all", "head_static", "head_static_pool", "head_orm",
           "prm_fresh", "prm_solver_init")


def build_recipe(name: str, cfg: dict, paths: dict, workdir: Path, threads: int, reader):
    """(score_batch, training items) of one recipe; raises KeyError for an unknown name."""
    from aprm.pipeline.prm_stage import outcome_items, process_items, static_items

    if name == "prior":
        return prior_recipe(static_items(paths["static"]))
    if name == "likelihood_numeric":
        return likelihood_recipe(reader, "numeric_min"), 0
    if name == "likelihood_all":
        return likelihood_recipe(reader, "all_min"), 0
    if name == "head_static":
        return head_recipe(reader, static_items(paths["static"]))
    if name == "head_static_pool":
        return head_recipe(reader, static_items(paths["static"]) + process_items(paths["pool"]))
    if name == "head_orm":
        return head_recipe(reader, outcome_items(paths["pool"]))
    if name == "prm_fresh":
        return prm_recipe(cfg, paths, workdir, name, threads, {})
    if name == "prm_solver_init":
        return prm_recipe(cfg, paths, workdir, name, threads, {"prm_init": "solver"})
    raise KeyError(f"unknown recipe {name!r}; choose from {RECIPES}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--prepare-only", action="store_true")
    parser.add_argument("--recipes", default=",".join(RECIPES[:-1]),
                        help=f"comma-separated, from {', '.join(RECIPES)}")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. experiment=benchmark")
    args = parser.parse_args()

    from flows.config import compose_config

    cfg = compose_config(args.overrides)
    paths = prepare(cfg, args.workdir, args.threads)
    if args.prepare_only:
        print(paths)
        return

    import torch

    from aprm.pipeline.prm_stage import perturbation_pairs
    from aprm.pipeline.samples_stage import read_samples

    torch.set_num_threads(args.threads)
    pairs = perturbation_pairs(paths["static"])
    val_rows = read_samples(paths["val"])
    from aprm.models.surprise_head import SurpriseReader

    reader = SurpriseReader(paths["solver"], batch_size=64)
    table = []
    for name in args.recipes.split(","):
        start = time.process_time()
        score_batch, n_items = build_recipe(name, cfg, paths, args.workdir, args.threads, reader)
        built = time.process_time() - start
        start = time.process_time()
        row = measure(score_batch, pairs, val_rows)
        scored = time.process_time() - start
        table.append((name, n_items, built, scored, row))
        print(f"{name}: {row} ({n_items} items, {built:.0f} + {scored:.0f} CPU s)", flush=True)
    columns = list(table[0][4])
    print("\n| recipe | train items | build CPU s | score CPU s | " + " | ".join(columns) + " |")
    print("|---|---|---|---|" + "---|" * len(columns))
    for name, n_items, built, scored, row in table:
        print(f"| {name} | {n_items} | {built:.0f} | {scored:.0f} | "
              + " | ".join(f"{row[c]:.3f}" for c in columns) + " |")
    print(f"\n{len(pairs)} paired perturbations (static val split); {len(val_rows)} ID-val problems x "
          f"{len(val_rows[0][1]) if val_rows else 0} samples; CPU s = process time to build the scorer "
          "(solver log-probs are computed once and shared: the first surprise recipe pays for them).")


if __name__ == "__main__":
    main()
