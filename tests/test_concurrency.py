"""Four `aprm` processes started at once on one home and one SQLite MLflow store, as a parallel
sweep starts them: same config, different seeds, one shared solver (`solver_seed=0`), so the data,
static-set and solver stages overlap. Each process starts its own temporary Prefect server (no
PREFECT_API_URL), as a user without a server does. All finish; a stage several of them computed
at once is stored once, whole; nothing is torn; every MLflow run ends FINISHED."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from pipeline_helpers import REPO, SMOKE, stage_states
from test_resume import _assert_no_torn_artifact

pytestmark = pytest.mark.slow
SEEDS = (0, 1, 2, 3)
SHARED = ("prepare-data[seed=0]", "oracle-label[seed=0]", "train-solver[seed=0]")


def test_four_processes_share_a_home(tmp_path):
    from mlflow.tracking import MlflowClient

    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items()
           if k not in ("PREFECT_API_URL", "APRM_SWEEP_RUN_ID", "APRM_SWEEP_TRACKING_URI")}
    env.update({"PYTHONUNBUFFERED": "1", "APRM_PROGRESS": "0"})
    procs = [subprocess.Popen([sys.executable, "-m", "flows.cli", *SMOKE, f"seed={seed}", "solver_seed=0",
                               "threads=1", f"paths.home={home}"], cwd=REPO, env=env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for seed in SEEDS]
    logs = [proc.communicate(timeout=1800)[0] for proc in procs]
    for seed, proc, log in zip(SEEDS, procs, logs):
        assert proc.returncode == 0, f"seed {seed}:\n{log[-3000:]}"
        assert "ERROR" not in log and "Traceback" not in log, log[-3000:]
        assert set(SHARED) <= set(stage_states(log))

    # the shared stages sit at one content address each, whole, whoever computed them
    summaries = [json.loads((home / "artifacts" / "runs" / h / "results.json").read_text())
                 for h in sorted(os.listdir(home / "artifacts" / "runs"))]
    assert sorted(r["experiment"]["seeds"][0] for r in summaries) == list(SEEDS)
    for name in SHARED:
        paths = {s["path"] for r in summaries for s in r["stages"] if s["name"] == name}
        assert len(paths) == 1, (name, paths)
    assert len(os.listdir(home / "artifacts" / "solver")) == 1
    _assert_no_torn_artifact(home / "artifacts")
    assert list((home / "artifacts").rglob("*.tmp")) == []

    client = MlflowClient(tracking_uri=f"sqlite:///{home / 'mlruns' / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("aprm").experiment_id], max_results=2000)
    parents = [r for r in runs if r.info.run_name.startswith("aprm-aprm-seed")]
    assert sorted(r.info.run_name for r in parents) == [f"aprm-aprm-seed{s}" for s in SEEDS]
    assert {r.info.status for r in runs} == {"FINISHED"}
