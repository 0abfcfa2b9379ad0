"""The report's secondary tables: aggregations, sample counts, first-error F1, rounds, error
types, provenance and stage timings. Values are means over seeds unless a note says otherwise."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from aprm.eval.aggregate import AGGREGATIONS
from aprm.report.data import at_n_max, index_runs, pct, selection_methods, selection_suites
from aprm.report.table import Table

ROUND_METRIC_TITLES = {
    "fool_rate": "Fool rate (APRM)",
    "valid_rate": "Valid corruption rate (APRM)",
    "prm_acc_fresh_before": "R accuracy on G's fresh negatives, before update",
    "static_acc": "R accuracy on the static perturbation set",
    "static_auroc": "R AUROC, reference vs wrong step, static set",
    "kept_rate": "Kept rate (Adv-RM, z > threshold)",
    "kept_oracle_wrong_rate": "Kept samples the oracle calls wrong (Adv-RM)",
    "kl_g_ref": "KL(G || G_ref)",
    "best_of_16_id_val": "Best-of-16 on ID val",
    "step_auroc_solver_errors": "R step AUROC on the solver's errors, ID val",
}


def _mean_pct(values: list[float | None]) -> str:
    present = [v for v in values if v is not None]
    return pct(float(np.mean(present))) if present else "n/a"


def aggregation_table(results: Mapping) -> Table:
    """Best-of-N and weighted best-of-N at n = N for every aggregation present."""
    index = index_runs(results)
    aggs = [a for a in AGGREGATIONS if any(a in r["best_of_n"] for r in results["runs"])]
    header = (["Method", "Suite"] + [f"best-of-N {a}" for a in aggs]
              + [f"weighted {a}" for a in aggs])
    rows = []
    for suite in selection_suites(results):
        for method in selection_methods(results):
            runs = list(index.get((method, suite), {}).values())
            if not runs:
                continue
            cells = [_mean_pct([at_n_max(lambda r, a=a: r[kind].get(a))(r) for r in runs])
                     for kind in ("best_of_n", "weighted") for a in aggs]
            rows.append([method, suite] + cells)
    notes = ["Accuracy (%) at n = N, mean over seeds. Weighted: the final answer with the largest "
             "sum of solution scores wins."]
    return Table("Best-of-N by aggregation", header, rows, notes)


def counts_table(results: Mapping) -> Table:
    rows = []
    totals: dict[tuple[str, str], list[int]] = {}
    for run in results["runs"]:
        if run["n_max"] == 0:
            continue
        c = run["counts"]
        acc = totals.setdefault((run["method"], run["suite"]), [0, 0, 0, 0])
        for i, key in enumerate(("samples", "invalid", "truncated", "unscored")):
            acc[i] += c[key]
    for suite in selection_suites(results):
        for method in selection_methods(results):
            if (method, suite) in totals:
                rows.append([method, suite] + [str(v) for v in totals[(method, suite)]])
    notes = ["Summed over seeds. Invalid and unscored samples (no usable step scores) are never "
             "picked by a PRM."]
    header = ["Method", "Suite", "Samples", "Invalid", "Truncated", "Unscored"]
    return Table("Sample counts", header, rows, notes)


def first_error_table(results: Mapping) -> Table | None:
    """ProcessBench-style F1 per method x suite; None when no run has first-error metrics."""
    runs = [r for r in results["runs"] if r["first_error"] is not None]
    if not runs:
        return None
    suites = [s for s in results["suites"] if any(r["suite"] == s for r in runs)]
    methods = [m for m in results["methods"] if any(r["method"] == m for r in runs)]
    rows = []
    for method in methods:
        row = [method]
        for suite in suites:
            fes = [r["first_error"] for r in runs if r["method"] == method and r["suite"] == suite]
            if not fes:
                row.append("n/a")
                continue
            parts = {k: _mean_pct([fe[k] for fe in fes]) for k in ("f1", "acc_err", "acc_cor")}
            row.append(f"{parts['f1']} (err {parts['acc_err']} / cor {parts['acc_cor']}, "
                       f"n={fes[0]['n']})")
        rows.append(row)
    notes = ["F1 = harmonic mean of accuracy on erroneous solutions (exact first-error step) and "
             "on correct ones (%); n/a where a subset is empty. Mean over seeds."]
    return Table("First-error prediction (ProcessBench F1)", ["Method"] + suites, rows, notes)


def processbench_table(results: Mapping) -> Table | None:
    """F1 on each ProcessBench split: this run's methods (mean over seeds), the references it
    computed (the symbolic oracle) and the published PRMs; None when no such suite was run."""
    from aprm.data.processbench import SUITE_PREFIX, is_processbench_suite
    from aprm.report.published import PROCESSBENCH_F1

    suites = [s for s in results["suites"] if is_processbench_suite(s)]
    if not suites:
        return None
    splits = [s[len(SUITE_PREFIX):] for s in suites]
    rows = []
    for method in results["methods"]:
        fes = {s: [r["first_error"] for r in results["runs"]
                   if r["method"] == method and r["suite"] == s and r["first_error"]] for s in suites}
        if any(fes.values()):
            rows.append([method] + [_mean_pct([fe["f1"] for fe in fes[s]]) if fes[s] else "n/a" for s in suites])
    for ref in {r["name"] for r in results.get("references", [])}:
        by_suite = {r["suite"]: r["first_error"]["f1"] for r in results["references"] if r["name"] == ref}
        rows.append([f"{ref} (this run)"] + [_mean_pct([by_suite[s]]) if s in by_suite else "n/a" for s in suites])
    for name, f1 in PROCESSBENCH_F1.items():
        rows.append([f"{name} (published)"] + [f"{f1[split]:.1f}" if split in f1 else "n/a" for split in splits])
    notes = ["ProcessBench F1 (%): harmonic mean of the accuracy of the predicted first wrong step on "
             "erroneous solutions and of predicting none on correct ones. Rows marked published are "
             "the ProcessBench paper's figures for 7-8B PRMs (Zheng et al. 2024), not measured here. "
             "The oracle row is this project's symbolic checker, given no reference solution."]
    return Table("ProcessBench", ["Scorer"] + splits, rows, notes)


def crossplay_means(results: Mapping) -> tuple[list[str], list[str], dict[tuple[str, str], tuple[float, float]]]:
    """(attackers, defenders, {(attacker, defender): (mean fool rate, mean n_valid)}) over seeds."""
    cells = results.get("crossplay") or []
    attackers = list(dict.fromkeys(c["attacker"] for c in cells))
    defenders = [m for m in results["methods"] if any(c["defender"] == m for c in cells)]
    means = {}
    for attacker in attackers:
        for defender in defenders:
            mine = [c for c in cells if c["attacker"] == attacker and c["defender"] == defender]
            if mine:
                means[(attacker, defender)] = (float(np.mean([c["fool_rate"] for c in mine])),
                                               float(np.mean([c["n_valid"] for c in mine])))
    return attackers, defenders, means


def crossplay_table(results: Mapping, min_valid: int) -> Table | None:
    """Fool rate (%) of each attacker's valid corruptions against each final PRM; None without cells."""
    attackers, defenders, means = crossplay_means(results)
    if not attackers:
        return None
    rows = []
    for attacker in attackers:
        row = [attacker]
        for defender in defenders:
            rate, n_valid = means[(attacker, defender)]
            row.append(f"{pct(rate)} (n={n_valid:.0f}{', too few' if n_valid < min_valid else ''})")
        rows.append(row)
    notes = ["Share (%) of an attacker's valid corruptions (oracle-verified wrong steps) that the PRM scores "
             "P(correct) >= threshold in context; n = valid corruptions (mean over seeds); fewer than "
             f"{min_valid} are marked too few. Attackers: rules = the oracle's rule perturbations, solver = the "
             "solver's own next step (its natural errors), G0 = the "
             "generator's warm start, <game>-G<k> = a game's generator after round k, held-out-aprm-G<K> = another "
             "seed's last APRM generator (trained against a PRM this seed never saw)."]
    return Table("Cross-play: fool rate of valid corruptions", ["Attacker"] + defenders, rows, notes)


