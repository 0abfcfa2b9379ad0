"""The pipeline flow under a real Prefect server and a real (temporary) MLflow store."""

from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def two_runs(smoke_run):
    """The session's fresh smoke run, then a second run in the same home (all from cache)."""
    from flows.pipeline import aprm_pipeline
    from pipeline_helpers import SMOKE

    home, first = smoke_run
    second = aprm_pipeline(overrides=[*SMOKE, f"paths.home={home}"])
    return home, first, second


def test_second_run_takes_every_stage_from_cache(two_runs):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    _, first, second = two_runs
    names = [s["name"] for s in first["stages"]]
    assert names[:2] == ["prepare-data[seed=0]", "oracle-label[seed=0]"]
    # The static PRM is R_0 of both games and the static baseline itself (same inputs, so the
    # same cache key): one stage, listed once, where it first ran; Adv-RM's member 1 is its own.
    assert len(names) == len(set(names))
    assert "train-prm[static,seed=0]" in names and "train-prm[static,seed=0,member=1]" in names
    assert not any(s["cached"] for s in first["stages"])
    assert [s["cached"] for s in second["stages"]] == [True] * len(names)
    assert first["stages"][0]["metrics"] == second["stages"][0]["metrics"]

    # Count task-body executions as Prefect recorded them: the second flow run ran none (the
    # static PRM, the baseline and both games' R_0, is started once: aprm.pipeline.chains).
    # (task run states reach the server through events, a moment after the flow returns)
    deadline = time.monotonic() + 60
    with get_client(sync_client=True) as client:
        while True:
            runs = client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[second["flow_run_id"]])))
            if len(runs) >= len(names) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    assert len(runs) == len(names)
    assert {r.state.name for r in runs} == {"Cached"}


def test_eval_setting_change_reruns_only_evaluation_and_report(two_runs):
    """Sampling, MC rollouts and game rounds get only the eval settings they read, so a change to
    the first-error threshold keeps them cached (it used to re-run everything after the solver)."""
    from flows.pipeline import aprm_pipeline
    from pipeline_helpers import SMOKE

    home, first, _ = two_runs
    third = aprm_pipeline(overrides=[*SMOKE, f"paths.home={home}", "eval.first_error_threshold=0.45"])
    ran = {s["name"].split("[")[0] for s in third["stages"] if not s["cached"]}
    assert ran <= {"evaluate", "report"} and "evaluate" in ran, ran
    cached = {s["name"].split("[")[0] for s in third["stages"] if s["cached"]}
    assert {"sample-solutions", "mc-rollouts", "game-round", "train-prm"} <= cached


def test_smoke_results_cover_every_method_and_round(two_runs):
    from aprm.eval.results import load_results

    _, first, second = two_runs
    results = load_results(first["results"])
    assert second["results"] == first["results"]
    assert results["methods"] == ["aprm", "static", "mc", "orm", "likelihood", "advrm"]
    assert results["suites"] == ["id"]
    assert {(r["method"], r["suite"]) for r in results["runs"]} == {(m, "id") for m in results["methods"]}
    for run in results["runs"]:
        assert run["n_max"] == 4
        for acc in run["best_of_n"]["min"].values():
            assert 0.0 <= acc <= 1.0
        assert run["pass_at"]["4"] >= run["pass_at"]["1"]
    rounds = {(r["method"], r["round"]) for r in results["rounds"]}
    assert rounds == {("aprm", 0), ("aprm", 1), ("advrm", 0), ("advrm", 1)}
    for row in results["rounds"]:  # R's step AUROC on the solver's own errors after every round
        assert 0.0 <= row["metrics"]["step_auroc_solver_errors"] <= 1.0
    assert 0.0 <= first["objective"] <= 1.0


def test_mlflow_parent_and_child_runs_recorded(two_runs):
    from mlflow.tracking import MlflowClient

    home, first, second = two_runs
    client = MlflowClient(tracking_uri=f"sqlite:///{home / 'mlruns' / 'mlflow.db'}")
    parent = client.get_run(first["mlflow_run_id"])
    assert parent.info.status == "FINISHED"
    assert parent.data.params["data.train_size"] == "200"
    assert parent.data.params["method.name"] == "aprm"
    assert parent.data.tags["config_hash"] == first["config_hash"]
    assert parent.data.tags["prefect_flow_run_id"] == first["flow_run_id"]
    experiment = parent.info.experiment_id
    children = client.search_runs(
        [experiment], filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    by_stage = {c.data.tags["stage"]: c for c in children}
    assert {"prepare-data", "oracle-label", "train-solver", "game-round", "evaluate", "report"} <= set(by_stage)
    assert by_stage["prepare-data"].data.metrics["train"] == 200.0
    assert by_stage["oracle-label"].data.metrics["items"] > 200
    rounds = [c for c in children if c.data.tags["stage"] == "game-round" and c.data.tags["method"] == "aprm"]
    assert sorted(c.data.tags["round"] for c in rounds) == ["0", "1"]
    history = client.get_metric_history(parent.info.run_id, "aprm/fool_rate")
    assert sorted(m.step for m in history) == [0, 1]
    # one child per stage that ran; the all-cached re-run's stages keep the first run's children
    assert len(children) == len(first["stages"]) and parent.data.metrics["stages_ran"] == len(first["stages"])
    again = client.get_run(second["mlflow_run_id"])
    assert again.info.status == "FINISHED" and again.data.metrics["stages_cached"] == len(second["stages"])
    assert not client.search_runs([experiment], filter_string=f"tags.mlflow.parentRunId = '{again.info.run_id}'")
