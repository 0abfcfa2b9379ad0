"""End-to-end speed of the pipeline, measured in one run (CPU):

1. wall time of a fresh run (default: `experiment=benchmark seeds=null`, i.e. one seed),
2. wall time of the same run again (every stage from cache),
3. which stages re-run when only an evaluation setting changes (counted from the flow's log),
4. peak RSS of the pipeline process.

    .venv/bin/python bench/e2e.py [--overrides experiment=smoke ...] [--home DIR]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STAGE_LINE = re.compile(r"stage (\S+)\s+(ran|cached)\s+([\d.]+)s \(compute ([\d.]+)s\)")


def run(overrides: list[str], home: Path, env: dict) -> tuple[float, dict[str, str], int, dict[str, float]]:
    """Run `aprm` once; return wall seconds, {stage: ran|cached}, the child's peak RSS (KiB) and
    {stage: wall seconds} (the profile: where the time goes)."""
    cmd = [sys.executable, "-m", "flows.cli", *overrides, f"paths.home={home}"]
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parent.parent)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
        raise SystemExit(f"aprm failed with exit code {proc.returncode}")
    matches = list(STAGE_LINE.finditer(proc.stdout + proc.stderr))
    # a stage shared across seeds (the solver) logs once as it runs, then as cached: keep the first
    stages, times = {}, {}
    for m in matches:
        stages.setdefault(m.group(1), m.group(2))
        times.setdefault(m.group(1), float(m.group(3)))
    return wall, stages, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--overrides", nargs="*", default=["experiment=benchmark", "seeds=null"])
    parser.add_argument("--eval-change", default="eval.first_error_threshold=0.45",
                        help="an evaluation-only override for the partial re-run")
    parser.add_argument("--home", type=Path, default=None)
    args = parser.parse_args()
    home = args.home or Path(tempfile.mkdtemp(prefix="aprm-e2e-"))
    (home / "prefect").mkdir(parents=True, exist_ok=True)  # Prefect's SQLite needs its folder
    env = {**os.environ, "PREFECT_HOME": str(home / "prefect"), "HF_HUB_OFFLINE": "1", "DO_NOT_TRACK": "1",
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "APRM_PROGRESS": "0",
           "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120"}
    fresh, stages, rss, profile = run(args.overrides, home, env)
    cached, again, _, _ = run(args.overrides, home, env)
    partial, changed, _, _ = run(args.overrides + [args.eval_change], home, env)
    reran = sorted(name for name, state in changed.items() if state == "ran")
    print(f"overrides: {' '.join(args.overrides)}   home: {home}")
    print(f"fresh run:          {fresh:8.1f} s  ({len(stages)} stages)")
    print(f"cached re-run:      {cached:8.1f} s  ({sum(s == 'cached' for s in again.values())}/{len(again)} stages cached)")
    print(f"eval-only change:   {partial:8.1f} s  ({args.eval_change}); re-ran {len(reran)} of {len(changed)} stages:")
    for name in reran:
        print(f"    {name}")
    print("profile of the fresh run (stage wall seconds; fanned-out stages overlap on the runner's workers):")
    for name, seconds in sorted(profile.items(), key=lambda kv: -kv[1]):
        print(f"    {seconds:8.1f} s  {name}")
    print(f"ratio fresh/cached: {fresh / cached:8.1f}x")
    print(f"peak RSS:           {rss / 1024:8.0f} MiB")


if __name__ == "__main__":
    main()
