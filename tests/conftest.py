"""Test-wide isolation: offline switches, a temporary PREFECT_HOME, and one Prefect server per run.

The environment is set before anything imports Prefect, MLflow or transformers.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

_SESSION_TMP = Path(tempfile.mkdtemp(prefix="aprm-tests-"))
for key, value in {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_HOME": str(_SESSION_TMP / "prefect-home"),
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    "PREFECT_LOGGING_LEVEL": "WARNING",
    "MLFLOW_TRACKING_URI": f"sqlite:///{_SESSION_TMP / 'mlflow.db'}",
    "TOKENIZERS_PARALLELISM": "false",
    "APRM_PROGRESS": "0",
}.items():
    os.environ.setdefault(key, value)

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def prefect_server():
    """One temporary Prefect server (SQLite) shared by every flow test in the run."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def data_root() -> Path:
    from aprm.data.paths import default_data_root

    root = default_data_root()
    if root is None:
        pytest.skip("shared data not found: set APRM_DATA_ROOT to the folder with gsm8k/, svamp/, ...")
    return root


@pytest.fixture(scope="session")
def smoke_run(prefect_server, tmp_path_factory):
    """One fresh `experiment=smoke` run (every method) in its own home, run in this process and
    shared by the flow, determinism and resume tests: (home, the flow's summary)."""
    from pipeline_helpers import SMOKE

    from flows.pipeline import aprm_pipeline

    home = tmp_path_factory.mktemp("smoke-home")
    return home, aprm_pipeline(overrides=[*SMOKE, f"paths.home={home}"])
