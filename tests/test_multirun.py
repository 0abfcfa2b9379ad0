"""Hydra multirun and its MLflow sweep run (flows.hydra_callbacks.MlflowSweepRun).

The slow tests run the installed `aprm -m ...` as a real subprocess (basic launcher, jobs in
sequence): the sweep gets one MLflow parent run and each job's pipeline run nests under it; a
failed job closes the sweep run as FAILED. Their jobs talk to the test session's Prefect server
(the `prefect_server` fixture), so they do not each start a temporary one. The quick tests call
the callback's hooks on configs Hydra composes, against a real SQLite MLflow store.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

APRM = Path(sys.executable).with_name("aprm")
JOB_TIMEOUT_S = float(os.environ.get("APRM_MULTIRUN_TIMEOUT_S", "1200"))


def _run_aprm(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    from prefect.settings import PREFECT_API_URL

    if not APRM.exists():
        pytest.skip(f"console script `aprm` not installed beside {sys.executable}")
    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value()), "HYDRA_FULL_ERROR": "1"}
    env.pop("APRM_SWEEP_RUN_ID", None)
    return subprocess.run([str(APRM), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=JOB_TIMEOUT_S, stdin=subprocess.DEVNULL)


def _client(home: Path):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=f"sqlite:///{home / 'mlruns' / 'mlflow.db'}")


def _runs(client, filter_string: str) -> list:
    exp = client.get_experiment_by_name("aprm")
    assert exp is not None, "no 'aprm' experiment in the store"
    return client.search_runs([exp.experiment_id], filter_string=filter_string, max_results=1000)


@pytest.mark.slow
def test_sweep_run_nests_each_jobs_pipeline_run(prefect_server, tmp_path):
    out = _run_aprm(["-m", "debug=fast", "seed=0,1", f"paths.home={tmp_path}"], cwd=tmp_path)
    assert out.returncode == 0, f"aprm -m failed:\n{out.stdout[-3000:]}\n{out.stderr[-6000:]}"

    # Hydra ran both jobs, each with its own seed
    job_dirs = sorted(p.parent.parent for p in (tmp_path / "multirun").glob("*/*/*/.hydra/overrides.yaml"))
    assert [d.name for d in job_dirs] == ["0", "1"]
    overrides = [yaml.safe_load((d / ".hydra" / "overrides.yaml").read_text()) for d in job_dirs]
    assert [o for o in overrides] == [["debug=fast", "seed=0", f"paths.home={tmp_path}"],
                                      ["debug=fast", "seed=1", f"paths.home={tmp_path}"]]

    client = _client(tmp_path)
    (sweep_run,) = _runs(client, "tags.`aprm.kind` = 'sweep'")
    assert sweep_run.info.status == "FINISHED"
    assert sweep_run.data.params["sweep.overrides"] == f"debug=fast seed=0,1 paths.home={tmp_path}"
    assert sweep_run.data.tags["sweep_dir"] == str(job_dirs[0].parent)
    assert sweep_run.info.run_name == f"sweep-{job_dirs[0].parent.name}"

    jobs = _runs(client, f"tags.mlflow.parentRunId = '{sweep_run.info.run_id}'")
    assert sorted(r.data.tags["seed"] for r in jobs) == ["0", "1"]
    assert sorted(r.info.run_name for r in jobs) == ["aprm-static-seed0", "aprm-static-seed1"]
    assert {r.info.status for r in jobs} == {"FINISHED"}
    for job in jobs:  # each pipeline run keeps its own stage runs below it
        stages = _runs(client, f"tags.mlflow.parentRunId = '{job.info.run_id}'")
        assert {"prepare-data", "oracle-label"} <= {s.data.tags["stage"] for s in stages}
    # nothing else was parented to the sweep, and no run is left open
    assert not _runs(client, "attributes.status = 'RUNNING'")


@pytest.mark.slow
def test_failed_job_marks_sweep_failed(prefect_server, tmp_path):
    # train_size=0 passes Hydra but fails the pipeline's config validation inside job 0
    out = _run_aprm(["-m", "debug=fast", "data.train_size=0", f"paths.home={tmp_path}"], cwd=tmp_path)
    assert out.returncode != 0
    assert "data.train_size" in out.stderr

    client = _client(tmp_path)
    (sweep_run,) = _runs(client, "tags.`aprm.kind` = 'sweep'")
    assert sweep_run.info.status == "FAILED"
    assert "data.train_size" in sweep_run.data.tags["aprm.failed_job.0"]
    assert not _runs(client, "attributes.status = 'RUNNING'")


# ------------------------------------------------------------------ the callback's hooks, directly
def _hydra_cfg(overrides: list[str]):
    from hydra import compose, initialize_config_dir

    from flows.config import CONF_DIR

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="config", overrides=overrides, return_hydra_config=True)


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("sweep-store")  # one store for these tests: one migration


@pytest.fixture
def sweep(home, monkeypatch):
    """A callback after on_multirun_start on the store under `home`; the env is restored after."""
    import atexit

    from flows.hydra_callbacks import SWEEP_RUN_ENV, SWEEP_URI_ENV, MlflowSweepRun

    monkeypatch.delenv(SWEEP_RUN_ENV, raising=False)
    monkeypatch.delenv(SWEEP_URI_ENV, raising=False)
    monkeypatch.chdir(home)
    cfg = _hydra_cfg([f"paths.home={home}", "seed=0"])
    callback = MlflowSweepRun()
    callback.on_multirun_start(cfg)
    yield callback, cfg, _client(home)
    atexit.unregister(callback._close_if_open)
    monkeypatch.delenv(SWEEP_RUN_ENV, raising=False)
    monkeypatch.delenv(SWEEP_URI_ENV, raising=False)


def test_callback_nests_job_runs_and_finishes(sweep, home):
    from hydra.core.utils import JobReturn, JobStatus

    from aprm.tracking import RunTracker
    from flows.hydra_callbacks import SWEEP_RUN_ENV

    callback, cfg, client = sweep
    run = client.get_run(callback.run_id)
    assert run.info.status == "RUNNING" and run.data.tags["aprm.kind"] == "sweep"
    assert run.data.params["sweep.overrides"] == f"paths.home={home} seed=0"
    assert run.data.params["sweep.launcher"].endswith("BasicLauncher")

    callback.on_job_start(cfg, task_function=None)
    assert os.environ[SWEEP_RUN_ENV] == callback.run_id
    # the pipeline's tracker opens its parent run under the sweep run
    tracker = RunTracker(f"sqlite:///{home / 'mlruns' / 'mlflow.db'}", "aprm", home / "art")
    job_run = client.get_run(tracker.start_parent("aprm-static-seed0", {}, {}))
    assert job_run.data.tags["mlflow.parentRunId"] == callback.run_id

    callback.on_job_end(cfg, JobReturn(status=JobStatus.COMPLETED, _return_value=0.625))
    sweep_id = callback.run_id
    callback.on_multirun_end(cfg)
    done = client.get_run(sweep_id)
    assert done.info.status == "FINISHED"
    assert [(m.step, m.value) for m in client.get_metric_history(sweep_id, "objective")] == [(0, 0.625)]
    assert SWEEP_RUN_ENV not in os.environ  # no leak into later runs in this process
    tracker2 = RunTracker(f"sqlite:///{home / 'mlruns' / 'mlflow.db'}", "aprm", home / "art")
    assert "mlflow.parentRunId" not in client.get_run(tracker2.start_parent("solo", {}, {})).data.tags


def test_failed_job_closes_sweep_run_failed(sweep):
    from hydra.core.utils import JobReturn, JobStatus

    callback, cfg, client = sweep
    sweep_id = callback.run_id
    callback.on_job_end(cfg, JobReturn(status=JobStatus.FAILED, _return_value=ValueError("boom")))
    run = client.get_run(sweep_id)
    assert run.info.status == "FAILED"
    assert run.data.tags["aprm.failed_job.0"] == "ValueError: boom"
    callback.on_multirun_end(cfg)  # Hydra may still reach it: FAILED stays
    assert client.get_run(sweep_id).info.status == "FAILED"


def test_job_on_another_store_is_not_nested(sweep, home, tmp_path):
    from flows.hydra_callbacks import SWEEP_RUN_ENV

    callback, _, _ = sweep
    other = _hydra_cfg([f"paths.home={tmp_path / 'elsewhere'}"])
    callback.on_job_start(other, task_function=None)
    assert SWEEP_RUN_ENV not in os.environ
    callback.on_job_start(_hydra_cfg([f"paths.home={home}"]), task_function=None)
    assert os.environ[SWEEP_RUN_ENV] == callback.run_id


def test_exit_hook_fails_a_sweep_left_open(sweep):
    callback, _, client = sweep
    sweep_id = callback.run_id
    callback._close_if_open()  # what atexit runs when the sweeper raised before on_multirun_end
    assert client.get_run(sweep_id).info.status == "FAILED"
