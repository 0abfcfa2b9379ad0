"""Headline table: best-of-N accuracy per method x suite, with the gain over the best baseline."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np

from aprm.eval.aggregate import check_aggregation
from aprm.eval.results import validate_results
from aprm.group_configs import CrossplayConfig, EvalConfig, ReportConfig
from aprm.report.data import (
    at_n_max, format_difference, format_summary, index_runs, n_label, reference_runs,
    selection_methods, selection_suites,
)
from aprm.report.stats import PairedDifference, paired_difference, seed_summary
from aprm.report.table import Table, to_markdown


@dataclass(frozen=True)
class HeadlineOptions:
    agg: str = EvalConfig.headline_aggregation  # solution-score aggregation of the headline best-of-N
    # per-method exceptions, e.g. (("orm", "last"),): an ORM's label is the outcome, so its verdict
    # on a solution is its last step's score, not the weakest step's
    method_aggs: tuple[tuple[str, str], ...] = ()
    id_suite: str = ReportConfig.id_suite  # the suite the best baseline is chosen on
    target_methods: tuple[str, ...] = ("aprm",)  # methods that are not baselines
    confidence: float = 0.95
    n_resamples: int = ReportConfig.n_resamples  # eval.report.n_resamples
    bootstrap_seed: int = 0
    crossplay_min_valid: int = CrossplayConfig.min_valid  # eval.crossplay.min_valid: fewer valid corruptions = "too few"

    def __post_init__(self) -> None:
        check_aggregation(self.agg)
        for _, agg in self.method_aggs:
            check_aggregation(agg)
        if not 0.0 < self.confidence < 1.0:
            raise ValueError(f"confidence must be in (0, 1), got {self.confidence}")
        if self.n_resamples < 1:
            raise ValueError(f"n_resamples must be >= 1, got {self.n_resamples}")


    def agg_for(self, method: str) -> str:
        return dict(self.method_aggs).get(method, self.agg)

    def title(self) -> str:
        exceptions = "".join(f"; {m}: {a}" for m, a in self.method_aggs)
        return f"{self.agg}{exceptions}"


def best_of_n_value(run: Mapping, agg: str) -> float | None:
    return at_n_max(lambda r: r["best_of_n"].get(agg))(run)


def choose_baseline(results: Mapping, opts: HeadlineOptions) -> tuple[str | None, str | None]:
    """(best non-target method by mean best-of-N on the ID suite, suite it was chosen on).

    Falls back to the first suite with samples when the ID suite has none; ties go to the
    method listed first."""
    suites = selection_suites(results)
    if not suites:
        return None, None
    suite = opts.id_suite if opts.id_suite in suites else suites[0]
    index = index_runs(results)
    best, best_mean = None, -1.0
    for method in selection_methods(results):
        if method in opts.target_methods:
            continue
        values = [v for run in index.get((method, suite), {}).values()
                  if (v := best_of_n_value(run, opts.agg_for(method))) is not None]
        if values and float(np.mean(values)) > best_mean:
            best, best_mean = method, float(np.mean(values))
    return best, suite


def paired_gain(method_runs: Mapping[int, Mapping], base_runs: Mapping[int, Mapping],
                opts: HeadlineOptions, method_agg: str | None = None,
                base_agg: str | None = None) -> PairedDifference | None:
    """Paired bootstrap over problems of best-of-N(method) - best-of-N(baseline), each with its
    own aggregation (default: the headline one).

    With several seeds each problem's outcome is first averaged over the seeds where both
    methods have it, so problems (not seed x problem pairs) are the resampled unit."""
    return paired_per_problem(method_runs, base_runs, f"best_of_N_{method_agg or opts.agg}",
                              f"best_of_N_{base_agg or opts.agg}", opts)


def paired_per_problem(method_runs: Mapping[int, Mapping], base_runs: Mapping[int, Mapping], key: str,
                       base_key: str, opts: HeadlineOptions) -> PairedDifference | None:
    """Paired bootstrap over problems of per_problem[key] (method runs) - per_problem[base_key]
    (base runs), each problem's outcome averaged over the seeds that both have."""
    a, b = _paired_outcomes(method_runs, base_runs, key, base_key)
    return _bootstrap(a, b, opts) if a else None


