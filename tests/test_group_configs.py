"""Every config group's defaults are written once, in its dataclass: the composed config, the
library's defaults for a direct caller and the validation all read them."""

from __future__ import annotations

from dataclasses import asdict

import pytest

from aprm.backends.openai_settings import OpenAIBackendConfig
from aprm.group_configs import (
    DataConfig,
    EvalConfig,
    HfBackendConfig,
    HfModelConfig,
    OracleConfig,
    TinyModelConfig,
    TrackingConfig,
)
from aprm.train_configs import TrainConfig
from aprm.models.factory import TINY_DEFAULTS, tiny_settings
from aprm.models.prm_trainer import DEFAULT_TRAIN_CFG
from aprm.models.solver import SOLVER_TRAIN_DEFAULTS
from aprm.run_config import RunConfig
from aprm.structured import ConfigProblems, build_config
from flows.config import compose_config

# What a group's YAML sets on top of its dataclass: links to other parts of the config.
LINKS = {"data": ("paths",), "eval": ("report",)}


@pytest.mark.parametrize("group, option, cls", [
    ("data", "synthetic", DataConfig), ("oracle", "default", OracleConfig), ("model", "tiny", TinyModelConfig),
    ("train", "default", TrainConfig), ("eval", "default", EvalConfig), ("backend", "hf", HfBackendConfig),
    ("backend", "openai", OpenAIBackendConfig), ("tracking", "default", TrackingConfig),
])
def test_composed_group_equals_its_dataclass_defaults(group, option, cls):
    composed = compose_config([f"{group}={option}"])[group]
    defaults = asdict(cls())
    for key in LINKS.get(group, ()):
        composed.pop(key), defaults.pop(key)
    assert composed == defaults


def test_yaml_links_resolve_to_the_rest_of_the_config():
    cfg = compose_config(["method=advrm"])
    assert cfg["data"]["paths"] == cfg["data_paths"]
    assert cfg["eval"]["report"]["target_methods"] == ["advrm"]
    assert cfg["eval"]["report"]["method_aggregation"] == EvalConfig().report.method_aggregation


def test_top_level_keys_come_from_run_config():
    cfg = compose_config([])
    top = {k: v for k, v in cfg.items()
           if k not in ("data", "oracle", "model", "train", "method", "eval", "backend", "tracking", "overrides")}
    assert top == {k: v for k, v in asdict(RunConfig()).items() if k != "overrides"}


def test_hf_model_roles_are_named_on_the_command_line():
    assert compose_config(["model=hf"])["model"] == asdict(HfModelConfig())
    named = compose_config(["model=hf", "model.solver=org/solver", "model.prm=org/prm"])["model"]
    assert (named["solver"], named["prm"], named["generator"]) == ("org/solver", "org/prm", None)


def test_library_defaults_are_the_composed_defaults():
    """A direct caller of the trainers and the model factory gets what a composed run gets."""
    cfg = compose_config([])
    assert {k: v for k, v in SOLVER_TRAIN_DEFAULTS.items() if k != "seed"} == cfg["train"]["solver"]
    assert {k: v for k, v in DEFAULT_TRAIN_CFG.items() if k != "seed"} == cfg["train"]["prm"]
    assert TINY_DEFAULTS == {k: cfg["model"][k] for k in TINY_DEFAULTS}
    assert tiny_settings("prm", {"kind": "tiny"}) == tiny_settings("prm", cfg["model"])
    assert tiny_settings("prm", {"kind": "tiny"})["hidden_size"] == 96


@pytest.mark.parametrize("cls, values, message", [
    (DataConfig, {"val_size": True}, "data.val_size must be an integer, got True"),
    (DataConfig, {"suites": "id"}, "data.suites must be a list, got 'id'"),
    (DataConfig, {"suites": [3]}, "data.suites[0] must be a string, got 3"),
    (DataConfig, {"source": "gsm8k", "suites": ["id"]}, "data.suites: unknown ['id']; allowed values: ['gsm8k'"),
    (DataConfig, {"train_size": None, "test_size": 0}, "data.test_size must be a positive int, got 0"),
    (OracleConfig, {"perturbations_per_step": None, "static_train_problems": 1.5},
     "oracle.static_train_problems must be an integer, got 1.5"),
    (EvalConfig, {"crossplay": {"slots": -1}}, "eval.crossplay.slots must be an int >= 0, got -1"),
    (EvalConfig, {"crossplay": 3}, "eval.crossplay must be a mapping, got 3"),
    (EvalConfig, {"report": {"method_aggregation": {"orm": 1}}}, "eval.report.method_aggregation.orm must be a string"),
    (TrainConfig, {"prm": {"early_stopping_patience": -1}}, "train.prm.early_stopping_patience must be an int >= 0"),
    (TrainConfig, {"solver": {"warmup_ratio": 1.0}}, "train.solver.warmup_ratio must be in [0, 1), got 1.0"),
    (TinyModelConfig, {"dropout": 1.0}, "model.dropout must be in [0, 1), got 1.0"),
    (TinyModelConfig, {"prm_kind": "surprise_head", "prm_init": "solver"}, "model.prm_init: 'solver' applies to"),
    (RunConfig, {"seeds": [0, "1"]}, "seeds[1] must be an integer, got '1'"),
    (RunConfig, {"eval_prm": {"samples": " "}}, "eval_prm.samples: expected a path or null"),
])
def test_bad_values_name_the_key(cls, values, message):
    group = {DataConfig: "data", OracleConfig: "oracle", EvalConfig: "eval", TrainConfig: "train",
             TinyModelConfig: "model", RunConfig: ""}[cls]
    with pytest.raises(ValueError) as err:
        build_config(cls, values, group)
    assert message in str(err.value)


def test_nulls_are_kept_where_the_key_is_optional_only():
    built = build_config(RunConfig, {"seeds": None, "eval_prm": None, "solver_seed": None}, "")
    assert (built.seeds, built.eval_prm, built.solver_seed) == (None, None, None)
    assert build_config(RunConfig, {"eval_prm": {}}, "").eval_prm.suite == "samples"
    with pytest.raises(ValueError, match="threads must be an integer, got None"):
        build_config(RunConfig, {"threads": None}, "")


def test_every_bad_value_is_named_at_once_and_a_combination_as_such():
    with pytest.raises(ConfigProblems) as err:
        build_config(DataConfig, {"val_size": 0, "on_error": "ignore", "test_size": "many"}, "data")
    assert sorted(p.split(" ")[0] for p in err.value.problems) == ["data.on_error", "data.test_size",
                                                                  "data.val_size"]
    # each value is fine alone; together they are not, and the message names the one to change
    with pytest.raises(ConfigProblems) as err:
        build_config(DataConfig, {"source": "gsm8k", "suites": ["id"]}, "data")
    assert err.value.problems == ["data.suites: unknown ['id']; allowed values: ['gsm8k', 'svamp', 'math500']"]
