"""Lookups into a validated results dict, shared by the tables and the plots."""

from __future__ import annotations

from typing import Callable, Mapping

from aprm.report.stats import PairedDifference, SeedSummary

RunIndex = dict[tuple[str, str], dict[int, Mapping]]


def index_runs(results: Mapping) -> RunIndex:
    """(method, suite) -> {seed: run}."""
    index: RunIndex = {}
    for run in results["runs"]:
        index.setdefault((run["method"], run["suite"]), {})[run["seed"]] = run
    return index


def selection_suites(results: Mapping) -> list[str]:
    """Suites with sampled solutions (n_max > 0), in the document's order."""
    have = {run["suite"] for run in results["runs"] if run["n_max"] > 0}
    return [s for s in results["suites"] if s in have]


def selection_methods(results: Mapping) -> list[str]:
    have = {run["method"] for run in results["runs"] if run["n_max"] > 0}
    return [m for m in results["methods"] if m in have]


def reference_runs(results: Mapping, suite: str) -> dict[int, Mapping]:
    """Per seed, the run of the first listed method on `suite`: majority, pass@n and random only
    depend on the shared solver samples, so any method's run carries them."""
    index = index_runs(results)
    out: dict[int, Mapping] = {}
    for method in selection_methods(results):
        for seed, run in sorted(index.get((method, suite), {}).items()):
            if run["n_max"] > 0:
                out.setdefault(seed, run)
    return out


def n_label(runs: Mapping[int, Mapping]) -> str:
    values = sorted({run["n_max"] for run in runs.values()})
    return "N=" + "/".join(str(v) for v in values)


def at_n_max(getter: Callable[[Mapping], Mapping | None]) -> Callable[[Mapping], float | None]:
    """Accuracy at n = N from a {n: acc} dict picked out of a run; None if absent."""
    def value(run: Mapping) -> float | None:
        accs = getter(run)
        return None if not accs else accs.get(str(run["n_max"]))
    return value


def curve(runs: list[Mapping],
          getter: Callable[[Mapping], Mapping | None]) -> tuple[list[int], list[float]]:
    """Mean over runs (seeds) of accuracy at each n every run has."""
    tables = [getter(run) or {} for run in runs]
    if not tables:
        return [], []
    common = set.intersection(*(set(t) for t in tables))
    ns = sorted(int(n) for n in common)
    return ns, [sum(t[str(n)] for t in tables) / len(tables) for n in ns]


def pct(value: float) -> str:
    return f"{100 * value:.1f}"


def format_summary(summary: SeedSummary) -> str:
    if summary.half_width is None:
        return f"{pct(summary.mean)} (n=1)"
    return f"{pct(summary.mean)} ± {pct(summary.half_width)} (n={summary.n})"


def format_difference(d: PairedDifference) -> str:
    if d.low is None or d.high is None:
        return f"Δ {100 * d.diff:+.1f}"
    return f"Δ {100 * d.diff:+.1f} [{100 * d.low:+.1f}, {100 * d.high:+.1f}]"