def round_metric_names(results: Mapping) -> list[str]:
    names = {k for r in results["rounds"] for k in r["metrics"]}
    known = [k for k in ROUND_METRIC_TITLES if k in names]
    return known + sorted(names - set(known))


def rounds_table(results: Mapping) -> Table | None:
    """Metrics of each method's last round, mean over seeds."""
    if not results["rounds"]:
        return None
    names = round_metric_names(results)
    rows = []
    for method in sorted({r["method"] for r in results["rounds"]}):
        mine = [r for r in results["rounds"] if r["method"] == method]
        last = max(r["round"] for r in mine)
        final = [r for r in mine if r["round"] == last]
        cells = [_mean_number([r["metrics"].get(n) for r in final]) for n in names]
        rows.append([method, str(last)] + cells)
    header = ["Method", "Last round"] + [ROUND_METRIC_TITLES.get(n, n) for n in names]
    return Table("Adversarial rounds (last round)", header, rows, ["Mean over seeds."])


def _mean_number(values: list[float | None]) -> str:
    present = [v for v in values if v is not None]
    return f"{float(np.mean(present)):.4g}" if present else "n/a"


def error_type_counts(results: Mapping) -> dict[str, dict[str, int]]:
    """method -> error type -> count, summed over rounds and seeds."""
    out: dict[str, dict[str, int]] = {}
    for entry in results["rounds"]:
        for kind, count in entry.get("error_types", {}).items():
            per = out.setdefault(entry["method"], {})
            per[kind] = per.get(kind, 0) + count
    return out


