"""Hydra multirun through the installed `aprm` app, as a real subprocess (basic launcher, jobs in
sequence): the sweep gets one MLflow parent run (flows.hydra_callbacks.MlflowSweepRun) and each
job's pipeline run nests under it; a failed job closes the sweep run as FAILED.

The jobs talk to the test session's Prefect server (the `prefect_server` fixture), so they do
not each start a temporary one.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow

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
    (sweep,) = _runs(client, "tags.`aprm.kind` = 'sweep'")
    assert sweep.info.status == "FINISHED"
    assert sweep.data.params["sweep.overrides"] == f"debug=fast seed=0,1 paths.home={tmp_path}"
    assert sweep.data.tags["sweep_dir"] == str(job_dirs[0].parent)
    assert sweep.info.run_name == f"sweep-{job_dirs[0].parent.name}"

    jobs = _runs(client, f"tags.mlflow.parentRunId = '{sweep.info.run_id}'")
    assert sorted(r.data.tags["seed"] for r in jobs) == ["0", "1"]
    assert sorted(r.info.run_name for r in jobs) == ["aprm-static-seed0", "aprm-static-seed1"]
    assert {r.info.status for r in jobs} == {"FINISHED"}
    for job in jobs:  # each pipeline run keeps its own stage runs below it
        stages = _runs(client, f"tags.mlflow.parentRunId = '{job.info.run_id}'")
        assert {"prepare-data", "oracle-label"} <= {s.data.tags["stage"] for s in stages}
    # nothing else was parented to the sweep, and no run is left open
    assert not _runs(client, "attributes.status = 'RUNNING'")


def test_failed_job_marks_sweep_failed(prefect_server, tmp_path):
    # train_size=0 passes Hydra but fails the pipeline's config validation inside job 1
    out = _run_aprm(["-m", "debug=fast", "data.train_size=0", f"paths.home={tmp_path}"], cwd=tmp_path)
    assert out.returncode != 0
    assert "data.train_size" in out.stderr

    client = _client(tmp_path)
    (sweep,) = _runs(client, "tags.`aprm.kind` = 'sweep'")
    assert sweep.info.status == "FAILED"
    assert "data.train_size" in sweep.data.tags["aprm.failed_job.0"]
    assert not _runs(client, "attributes.status = 'RUNNING'")