def paired_suite_mean(pairs: Sequence[tuple[Sequence[float], Sequence[float]]],
                      opts: HeadlineOptions) -> PairedDifference | None:
    """Paired bootstrap of the mean over suites of each suite's mean difference, from each suite's
    (method, baseline) outcomes per problem: the problems are pooled and resampled together, each
    weighted so that every suite counts alike whatever its size. None when a suite has no pair:
    a mean over fewer suites would pass for the mean over all."""
    if not pairs or not all(a for a, _ in pairs):
        return None
    total = sum(len(a) for a, _ in pairs)
    weighted_a, weighted_b = [], []
    for a, b in pairs:
        weight = total / (len(pairs) * len(a))
        weighted_a += [weight * x for x in a]
        weighted_b += [weight * x for x in b]
    return _bootstrap(weighted_a, weighted_b, opts)


def _paired_outcomes(method_runs: Mapping[int, Mapping], base_runs: Mapping[int, Mapping], key: str,
                     base_key: str) -> tuple[list[float], list[float]]:
    """Per problem (sorted by id) the mean of per_problem[key] over the seeds that both runs have,
    and the same for the base's per_problem[base_key]."""
    sums: dict[str, list[float]] = {}
    for seed in sorted(set(method_runs) & set(base_runs)):
        mine, base = method_runs[seed]["per_problem"], base_runs[seed]["per_problem"]
        if key not in mine or base_key not in base:
            continue
        base_by_id = dict(zip(base["problem_ids"], base[base_key]))
        for pid, outcome in zip(mine["problem_ids"], mine[key]):
            if pid in base_by_id:
                acc = sums.setdefault(pid, [0.0, 0.0, 0])
                acc[0] += outcome
                acc[1] += base_by_id[pid]
                acc[2] += 1
    ids = sorted(sums)
    return [sums[p][0] / sums[p][2] for p in ids], [sums[p][1] / sums[p][2] for p in ids]


def _bootstrap(a: Sequence[float], b: Sequence[float], opts: HeadlineOptions) -> PairedDifference:
    return paired_difference(a, b, confidence=opts.confidence, n_resamples=opts.n_resamples,
                             seed=opts.bootstrap_seed)


def _summary_cell(values: Sequence[float | None], opts: HeadlineOptions) -> str:
    present = [v for v in values if v is not None]
    return format_summary(seed_summary(present, opts.confidence)) if present else "n/a"


def headline_table(results: Mapping, opts: HeadlineOptions | None = None) -> Table:
    opts = opts or HeadlineOptions()
    validate_results(results)
    suites = selection_suites(results)
    index = index_runs(results)
    baseline, chosen_on = choose_baseline(results, opts)
    refs = {suite: reference_runs(results, suite) for suite in suites}
    ood = ood_suites(suites, chosen_on)
    header = ["Method"] + [f"{suite} ({n_label(refs[suite])})" for suite in suites] \
        + (["OOD mean"] if ood else [])
    rows = []
    for method in selection_methods(results):
        row = [method + (" (best baseline)" if method == baseline else "")]
        agg = opts.agg_for(method)
        for suite in suites:
            runs = index.get((method, suite), {})
            cell = _summary_cell([best_of_n_value(r, agg) for r in runs.values()], opts)
            if baseline and method != baseline and runs:
                gain = paired_gain(runs, index.get((baseline, suite), {}), opts,
                                   agg, opts.agg_for(baseline))
                cell += f"; {format_difference(gain)}" if gain else ""
            row.append(cell)
        if ood:
            gain = _ood_gain(index, method, baseline, ood, opts) if baseline and method != baseline else None
            row.append(_ood_mean_cell(index, method, ood, opts) + (f"; {format_difference(gain)}" if gain else ""))
        rows.append(row)
    reference = [
        ("pass@1 (first sample)", lambda r: r["pass_at"].get("1")),
        ("majority@N", at_n_max(lambda r: r["majority"])),
        ("pass@N (oracle ceiling, upper bound)", at_n_max(lambda r: r["pass_at"])),
    ]
    for label, value in reference if suites else ():
        rows.append([label] + [_summary_cell([value(r) for r in refs[s].values()], opts)
                               for s in suites]
                    + ([_summary_cell(_suite_means({s: refs[s] for s in ood}, value), opts)] if ood else []))
    notes = _notes(opts, baseline, chosen_on, bool(suites))
    if ood:
        notes.append(f"OOD mean: the mean over {', '.join(ood)} of each suite's accuracy, per seed; "
                     "its Δ resamples their problems pooled, each weighted so every suite counts alike.")
    return Table(f"Best-of-N accuracy ({opts.title()})", header, rows, notes)