def error_types_table(results: Mapping) -> Table | None:
    counts = error_type_counts(results)
    if not counts:
        return None
    kinds = sorted({k for per in counts.values() for k in per})
    rows = [[m] + [str(counts[m].get(k, 0)) for k in kinds] for m in sorted(counts)]
    return Table("Error types of generated negatives", ["Method"] + kinds, rows,
                 ["Counts summed over rounds and seeds."])


def provenance_table(results: Mapping) -> Table:
    exp = results["experiment"]
    rows = [["Experiment", exp["name"]], ["Config hash", exp["config_hash"]],
            ["Git SHA", exp["git_sha"]], ["Seeds", ", ".join(str(s) for s in exp["seeds"])],
            ["Schema version", str(results["schema_version"])]]
    return Table("Provenance", ["Field", "Value"], rows)


def stages_table(results: Mapping) -> Table:
    """Wall time per stage; the Cached column only when the producer recorded it (the pipeline
    records compute time as first measured, so a cached re-run reproduces the same report)."""
    with_cached = any("cached" in s for s in results["stages"])
    rows = [[s["name"], f"{s['wall_s']:.2f}"] + (["yes" if s.get("cached") else "no"] if with_cached else [])
            for s in results["stages"]]
    total = sum(s["wall_s"] for s in results["stages"])
    rows.append(["total", f"{total:.2f}"] + ([""] if with_cached else []))
    return Table("Stages", ["Stage", "Compute time (s)"] + (["Cached"] if with_cached else []), rows)


def rl_table(results: Mapping) -> Table | None:
    """Per reward: the RL'd solver's pass@1 and majority@N on each test suite, the change against
    the SFT solver (mean over seeds; the paired CI over problems with one seed), and where its
    reward was hacked; None without RL runs."""
    runs = results.get("rl") or []
    if not runs:
        return None
    rewards = list(dict.fromkeys(r["reward"] for r in runs))
    suites = [s for s in results["suites"] if any(s in r["suites"] for r in runs)]
    rows = []
    for reward in rewards:
        mine = [r for r in runs if r["reward"] == reward]
        row = [reward]
        for suite in suites:
            cells = [r["suites"][suite] for r in mine]
            row.append(_rl_cell(cells, "pass1"))
        row.append(_rl_cell([r["suites"][suites[0]] for r in mine], "majority"))
        hacked = [r["hacking_step"] for r in mine]
        row.append(", ".join("never" if h is None else str(h) for h in hacked))
        final = [r["curve"][-1] for r in mine if r["curve"]]
        row.append(f"{pct(float(np.mean([c['prm_judged'] for c in final])))} / "
                   f"{pct(float(np.mean([c['oracle_accuracy'] for c in final])))}" if final else "-")
        rows.append(row)
    sft = [_rl_sft(runs, suite, "pass1") for suite in suites]
    rows.append(["SFT solver", *sft, _rl_sft(runs, suites[0], "majority"), "-", "-"])
    notes = ["pass@1 (%) of the solver after GRPO on each reward, its change against the SFT solver in points "
             "(one seed: the paired bootstrap CI over problems; several: mean over seeds). Hacked at step: the first "
             "curve step where the PRM's judgment of the policy's ID-val samples exceeds the oracle's accuracy by more "
             "than at step 0 plus rl.hacking_margin (one entry per seed). Judged / true: the PRM's mean aggregated "
             "score and the oracle's accuracy of those samples at the last step. oracle_outcome and oracle_step are "
             "references: the oracle's final-answer check and its step labels as the reward."]
    header = ["Reward", *[f"pass@1 {s}" for s in suites], f"majority {suites[0]}", "hacked at step",
              "judged / true at end"]
    return Table("RL on each reward", header, rows, notes)


def _rl_cell(cells: Sequence[Mapping], name: str) -> str:
    value = float(np.mean([c[name] for c in cells]))
    diff = float(np.mean([c[f"{name}_diff"] for c in cells]))
    text = f"{pct(value)} ({100 * diff:+.1f}"
    low, high = cells[0][f"{name}_ci"] if len(cells) == 1 else (None, None)
    if low is not None and high is not None:
        text += f" [{100 * low:+.1f}, {100 * high:+.1f}]"
    return text + ")"


def _rl_sft(runs: Sequence[Mapping], suite: str, name: str) -> str:
    return pct(float(np.mean([r["suites"][suite][f"{name}_sft"] for r in runs if suite in r["suites"]])))
