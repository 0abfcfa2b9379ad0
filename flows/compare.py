"""`aprm compare`: a method x suite table of one evaluation metric, read from the MLflow store.

The evaluation stage logs one child run per (method, suite, seed) with tags `stage=evaluate`,
`method`, `suite`, `seed`, `config_hash` and metrics such as `best_of_16_min`, `majority_16`,
`pass_at_16`. Each cell is the mean over seeds ± the half-width of its 95% Student-t interval
and the number of seeds, the statistic report.md uses (`aprm.report.stats.seed_summary`). When a (method, suite, seed) was evaluated more than once (a re-run with
another config), the latest run counts and the others are reported as superseded; narrow the
selection with --config-hash or --filter.

    aprm compare                                  # headline best_of_N_min, ./mlruns/mlflow.db
    aprm compare --metric majority_N --format markdown
    aprm compare --uri sqlite:////abs/mlruns/mlflow.db --filter "tags.method = 'aprm'"
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from aprm.group_configs import REAL_SUITES, SYNTHETIC_SUITES
from aprm.methods import method_names

DEFAULT_METRIC = "best_of_N_min"  # the headline: best-of-N (all samples), min-step aggregation
EVAL_FILTER = "tags.stage = 'evaluate' and attributes.status = 'FINISHED'"
MAX_RUNS = 100_000  # bound on how many runs one call reads (pages of 1000)
_N_PLACEHOLDER = re.compile(r"(?<![A-Za-z0-9])N(?![A-Za-z0-9])")
_METRIC_NAME = re.compile(r"^[A-Za-z0-9_.\-/]+$")
_HEX = re.compile(r"^[0-9a-f]{4,64}$")


class CompareError(RuntimeError):
    """Nothing to compare, or the store cannot be read; the message says what to do."""


@dataclass(frozen=True)
class EvalRecord:
    run_id: str
    method: str
    suite: str
    seed: int
    start_time: int
    config_hash: str
    metrics: dict[str, float]


@dataclass(frozen=True)
class Cell:
    mean: float
    half_width: float | None  # of the t-interval of the mean; None with a single seed
    n: int
    seeds: tuple[int, ...]


@dataclass
class Comparison:
    metric: str  # as asked, possibly with the N placeholder
    confidence: float
    resolved: tuple[str, ...]  # concrete metric names used
    methods: list[str]
    suites: list[str]
    cells: dict[tuple[str, str], Cell]
    superseded: int = 0  # older duplicates of a (method, suite, seed) that were ignored
    untagged: int = 0  # evaluate runs missing a method/suite/seed tag
    missing_metric: int = 0  # runs that lack the metric
    config_hashes: tuple[str, ...] = field(default_factory=tuple)


def default_uri(home: Path | None = None) -> str:
    """The store the pipeline writes by default: sqlite:///<home>/mlruns/mlflow.db."""
    return f"sqlite:///{((home or Path.cwd()) / 'mlruns' / 'mlflow.db').resolve()}"


def _canonical_order(names: Iterable[str], known: Sequence[str]) -> list[str]:
    names = set(names)
    return [n for n in known if n in names] + sorted(names - set(known))


def resolve_metric(pattern: str, available: Iterable[str]) -> str | None:
    """`pattern` itself, or with the standalone `N` replaced by the largest n present."""
    available = set(available)
    if not _N_PLACEHOLDER.search(pattern):
        return pattern if pattern in available else None
    regex = re.compile("^" + _N_PLACEHOLDER.sub(r"(\\d+)", re.escape(pattern)) + "$")
    best: tuple[int, str] | None = None
    for name in available:
        match = regex.match(name)
        if match and len(set(match.groups())) == 1:
            n = int(match.group(1))
            if best is None or n > best[0]:
                best = (n, name)
    return best[1] if best else None


def _check_store(uri: str) -> None:
    if uri.startswith("sqlite:///"):
        path = Path(uri[len("sqlite:///"):])
        if not path.is_file():
            raise CompareError(f"no MLflow store at {path}: run the pipeline first (it writes "
                               "<home>/mlruns/mlflow.db) or pass --uri")