def ood_suites(suites: Sequence[str], id_suite: str | None) -> list[str]:
    """The suites besides the ID one, when there are two or more of them: then their mean is a
    column of its own (the paper's out-of-distribution figure)."""
    ood = [s for s in suites if s != id_suite]
    return ood if len(ood) > 1 else []


def _ood_gain(index: Mapping, method: str, baseline: str, ood: Sequence[str],
              opts: HeadlineOptions) -> PairedDifference | None:
    """`method` minus `baseline` on the mean of the `ood` suites' best-of-N, paired over problems."""
    keys = f"best_of_N_{opts.agg_for(method)}", f"best_of_N_{opts.agg_for(baseline)}"
    return paired_suite_mean([_paired_outcomes(index.get((method, s), {}), index.get((baseline, s), {}),
                                               *keys) for s in ood], opts)


def _ood_mean_cell(index: Mapping, method: str, ood: Sequence[str], opts: HeadlineOptions) -> str:
    """`method`'s best-of-N averaged over the `ood` suites, per seed, summarised over seeds."""
    return _summary_cell(_suite_means({s: index.get((method, s), {}) for s in ood},
                                      lambda r: best_of_n_value(r, opts.agg_for(method))), opts)


def _suite_means(runs_by_suite: Mapping[str, Mapping[int, Mapping]],
                 value: Callable[[Mapping], float | None]) -> list[float]:
    """Per seed that every suite has with a value: the mean of the suites' values."""
    seeds = set.intersection(*(set(runs) for runs in runs_by_suite.values()))
    means = []
    for seed in sorted(seeds):
        values = [value(runs[seed]) for runs in runs_by_suite.values()]
        if all(v is not None for v in values):
            means.append(sum(values) / len(values))
    return means


def majority_table(results: Mapping, opts: HeadlineOptions | None = None) -> Table:
    """Per method and suite: its best-of-N minus majority@N on the same samples, with the paired
    bootstrap CI over problems. A verifier that does not beat majority voting adds nothing a
    reranker needs a PRM for (issue "The verifier verifies": the static PRM, +3 on `id`)."""
    opts = opts or HeadlineOptions()
    validate_results(results)
    suites = selection_suites(results)
    index = index_runs(results)
    refs = {suite: reference_runs(results, suite) for suite in suites}
    header = ["Method"] + [f"{suite} ({n_label(refs[suite])})" for suite in suites]
    rows = []
    for method in selection_methods(results):
        row = [method]
        for suite in suites:
            runs = index.get((method, suite), {})
            gain = paired_per_problem(runs, runs, f"best_of_N_{opts.agg_for(method)}", "majority_N", opts) \
                if runs else None
            row.append(format_difference(gain).removeprefix("Δ ") if gain else "n/a")
        rows.append(row)
    notes = [f"Best-of-N ({opts.title()}) minus majority@N on the same samples, in points, with a "
             f"{opts.confidence:.0%} paired bootstrap CI over problems (each problem averaged over seeds)."]
    return Table("Best-of-N against majority voting", header, rows, notes)


