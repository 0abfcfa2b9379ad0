"""SIGKILL the smoke pipeline at five points, one after another in one home: after each kill no
artifact is torn, each re-run takes every stage an earlier attempt finished from cache, the last
re-run's results equal an uninterrupted run's, and every killed attempt's MLflow run ends KILLED."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
from pathlib import Path

import pytest
from pipeline_helpers import (
    SMOKE,
    canonical_results,
    results_path,
    run_cli,
    stage_states,
    start_cli,
)

pytestmark = pytest.mark.slow

# (log lines to wait for, in order; what is running when the kill lands). A stage line is logged
# once that stage's result is stored, so each kill lands in the stage after it.
KILLS = [
    (["stage prepare-data[seed=0]"], "oracle labeling"),
    (["stage oracle-label[seed=0]"], "solver training"),
    (["stage sample-solutions[id,seed=0]"], "R_0 (static PRM) training"),
    # mid-round: G's RL step of round 1 is done, G is being saved and R updated
    (["stage game-round[aprm,0,seed=0]", "'train_runtime'"], "APRM round 1"),
    (["stage evaluate["], "the evaluation fan-out (two evaluations in parallel)"),
]


def _kill_after(proc: subprocess.Popen, markers: list[str], timeout_s: float = 1800) -> str:
    """Read the log until each marker has appeared in turn, then SIGKILL the process group."""
    watchdog = threading.Timer(timeout_s, os.killpg, (proc.pid, signal.SIGKILL))
    watchdog.start()
    lines, pending = [], list(markers)
    try:
        for line in proc.stdout:
            lines.append(line)
            if pending and pending[0] in line:
                pending.pop(0)
            if not pending:
                break
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    assert not pending, f"never saw {pending}:\n" + "".join(lines[-60:])
    assert proc.returncode == -signal.SIGKILL
    return "".join(lines)


def _scratch(path: Path, root: Path) -> bool:
    """Temp files and staging folders of atomic writes (hidden names) and the PRM trainer's
    checkpoints: written in place while a stage runs, never read by another stage."""
    parts = path.relative_to(root).parts
    return any(p.startswith(".") or p == "checkpoints" for p in parts)


def _assert_no_torn_artifact(artifacts: Path) -> None:
    for path in artifacts.rglob("*"):
        if path.suffix in (".json", ".jsonl") and not _scratch(path, artifacts):
            text = path.read_text(encoding="utf-8")
            try:
                for doc in (text.splitlines() if path.suffix == ".jsonl" else [text]):
                    json.loads(doc)
            except json.JSONDecodeError as err:
                raise AssertionError(f"torn artifact {path}: {err}") from err


def test_sigkill_at_five_points_then_resume_equals_uninterrupted(smoke_run, tmp_path):
    from mlflow.tracking import MlflowClient

    home = tmp_path / "home"
    artifacts = home / "artifacts"
    finished: set[str] = set()  # stages some earlier attempt finished
    for markers, running in KILLS:
        # verbose: the mid-round marker is a line TRL prints (the quiet console holds it back);
        # `verbose` enters no cache key and no config hash
        attempt = start_cli([*SMOKE, "verbose=true"], home)
        states = stage_states(_kill_after(attempt, markers))
        assert {s for s in finished if states.get(s) != "cached"} == set(), running
        assert "ran" in states.values(), running  # the attempt got further than the last one
        finished |= set(states)
        _assert_no_torn_artifact(artifacts)
        # atomic-write temps (.<name>.<pid>@<host>.<random>.tmp) may be left by this attempt only:
        # the re-run that rewrote an earlier attempt's half-written target swept its temps
        owner = f".{attempt.pid}@{socket.gethostname()}."
        assert [p for p in artifacts.rglob("*.tmp") if owner not in p.name] == [], running

    code, log = run_cli(SMOKE, home)
    assert code == 0, log[-4000:]
    states = stage_states(log)
    assert {s for s in finished if states.get(s) != "cached"} == set()
    assert states["report"] == "ran"

    # Nothing torn or half-written is left: every stage a kill interrupted re-ran and its own
    # temp files were swept, and Prefect's cached-result records (written in place) all parse.
    _assert_no_torn_artifact(artifacts)
    assert sorted(str(p.relative_to(artifacts)) for p in artifacts.rglob("*") if _scratch(p, artifacts)) == []
    for record in (artifacts / "prefect-results").iterdir():
        json.loads(record.read_text(encoding="utf-8"))

    home_a, first = smoke_run  # the same config, never interrupted
    assert (canonical_results(results_path(home, first["config_hash"]), home)
            == canonical_results(results_path(home_a, first["config_hash"]), home_a))

    client = MlflowClient(tracking_uri=f"sqlite:///{home / 'mlruns' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("aprm")
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    parents = [r for r in runs if r.info.run_name == "aprm-aprm-seed0"]
    assert sorted(r.info.status for r in parents) == ["FINISHED"] + ["KILLED"] * len(KILLS)
    assert [r.info.run_name for r in runs if r.info.status == "RUNNING"] == []
