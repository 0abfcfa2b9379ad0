"""Helpers for the tests that run whole pipelines in fresh processes (determinism, SIGKILL resume):
start the `aprm` CLI against the session's Prefect server, read its stage log lines, and reduce a
results.json to what must not depend on which run produced it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SMOKE = ["experiment=smoke"]
STAGE_LINE = re.compile(r"\bstage (\S+)\s+(ran|cached)\s")


def cli_env(unset: tuple[str, ...] = ()) -> dict:
    """The test environment minus `unset`, plus the session server's URL (no temporary server per
    process) and INFO logs (the "stage NAME ran|cached" lines)."""
    from prefect.settings import PREFECT_API_URL

    # never a sweep job: a sweep id another test left in this process's environment stays out
    dropped = {*unset, "APRM_SWEEP_RUN_ID", "APRM_SWEEP_TRACKING_URI"}
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    return {**env, "PREFECT_API_URL": str(PREFECT_API_URL.value()), "PREFECT_LOGGING_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1", "APRM_PROGRESS": "0", "HYDRA_FULL_ERROR": "1"}


def start_cli(overrides: list[str], home: Path, unset: tuple[str, ...] = ()) -> subprocess.Popen:
    """`python -m flows.cli ...` in its own process group (so a kill takes all of it)."""
    return subprocess.Popen([sys.executable, "-m", "flows.cli", *overrides, f"paths.home={home}"],
                            cwd=REPO, env=cli_env(unset), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def run_cli(overrides: list[str], home: Path, timeout_s: float = 1800,
            unset: tuple[str, ...] = ()) -> tuple[int, str]:
    proc = start_cli(overrides, home, unset)
    try:
        log, _ = proc.communicate(timeout=timeout_s)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
            proc.wait()
    return proc.returncode, log


def stage_states(log: str) -> dict[str, str]:
    """{stage name: "ran" | "cached"} from a run's log."""
    return {m.group(1): m.group(2) for m in STAGE_LINE.finditer(log)}


def results_path(home: Path, config_hash: str) -> Path:
    return home / "artifacts" / "runs" / config_hash / "results.json"


def canonical_results(path: Path, home: Path) -> str:
    """results.json as canonical JSON without what legitimately differs between two runs of one
    config, and nothing else:
    - stages[].wall_s and rounds[].metrics.wall_s: measured compute time;
    - stages[].path: an artifact's absolute path, <home>/artifacts/<stage>/<content hash>/...; the
      hash covers the stage's inputs, which name upstream artifacts by absolute path, so below
      prepare-data it differs between homes too.
    """
    results = json.loads(path.read_text(encoding="utf-8"))
    prefix = str(home.resolve()) + os.sep
    for stage in results["stages"]:
        del stage["wall_s"]
        assert stage["path"] is None or stage["path"].startswith(prefix), stage
        del stage["path"]
    for row in results["rounds"]:
        del row["metrics"]["wall_s"]
    return json.dumps(results, indent=1, sort_keys=True)
