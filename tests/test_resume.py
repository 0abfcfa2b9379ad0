"""SIGKILL during an adversarial round: the re-run resumes at that round with every earlier stage
from cache, leaves no half-written file, and marks the killed attempt's MLflow run KILLED."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
GAME = ["debug=fast", "game=aprm", "game.rounds=3", "game.slots_per_round=4",
        "game.prm_update.steps=2", "game.prm_update.batch_size=4",
        "game.generator_rl.prompts_per_step=2", "game.generator_rl.num_generations=2",
        "game.generator_rl.max_completion_length=12", "game.probe.slots=4", "game.probe.kl_slots=2",
        "game.probe.max_new_tokens=12", "game.setup.train_problems=16", "game.setup.warm_start.epochs=1"]


def _env(home: Path) -> dict:
    return {**os.environ, "PREFECT_HOME": str(home / "prefect-home"), "APRM_PROGRESS": "0",
            "PYTHONUNBUFFERED": "1", "PREFECT_LOGGING_LEVEL": "INFO"}


def _start(home: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "flows.cli", *GAME, f"paths.home={home}"],
                            cwd=REPO, env=_env(home), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)


def _kill_after(proc: subprocess.Popen, marker: str, timeout_s: float = 600) -> list[str]:
    """Read the log until `marker` appears, then SIGKILL the whole process group."""
    lines, deadline = [], time.monotonic() + timeout_s
    try:
        for line in proc.stdout:
            lines.append(line)
            if marker in line or time.monotonic() > deadline:
                break
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert any(marker in line for line in lines), "".join(lines[-40:])
    return lines


def test_killed_round_resumes_from_cache(tmp_path):
    from mlflow.tracking import MlflowClient

    # Round 0 finished, round 1 is running when the kill lands.
    _kill_after(_start(tmp_path), "stage game-round[aprm,0,seed=0]")
    rerun = subprocess.run([sys.executable, "-m", "flows.cli", *GAME, f"paths.home={tmp_path}"],
                           cwd=REPO, env=_env(tmp_path), capture_output=True, text=True, timeout=900)
    log = rerun.stdout + rerun.stderr
    assert rerun.returncode == 0, log[-4000:]

    def state(stage: str) -> str:
        line = next(l for l in log.splitlines() if f"stage {stage}" in l)
        return line.split(stage, 1)[1].split()[0]

    for finished in ("prepare-data[seed=0]", "oracle-label[seed=0]", "train-solver[seed=0]",
                     "train-prm[static,seed=0,member=0]", "prepare-game[aprm,seed=0]",
                     "game-round[aprm,0,seed=0]"):
        assert state(finished) == "cached", finished
    for unfinished in ("game-round[aprm,1,seed=0]", "game-round[aprm,2,seed=0]", "report"):
        assert state(unfinished) == "ran", unfinished
    leftovers = [p for p in (tmp_path / "artifacts").rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []
    assert list((tmp_path / "artifacts" / "runs").glob("*/results.json"))

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("aprm")
    parents = client.search_runs([experiment.experiment_id],
                                 filter_string="attributes.run_name = 'aprm-aprm-seed0'")
    assert sorted(r.info.status for r in parents) == ["FINISHED", "KILLED"]
