"""Where a run's time goes, on whatever device torch sees: each stage's wall time, and the
throughput of sampling (solutions/s, in the run) and of scoring (steps/s, one suite scored
again after the run).

It runs the library plan (`aprm.pipeline.plan.run_plan`) with the in-memory runner: no Prefect
server and no MLflow store, so it runs on a machine that has only torch, transformers, TRL and
Hydra (a lent GPU machine). Stages run on CUDA when torch sees it. `--baseline FILE` (this
script's JSON from another machine) adds a column with that run's time over this one's.

    .venv/bin/python bench/stage_times.py experiment=smoke --json smoke-cpu.json
    python3 bench/stage_times.py experiment=smoke --json smoke-gpu.json --baseline smoke-cpu.json
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


class TimingRunner:
    """The in-memory runner, keeping each stage's inputs beside its outcome (the throughput
    counts come from the sample files a stage read or wrote)."""

    def __init__(self, on_stage) -> None:
        from aprm.pipeline.runner_hook import InMemoryRunner

        self.inner = InMemoryRunner()
        self.records: list[dict] = []
        self.on_stage = on_stage

    def run(self, fn, name, *, retry=None, tags=None, step=0, **kwargs):
        start = time.perf_counter()
        outcome = self.inner.run(fn, name, retry=retry, tags=tags, step=step, **kwargs)
        record = {"name": name, "kind": name.split("[")[0], "wall_s": time.perf_counter() - start,
                  "cached": outcome.cached, "inputs": kwargs, "value": outcome.value}
        self.records.append(record)
        self.on_stage(record)
        return outcome

    def submit(self, fn, name, *, tags=None, **kwargs):
        outcome = self.run(fn, name, tags=tags, **kwargs)
        return lambda: outcome


def solution_counts(samples_path: str) -> tuple[int, int]:
    """(solutions, steps) in a sample file."""
    from aprm.pipeline.samples_stage import read_samples

    rows = read_samples(samples_path)
    return (sum(len(samples) for _, samples in rows),
            sum(len(s["steps"]) for _, samples in rows for s in samples))


def sampling_rate(records: list[dict]) -> dict:
    """Solutions drawn per second of the sampling stages."""
    drawn = sum(solution_counts(r["value"]["path"])[0] for r in records if r["kind"] == "sample-solutions")
    seconds = sum(r["wall_s"] for r in records if r["kind"] == "sample-solutions")
    return {"solutions_per_s": drawn / seconds if seconds else None, "solutions": drawn}


def scoring_rate(records: list[dict], suite: str, batch_size: int) -> dict:
    """Steps scored per second by the solver's surprise (what every surprise-head PRM and the
    likelihood verifier read), over one suite's samples, afresh: in the run, the readers'
    memory answers most evaluation requests, so stage times would not measure scoring."""
    from aprm.models.likelihood import SolverSurprise
    from aprm.models.loading import load_causal_lm
    from aprm.pipeline.samples_stage import read_samples

    sampled = next(r for r in records if r["kind"] == "sample-solutions" and r["inputs"]["suite"] == suite)
    items = [(problem, s["steps"]) for problem, samples in read_samples(sampled["value"]["path"])
             for s in samples if s["steps"]]
    model, tokenizer = load_causal_lm(sampled["inputs"]["solver_dir"])
    start = time.perf_counter()
    SolverSurprise(model.eval(), tokenizer, batch_size).vectors(items)
    seconds = time.perf_counter() - start
    steps = sum(len(steps) for _, steps in items)
    return {"steps_per_s": steps / seconds, "steps": steps, "solutions": len(items), "suite": suite}


def device_name() -> str:
    import torch

    if torch.cuda.is_available():
        return f"cuda: {torch.cuda.get_device_name(0)}"
    return f"cpu: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. experiment=smoke")
    parser.add_argument("--json", type=Path, help="write the stage times and throughput here")
    parser.add_argument("--baseline", type=Path, help="another run's --json: print its time / this run's")
    parser.add_argument("--home", type=Path, help="artifacts go here (default: a temporary folder)")
    args = parser.parse_args()

    import torch

    from aprm.hashing import code_version, stable_hash
    from aprm.pipeline.plan import run_plan
    from flows.config import compose_config, method_config, method_names

    home = args.home or Path(tempfile.mkdtemp(prefix="aprm-stage-times-"))
    cfg = compose_config([*args.overrides, f"paths.home={home}"])
    games = {method: method_config(method, cfg) for method in method_names(cfg)}
    print(f"device {device_name()}; torch {torch.__version__}; overrides {args.overrides}", flush=True)

    def show(record: dict) -> None:
        print(f"  {record['name']:<46} {'cached' if record['cached'] else 'ran':<6} {record['wall_s']:8.1f} s",
              flush=True)

    runner = TimingRunner(show)
    start = time.perf_counter()
    run_plan(cfg, games, runner, home / "artifacts", code_version(), stable_hash(cfg)[:12], "bench")
    total = time.perf_counter() - start
    by_kind: dict[str, float] = defaultdict(float)
    for record in runner.records:
        by_kind[record["kind"]] += record["wall_s"]
    summary = {"device": device_name(), "torch": torch.__version__, "overrides": args.overrides,
               "total_s": total, "stages": dict(by_kind), "sampling": sampling_rate(runner.records),
               "scoring": scoring_rate(runner.records, cfg["data"]["suites"][0],
                                       int(cfg["eval"].get("score_batch_size", 64)))}
    baseline = json.loads(args.baseline.read_text()) if args.baseline else None

    print(f"\n{'stage':<22} {'wall s':>9}" + (f" {'baseline s':>11} {'baseline/this':>14}" if baseline else ""))
    for kind, seconds in [*by_kind.items(), ("total", total)]:
        line = f"{kind:<22} {seconds:9.1f}"
        if baseline:
            theirs = baseline["total_s"] if kind == "total" else baseline["stages"].get(kind)
            line += f" {theirs:11.1f} {theirs / seconds:13.1f}x" if theirs and seconds else f" {'-':>11}"
        print(line)
    for label, run in [("this run", summary), *([("baseline", baseline)] if baseline else [])]:
        sampling, scoring = run["sampling"], run["scoring"]
        print(f"{label} ({run['device']}): sampling {sampling['solutions_per_s'] or 0:.1f} solutions/s "
              f"({sampling['solutions']} solutions); scoring {scoring['steps_per_s']:.0f} steps/s "
              f"({scoring['steps']} steps of suite {scoring['suite']}, uncached)")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
