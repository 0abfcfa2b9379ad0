"""Stage: assemble results.json from every (seed, method, suite) run, then write the reports."""

from __future__ import annotations

from pathlib import Path

from aprm.eval.results import build_results, write_results
from aprm.report import HeadlineOptions, write_report


def report_stage(inputs: dict, report_cfg: dict, out_dir: Path) -> dict:
    results = build_results(
        name=inputs["name"], config_hash=inputs["config_hash"], git_sha=inputs["git_sha"],
        seeds=inputs["seeds"], runs=inputs["runs"], rounds=inputs.get("rounds", ()),
        stages=inputs.get("stages", ()), methods=inputs["methods"], suites=inputs["suites"],
        references=inputs.get("references", ()), crossplay=inputs.get("crossplay", ()), rl=inputs.get("rl", ()),
    )
    write_results(out_dir / "results.json", results)
    options = HeadlineOptions(agg=report_cfg["headline_aggregation"], id_suite=report_cfg["id_suite"],
                              target_methods=tuple(report_cfg["target_methods"]),
                              n_resamples=int(report_cfg["n_resamples"]),
                              method_aggs=tuple(sorted((report_cfg.get("method_aggregation") or {}).items())),
                              crossplay_min_valid=int(report_cfg["crossplay_min_valid"]))
    paths = write_report(results, out_dir, options)
    return {"results": str(out_dir / "results.json"), **{k: str(v) for k, v in paths.items()}}
