"""Real text through every stage: experiment=gsm8k_tiny_ci (GSM8K train, tiny models, suites
gsm8k, svamp, math500 and two ProcessBench splits) under the real Prefect flow and MLflow store."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SUITES = ["gsm8k", "svamp", "math500", "processbench-gsm8k", "processbench-math"]


@pytest.fixture(scope="module")
def gsm8k_run(prefect_server, data_root, tmp_path_factory):
    from flows.pipeline import aprm_pipeline

    home = tmp_path_factory.mktemp("gsm8k-tiny")
    return home, aprm_pipeline(overrides=["experiment=gsm8k_tiny_ci", f"paths.home={home}"])


def test_every_method_is_evaluated_on_every_real_suite(gsm8k_run):
    from aprm.eval.results import load_results

    _, summary = gsm8k_run
    results = load_results(summary["results"])
    assert results["suites"] == SUITES
    assert results["methods"] == ["aprm", "static", "mc", "orm", "likelihood", "advrm"]
    assert {(r["method"], r["suite"]) for r in results["runs"]} == {(m, s) for m in results["methods"] for s in SUITES}
    for run in results["runs"]:
        if run["suite"].startswith("processbench-"):
            assert run["n_max"] == 0 and run["first_error"]["n"] > 0
        else:
            assert run["n_max"] == 2 and run["counts"]["samples"] == 16  # 8 problems x 2 samples
    assert [r["suite"] for r in results["references"]] == ["processbench-gsm8k", "processbench-math"]
    assert {(r["method"], r["round"]) for r in results["rounds"]} == {("aprm", 0), ("advrm", 0)}
    report = Path(summary["results"]).with_name("report.md").read_text()
    assert "### ProcessBench" in report and "| Skywork-PRM-7B (published) | 70.8 | n/a |" in report


def test_each_sampling_stage_counts_invalid_unknown_and_truncated_samples(gsm8k_run):
    from mlflow.tracking import MlflowClient

    home, summary = gsm8k_run
    client = MlflowClient(tracking_uri=f"sqlite:///{home / 'mlruns' / 'mlflow.db'}")
    children = client.search_runs(
        [summary.get("mlflow_experiment_id") or client.get_run(summary["mlflow_run_id"]).info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{summary['mlflow_run_id']}'")
    sampled = {run.info.run_name: run.data.metrics for run in children
               if run.info.run_name.startswith("sample-solutions[")}
    assert set(sampled) == {f"sample-solutions[{s},seed=0]" for s in ["pool", "val", "gsm8k", "svamp", "math500"]}
    for name, metrics in sampled.items():
        assert metrics["samples"] > 0, name
        assert 0 <= metrics["invalid"] + metrics["unknown"] <= metrics["samples"], name
        assert 0 <= metrics["truncated"] <= metrics["samples"], name
    labelled = {run.info.run_name: run.data.metrics for run in children
                if run.info.run_name.startswith("processbench[")}
    assert labelled["processbench[gsm8k]"]["solutions"] == 400 and 0 <= labelled["processbench[gsm8k]"]["oracle_f1"] <= 1
