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
def memorized_solver(tmp_path_factory):
    """A tiny solver trained (~7 s) until it knows 24 training problems by heart: its surprise at
    a step then knows their numbers (tests of `likelihood` and the surprise-head PRM)."""
    import torch
    from types import SimpleNamespace

    from aprm.data import generate_split
    from aprm.models.factory import build_model
    from aprm.models.solver import format_prompt, format_solution, train_solver
    from aprm.models.tokenizer import train_tokenizer

    torch.set_num_threads(1)
    problems = generate_split("train", 24, seed=0)
    tok = train_tokenizer(format_prompt(p) + format_solution(p.reference_steps) for p in problems)
    cfg = {"kind": "tiny", "arch": "llama", "hidden_size": 48, "num_layers": 2, "num_heads": 4,
           "intermediate_size": 96, "max_position_embeddings": 384}
    model = build_model("solver", cfg, tok, seed=0)
    out = tmp_path_factory.mktemp("sft") / "solver"
    train_solver(problems, tok, model, {"epochs": 60, "batch_size": 4, "lr": 3e-3}, out)
    return SimpleNamespace(problems=problems, model=model, tokenizer=tok, path=out)


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