def fetch_eval_runs(uri: str, experiment: str, extra_filter: str | None = None,
                    config_hash: str | None = None) -> tuple[list[EvalRecord], int]:
    """(FINISHED evaluate runs with method/suite/seed tags, count of runs lacking those tags)."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    _check_store(uri)
    query = EVAL_FILTER
    if config_hash:
        if not _HEX.match(config_hash):
            raise CompareError(f"--config-hash must be lowercase hex, got {config_hash!r}")
        query += f" and tags.config_hash = '{config_hash}'"
    if extra_filter:
        query += f" and {extra_filter}"
    try:
        client = MlflowClient(tracking_uri=uri)
        exp = client.get_experiment_by_name(experiment)
        if exp is None:
            names = sorted(e.name for e in client.search_experiments())
            raise CompareError(f"experiment {experiment!r} not found at {uri}; "
                               f"experiments there: {names or 'none'}")
        runs, token = [], None
        while len(runs) < MAX_RUNS:
            page = client.search_runs([exp.experiment_id], filter_string=query,
                                      max_results=1000, page_token=token)
            runs.extend(page)
            token = page.token
            if not token:
                break
    except MlflowException as err:
        raise CompareError(f"cannot read MLflow store {uri}: {err.message}") from err
    except OSError as err:  # an unreachable tracking server (requests' errors are OSErrors)
        raise CompareError(f"cannot reach MLflow store {uri}: {err}") from err
    records, untagged = [], 0
    for run in runs:
        tags = run.data.tags
        seed = tags.get("seed", "")
        if not (tags.get("method") and tags.get("suite") and re.fullmatch(r"-?\d+", seed)):
            untagged += 1
            continue
        records.append(EvalRecord(run.info.run_id, tags["method"], tags["suite"], int(seed),
                                  int(run.info.start_time or 0), tags.get("config_hash", ""),
                                  dict(run.data.metrics)))
    return records, untagged


def latest_per_seed(records: Sequence[EvalRecord]) -> tuple[list[EvalRecord], int]:
    """Keep the latest run of each (method, suite, seed); return it and how many were dropped."""
    latest: dict[tuple[str, str, int], EvalRecord] = {}
    for rec in records:
        key = (rec.method, rec.suite, rec.seed)
        if key not in latest or (rec.start_time, rec.run_id) > (latest[key].start_time, latest[key].run_id):
            latest[key] = rec
    return list(latest.values()), len(records) - len(latest)


def build_comparison(records: Sequence[EvalRecord], metric: str, confidence: float = 0.95) -> Comparison:
    from aprm.report.stats import seed_summary

    kept, superseded = latest_per_seed(records)
    values: dict[tuple[str, str], list[tuple[int, float]]] = {}
    resolved, missing = set(), 0
    for rec in kept:
        name = resolve_metric(metric, rec.metrics)
        value = rec.metrics.get(name) if name else None
        if value is None or not math.isfinite(value):
            missing += 1
            continue
        resolved.add(name)
        values.setdefault((rec.method, rec.suite), []).append((rec.seed, value))
    if not values:
        available = sorted({m for rec in kept for m in rec.metrics})
        raise CompareError(f"metric {metric!r} is in none of the {len(kept)} evaluation runs; "
                           f"metrics logged: {available[:40]}")
    cells = {}
    for key, pairs in values.items():
        summary = seed_summary([v for _, v in sorted(pairs)], confidence)
        cells[key] = Cell(summary.mean, summary.half_width, summary.n, tuple(sorted(s for s, _ in pairs)))
    return Comparison(
        metric=metric, confidence=confidence, resolved=tuple(sorted(resolved)),
        methods=_canonical_order((m for m, _ in cells), method_names()),
        suites=_canonical_order((s for _, s in cells), SYNTHETIC_SUITES + REAL_SUITES),
        cells=cells, superseded=superseded, untagged=0, missing_metric=missing,
        config_hashes=tuple(sorted({r.config_hash for r in kept if r.config_hash})),
    )


def _cell_text(cell: Cell | None, digits: int) -> str:
    if cell is None:
        return "-"
    spread = f" ± {cell.half_width:.{digits}f}" if cell.half_width is not None else ""
    return f"{cell.mean:.{digits}f}{spread} (n={cell.n})"


def render(comp: Comparison, fmt: str = "text", digits: int = 3) -> str:
    header = ["method", *comp.suites]
    rows = [[m, *(_cell_text(comp.cells.get((m, s)), digits) for s in comp.suites)] for m in comp.methods]
    shown = comp.metric if comp.resolved == (comp.metric,) else f"{comp.metric} = {', '.join(comp.resolved)}"
    title = f"{shown}: mean ± {100 * comp.confidence:g}% t-interval half-width over seeds (n = seeds)"
    notes = []
    if comp.superseded:
        notes.append(f"{comp.superseded} older run(s) of the same (method, suite, seed) ignored "
                     "(latest kept; narrow with --config-hash or --filter)")
    if comp.missing_metric:
        notes.append(f"{comp.missing_metric} run(s) without this metric left out")
    if comp.untagged:
        notes.append(f"{comp.untagged} evaluate run(s) without method/suite/seed tags left out")
    if fmt == "markdown":
        lines = [f"**{title}**", "", "| " + " | ".join(header) + " |",
                 "|" + "---|" * len(header)] + ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines + [""] + [f"- {n}" for n in notes]).rstrip() + "\n"
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    fmt_row = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
    lines = [title, fmt_row(header), fmt_row(["-" * w for w in widths])] + [fmt_row(r) for r in rows]
    return "\n".join(lines + [f"note: {n}" for n in notes]) + "\n"


def compare(uri: str, experiment: str = "aprm", metric: str = DEFAULT_METRIC,
            extra_filter: str | None = None, config_hash: str | None = None,
            confidence: float = 0.95) -> Comparison:
    if not _METRIC_NAME.match(metric):
        raise CompareError(f"--metric {metric!r}: letters, digits and _ . - / only")
    records, untagged = fetch_eval_runs(uri, experiment, extra_filter, config_hash)
    if not records:
        scope = f" with config_hash {config_hash}" if config_hash else ""
        raise CompareError(f"no finished evaluation runs (tag stage=evaluate{scope}) in experiment "
                           f"{experiment!r} at {uri}" + (f"; {untagged} lack method/suite/seed tags"
                                                          if untagged else "")
                           + ": run the pipeline through its evaluation stage first")
    comp = build_comparison(records, metric, confidence)
    comp.untagged = untagged
    return comp


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="aprm compare", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--uri", default=None,
                        help="MLflow tracking URI (default: sqlite:///<cwd>/mlruns/mlflow.db)")
    parser.add_argument("--experiment", default="aprm", help="experiment name (default: %(default)s)")
    parser.add_argument("--metric", default=DEFAULT_METRIC,
                        help="metric; a standalone N means the largest n logged, e.g. best_of_N_min, "
                             "majority_N, pass_at_N, best_of_4_last (default: %(default)s)")
    parser.add_argument("--config-hash", default=None, help="only runs with this config_hash tag")
    parser.add_argument("--filter", default=None,
                        help="extra MLflow filter ANDed to the selection, e.g. \"tags.method = 'aprm'\"")
    parser.add_argument("--confidence", type=float, default=0.95,
                        help="level of the t-interval over seeds (default: %(default)s)")
    parser.add_argument("--format", choices=("text", "markdown"), default="text")
    parser.add_argument("--digits", type=int, default=3, choices=range(0, 7), metavar="0..6")
    args = parser.parse_args(argv)
    # A tracking server that is down should fail in seconds, not after minutes of retries.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    if not 0.0 < args.confidence < 1.0:
        parser.error(f"--confidence must be in (0, 1), got {args.confidence}")
    uri = args.uri or default_uri()
    try:
        comp = compare(uri, args.experiment, args.metric, args.filter, args.config_hash, args.confidence)
    except CompareError as err:
        print(f"aprm compare: {err}", file=sys.stderr)
        return 1
    sys.stdout.write(render(comp, args.format, args.digits))
    return 0


if __name__ == "__main__":
    sys.exit(main())
