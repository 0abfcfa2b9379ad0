"""Does `aprm experiment=smoke seed=S` run to the end for every seed S? (Generated text is
untrusted input: seed 7 once sampled a `\\r` that crashed the MC rollouts.)

Runs the CLI once per seed in one fresh home (one process at a time) and prints a line per seed:
exit code, wall time, and the last error line of a failing run.

    .venv/bin/python bench/smoke_seeds.py [--seeds 0-9] [--home DIR]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def seed_range(text: str) -> list[int]:
    low, _, high = text.partition("-")
    return list(range(int(low), int(high or low) + 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=seed_range, default=seed_range("0-9"), help="e.g. 0-9 or 7")
    parser.add_argument("--home", type=Path, default=None)
    args = parser.parse_args()
    home = args.home or Path(tempfile.mkdtemp(prefix="aprm-smoke-seeds-"))
    failed = []
    for seed in args.seeds:
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "flows.cli", "experiment=smoke", f"seed={seed}",
                               f"paths.home={home}"], capture_output=True, text=True,
                              cwd=Path(__file__).resolve().parent.parent)
        wall = time.perf_counter() - start
        errors = [line for line in (proc.stdout + proc.stderr).splitlines() if "Error" in line]
        print(f"seed {seed}: exit {proc.returncode}, {wall:.0f} s"
              + (f", {errors[-1][:200]}" if proc.returncode and errors else ""), flush=True)
        if proc.returncode:
            failed.append(seed)
    print(f"{len(args.seeds) - len(failed)} passed, {len(failed)} failed" + (f": seeds {failed}" if failed else ""))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
