"""`dry_run=true` checks every data file and model without running anything; a real run stops
before any stage when a model cannot be found."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from flows.config import ConfigError, compose_config
from flows.dry_run import PreflightError, check_models, dry_run, preflight_models

MODELS = ("Qwen/Qwen2.5-Math-1.5B-Instruct", "Qwen/Qwen2.5-Math-1.5B")
FAKE_ID = "nonexistent-org/nonexistent-model"


def _aprm(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flows.cli", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300, check=False,
                          env={**os.environ, "HF_HUB_OFFLINE": "1", **env})


def _fake_hub_cache(root: Path, repo_id: str) -> None:
    """The layout huggingface_hub's cache lookup reads: refs/main -> snapshots/<rev>/."""
    repo = root / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0" * 40)
    snapshot = repo / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")


def test_paper_dry_run_prints_plan_and_writes_nothing(data_root, tmp_path):
    home, cwd, hub = tmp_path / "home", tmp_path / "cwd", tmp_path / "hub"
    cwd.mkdir()
    _fake_hub_cache(hub, MODELS[1])  # the PRM backbone is "cached", the solver is not
    out = _aprm(["experiment=paper", "dry_run=true", f"paths.home={home}"], cwd,
                HF_HUB_CACHE=str(hub))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    solver = next(line for line in lines if line.strip().startswith("model.solver"))
    prm = next(line for line in lines if line.strip().startswith("model.prm"))
    assert MODELS[0] in solver and "not cached: downloads on first real run" in solver
    assert "HF_HUB_OFFLINE=1, a real run would fail" in solver
    assert MODELS[1] in prm and "[in local HF cache" in prm and "WARNING" not in prm
    assert "methods: ['aprm', 'static', 'mc', 'orm', 'likelihood', 'advrm']" in out.stdout
    assert "seeds:   [0, 1, 2]" in out.stdout
    rows = {line.split()[0]: line for line in lines if line.strip().startswith("data_paths.")}
    assert "(7473 rows)" in rows["data_paths.gsm8k_train"]
    assert "(500 rows)" in rows["data_paths.math500"]
    assert "(1000 rows)" in rows["data_paths.svamp"]
    assert "train-verifier: off (train.verifier.problems=0): the PRMs read the solver's surprise" in out.stdout
    assert not home.exists()  # no artifacts, no mlruns, no Prefect results
    assert not (cwd / "mlruns").exists() and not (cwd / "artifacts").exists()


def test_missing_data_path_fails_naming_the_key(data_root, tmp_path):
    cfg = compose_config(["experiment=paper", f"data_paths.math500={tmp_path / 'none.jsonl'}",
                          f"data_paths.processbench_dir={tmp_path}"])
    with pytest.raises(PreflightError) as err:
        dry_run(cfg)
    message = str(err.value)
    assert "data_paths.math500" in message and "none.jsonl" in message
    assert "data_paths.processbench_dir" in message and "'gsm8k'" in message and "'math'" in message
    assert "data_paths.svamp" not in message  # present files are not reported


def test_bad_model_references_fail_naming_the_key(tmp_path):
    cfg = compose_config(["experiment=paper", f"model.prm={tmp_path / 'no-prm'}",
                          "model.generator=bad..id"])
    problems: list[str] = []
    checks = check_models(cfg, problems)
    assert [c.role for c in checks] == ["solver"]
    assert problems[0].startswith("model.prm: local path") and "no-prm" in problems[0]
    assert problems[1].startswith("model.generator: 'bad..id' is neither an existing path")
    with pytest.raises(PreflightError, match=r"model\.prm: local path"):
        dry_run(cfg)
    local = compose_config(["model=hf", f"model.solver={tmp_path}", f"model.prm={tmp_path}",
                            f"model.generator={tmp_path}"])
    assert {c.status for c in preflight_models(local)} == {"local path"}


