"""The pipeline flow under a real Prefect server and a real (temporary) MLflow store."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def two_runs(prefect_server, tmp_path_factory):
    from flows.pipeline import aprm_pipeline

    home = tmp_path_factory.mktemp("home")
    overrides = ["debug=fast", f"paths.home={home}"]
    first = aprm_pipeline(overrides=overrides)
    second = aprm_pipeline(overrides=overrides)
    return home, first, second


def test_second_run_takes_every_stage_from_cache(two_runs):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    _, first, second = two_runs
    names = [s["name"] for s in first["stages"]]
    assert names[:2] == ["prepare-data[seed=0]", "oracle-label[seed=0]"]
    assert [s["cached"] for s in first["stages"]] == [False] * len(names)
    assert [s["cached"] for s in second["stages"]] == [True] * len(names)
    assert first["stages"][0]["metrics"] == second["stages"][0]["metrics"]

    # Count task-body executions as Prefect recorded them: the second flow run ran none.
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[second["flow_run_id"]])))
    assert len(runs) == len(names)
    assert {r.state.name for r in runs} == {"Cached"}


def test_mlflow_parent_and_child_runs_recorded(two_runs):
    from mlflow.tracking import MlflowClient

    home, first, _ = two_runs
    client = MlflowClient(tracking_uri=f"sqlite:///{home / 'mlruns' / 'mlflow.db'}")
    parent = client.get_run(first["mlflow_run_id"])
    assert parent.info.status == "FINISHED"
    assert parent.data.params["data.train_size"] == "100"
    assert parent.data.params["game.name"] == "static"
    assert parent.data.tags["config_hash"] == first["config_hash"]
    assert parent.data.tags["prefect_flow_run_id"] == first["flow_run_id"]
    experiment = parent.info.experiment_id
    children = client.search_runs(
        [experiment], filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    by_stage = {c.data.tags["stage"]: c for c in children}
    assert {"prepare-data", "oracle-label"} <= set(by_stage)
    assert by_stage["prepare-data"].data.metrics["train"] == 100.0
    assert by_stage["oracle-label"].data.metrics["items"] > 100