def summary_table(results: Mapping, method: str, opts: HeadlineOptions | None = None) -> Table:
    """The console's closing table: per suite, `method` against the best baseline (Δ with its
    paired CI), beside majority@N and pass@1 on the same samples."""
    opts = opts or HeadlineOptions()
    validate_results(results)
    index = index_runs(results)
    baseline, chosen_on = choose_baseline(results, opts)
    header = ["Suite", method, f"{baseline} (best baseline)" if baseline else "best baseline",
              "Δ [CI]", "majority@N", "pass@1"]
    rows = []
    suites = selection_suites(results)
    for suite in suites:
        mine = index.get((method, suite), {})
        base = index.get((baseline, suite), {}) if baseline else {}
        refs = reference_runs(results, suite)
        gain = paired_gain(mine, base, opts, opts.agg_for(method), opts.agg_for(baseline)) \
            if mine and base and baseline != method else None
        rows.append([
            f"{suite} ({n_label(refs)})",
            _summary_cell([best_of_n_value(r, opts.agg_for(method)) for r in mine.values()], opts),
            _summary_cell([best_of_n_value(r, opts.agg_for(baseline)) for r in base.values()], opts)
            if baseline else "n/a",
            format_difference(gain).removeprefix("Δ ") if gain else "n/a",
            _summary_cell([at_n_max(lambda r: r["majority"])(r) for r in refs.values()], opts),
            _summary_cell([r["pass_at"].get("1") for r in refs.values()], opts),
        ])
    if ood := ood_suites(suites, chosen_on):
        refs = {s: reference_runs(results, s) for s in ood}
        gain = _ood_gain(index, method, baseline, ood, opts) if baseline and baseline != method else None
        rows.append([
            "OOD mean",
            _ood_mean_cell(index, method, ood, opts),
            _ood_mean_cell(index, baseline, ood, opts) if baseline else "n/a",
            format_difference(gain).removeprefix("Δ ") if gain else "n/a",
            _summary_cell(_suite_means(refs, at_n_max(lambda r: r["majority"])), opts),
            _summary_cell(_suite_means(refs, lambda r: r["pass_at"].get("1")), opts),
        ])
    notes = [f"Best-of-N accuracy (%), aggregation {opts.title()}; baseline chosen on suite "
             f"'{chosen_on}'; Δ with its paired bootstrap CI over problems." if baseline
             else "No baseline with results: Δ not shown."]
    return Table(f"{method} vs the best baseline", header, rows, notes)


def _notes(opts: HeadlineOptions, baseline: str | None, chosen_on: str | None,
           have_suites: bool) -> list[str]:
    if not have_suites:
        return ["No suite has sampled solutions (n_max > 0): nothing to select from."]
    level = f"{100 * opts.confidence:g}%"
    exceptions = "".join(f", '{a}' for {m}" for m, a in opts.method_aggs)
    notes = [f"Best-of-N accuracy (%) with '{opts.agg}' aggregation of step scores{exceptions}; "
             f"mean over seeds ± half-width of the {level} t-interval (n = number of seeds)."]
    if baseline is None:
        notes.append("Δ: not shown, no non-target method has results to compare against.")
    else:
        fallback = ("" if chosen_on == opts.id_suite
                    else f" (suite '{opts.id_suite}' has no samples)")
        notes.append(f"Δ: gain over the best baseline ({baseline}, chosen on suite "
                     f"'{chosen_on}'{fallback}) in points, with a {level} paired bootstrap CI "
                     f"over problems (scipy.stats.bootstrap, {opts.n_resamples} resamples, "
                     f"seed {opts.bootstrap_seed}).")
    notes.append("pass@N is the oracle ceiling (a correct sample exists among N): an upper "
                 "bound, not a method.")
    return notes


def markdown_table(results: Mapping, opts: HeadlineOptions | None = None) -> str:
    """The headline table alone, as Markdown (e.g. for the README)."""
    return to_markdown(headline_table(results, opts))