def test_dry_run_flag_is_validated():
    with pytest.raises(ConfigError, match=r"dry_run must be true or false"):
        compose_config(["dry_run=3"])


def test_offline_loader_names_the_setting(monkeypatch):
    from aprm.models.factory import ModelConfigError, load_tokenizer_for

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelConfigError, match=rf"model\.solver: cannot load '{FAKE_ID}' offline"):
        load_tokenizer_for({"kind": "hf", "solver": FAKE_ID}, "solver")


def test_offline_real_run_with_uncached_model_stops_before_any_stage(tmp_path):
    home = tmp_path / "home"
    out = _aprm(["model=hf", f"model.solver={FAKE_ID}", f"model.prm={tmp_path}",
                 f"model.generator={tmp_path}", f"paths.home={home}"], tmp_path)
    assert out.returncode == 2
    assert f"model.solver: '{FAKE_ID}' is not in the local HF cache and HF_HUB_OFFLINE=1" in out.stderr
    assert "model.prm" not in out.stderr and "Traceback" not in out.stderr
    assert not home.exists()


def test_offline_real_run_with_uncached_hub_data_stops_before_any_stage(tmp_path):
    """No local file and no cached hub copy, offline: exit 2 naming each data_paths key and its
    hub id, before Prefect, MLflow or any stage (nothing under the home)."""
    home, empty = tmp_path / "home", tmp_path / "no-data"
    empty.mkdir()
    out = _aprm(["data=gsm8k", "data.suites=[gsm8k,math500]", "eval.processbench_splits=[gsm8k]",
                 f"paths.home={home}"], tmp_path, APRM_DATA_ROOT=str(empty), HF_DATASETS_OFFLINE="1",
                HF_DATASETS_CACHE=str(tmp_path / "hf-datasets"))
    assert out.returncode == 2, out.stderr
    for key, repo in [("gsm8k_train", "openai/gsm8k"), ("gsm8k_test", "openai/gsm8k"),
                      ("math500", "HuggingFaceH4/MATH-500"), ("processbench_dir", "Qwen/ProcessBench")]:
        assert f"field 'data_paths.{key}': cannot load {repo}" in out.stderr
    assert "Traceback" not in out.stderr and not home.exists()
    # the dry run names the hub datasets instead of downloading them
    out = _aprm(["data=gsm8k", "data.suites=[math500]", "dry_run=true", f"paths.home={home}"], tmp_path,
                APRM_DATA_ROOT=str(empty), HF_DATASETS_OFFLINE="1", HF_DATASETS_CACHE=str(tmp_path / "hf-datasets"))
    assert out.returncode == 0, out.stderr
    assert "data_paths.math500" in out.stdout and "Hugging Face hub: HuggingFaceH4/MATH-500" in out.stdout
    assert not (tmp_path / "hf-datasets" / "aprm-files").exists()


def test_flow_refuses_several_launched_processes(tmp_path):
    out = _aprm(["debug=fast", f"paths.home={tmp_path / 'home'}"], tmp_path, WORLD_SIZE="2")
    assert out.returncode == 2
    assert "the aprm flow runs as one process, got 2" in out.stderr and "--num_processes 1" in out.stderr
    assert not (tmp_path / "home").exists()


def test_old_names_on_the_command_line_run_with_a_deprecation_line(tmp_path):
    out = _aprm(["game=aprm", "experiment=default", "dry_run=true", f"paths.home={tmp_path / 'home'}"], tmp_path)
    assert out.returncode == 0, out.stderr
    assert "aprm: `game` is deprecated: use `method`" in out.stderr
    assert "aprm: `experiment=default` is deprecated: use `experiment=benchmark`" in out.stderr
    assert "aprm dry run: aprm on data.source=synthetic" in out.stdout
    assert re.search(r"train-verifier: the solver on \d+ fresh problems \(\+\d+ drills a step\): the LM every PRM "
                     r"reads \(shared by all seeds\)", out.stdout)
