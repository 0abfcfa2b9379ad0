"""Headroom of each test suite for a reranker, from a finished run's samples.

For every suite and seed: pass@1 as the mean share of right samples per problem (the unbiased
estimate; the report's "pass@1" row is the first sample alone, noisier on a 50-problem suite), the
first sample's accuracy beside it, pass@N, and the gap pass@N - pass@1. The issue "The verifier
verifies" asks every OOD suite for pass@1 within 10-60% and a gap of at least 20 points.

    .venv/bin/python bench/suite_headroom.py <home>/artifacts/runs/<hash>/results.json
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from statistics import mean

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aprm.io import read_jsonl  # noqa: E402

PASS1_RANGE = (10.0, 60.0)
MIN_GAP = 20.0


def suite_rates(samples_path: str) -> tuple[float, float, float, int]:
    """(pass@1 as mean share, first-sample accuracy, pass@N) in %, and the problem count."""
    shares, first, any_right = [], [], []
    for row in read_jsonl(samples_path):
        right = [bool(s["correct"]) for s in row["samples"]]
        shares.append(sum(right) / len(right))
        first.append(right[0])
        any_right.append(any(right))
    return 100 * mean(shares), 100 * mean(first), 100 * mean(any_right), len(shares)


def verdict(pass1: float, gap: float) -> str:
    misses = []
    if not PASS1_RANGE[0] <= pass1 <= PASS1_RANGE[1]:
        misses.append(f"pass@1 outside {PASS1_RANGE[0]:g}-{PASS1_RANGE[1]:g}")
    if gap < MIN_GAP:
        misses.append(f"gap short by {MIN_GAP - gap:.1f}")
    return "; ".join(misses) or "meets"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", type=Path)
    parser.add_argument("--id-suite", default="id", help="the in-distribution suite: no target")
    args = parser.parse_args()
    results = json.loads(args.results.read_text(encoding="utf-8"))
    by_suite: dict[str, dict[int, str]] = {}
    for stage in results["stages"]:
        m = re.fullmatch(r"sample-solutions\[(\w+),seed=(\d+)\]", stage["name"])
        if m and m.group(1) in results["suites"]:
            by_suite.setdefault(m.group(1), {})[int(m.group(2))] = stage["path"]
    print("| suite | problems | pass@1 (mean share) | first sample | pass@N | gap | per seed (pass@1 / pass@N) | target |")
    print("|---|---|---|---|---|---|---|---|")
    for suite in results["suites"]:
        if suite not in by_suite:
            continue
        rates = {seed: suite_rates(path) for seed, path in sorted(by_suite[suite].items())}
        pass1, first, pass_n = (mean(r[i] for r in rates.values()) for i in range(3))
        per_seed = ", ".join(f"{r[0]:.1f} / {r[2]:.1f}" for r in rates.values())
        problems = next(iter(rates.values()))[3]
        print(f"| {suite} | {problems} | {pass1:.1f} | {first:.1f} | {pass_n:.1f} | {pass_n - pass1:+.1f} | "
              f"{per_seed} | {'ID: none' if suite == args.id_suite else verdict(pass1, pass_n - pass1)} |")


if __name__ == "__main__":
    main()
