"""Every config group composes, and bad overrides fail before any compute with a clear message."""

from __future__ import annotations

import pytest

from flows.config import CONF_DIR, ConfigError, compose_config

GROUPS = ["data", "oracle", "model", "train", "game", "eval", "backend", "tracking", "experiment", "debug"]


def _options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))


# options that need a value no default can give: composing without it names the key
REQUIRED = {"experiment=eval_prm": ("model.prm", "model.prm=org/some-prm")}


@pytest.mark.parametrize("group", GROUPS)
def test_every_option_of_every_group_composes(group):
    options = _options(group)
    assert options, f"conf/{group} has no options"
    for option in options:
        choice = f"{group}={option}"
        extra = []
        if choice in REQUIRED:
            key, extra = REQUIRED[choice][0], [REQUIRED[choice][1]]
            with pytest.raises(ConfigError, match=rf"{key}: "):
                compose_config([choice])
        cfg = compose_config([choice, *extra])
        assert cfg["overrides"] == [choice, *extra]
        if group in ("data", "game", "model"):
            section = cfg[group]
            assert section.get("source", section.get("name", section.get("kind"))) is not None


def test_defaults_are_plain_and_resolved():
    cfg = compose_config([])
    assert cfg["data"]["source"] == "synthetic"
    assert cfg["data"]["paths"] == cfg["data_paths"]
    assert isinstance(cfg["data"]["suites"], list)
    assert cfg["game"]["name"] == "static"


def test_experiment_overlay_changes_sizes():
    smoke = compose_config(["experiment=smoke"])
    assert smoke["data"]["train_size"] < compose_config([])["data"]["train_size"]


@pytest.mark.parametrize(
    "override, needle",
    [("game=nope", "game"), ("nosuchkey=1", "nosuchkey"), ("data=missing", "data")],
)
def test_bad_override_names_the_key(override, needle):
    with pytest.raises(ConfigError) as err:
        compose_config([override])
    assert needle in str(err.value)


@pytest.mark.parametrize(
    "override, key, hint",
    [
        ("eval.n_samples=0", "eval.n_samples", ">= 1"),
        ("train.prm.lr=-0.1", "train.prm.lr", "> 0"),
        ("data.suites=[id,nope]", "data.suites", "allowed values"),
        ("compare_with=[static,bogus]", "compare_with", "allowed values"),
        ("eval.temperature=abc", "eval.temperature", "must be a float"),
        ("data.on_error=ignore", "data.on_error", "['raise', 'skip']"),
        ("model.prm_init=policy", "model.prm_init", "['fresh', 'solver']"),
        ("oracle.perturbations_per_step=0", "oracle.perturbations_per_step", "> 0"),
        ("eval.report.method_aggregation={orm:median}", "eval.report.method_aggregation", "aggregations"),
        ("+eval.report.method_aggregation.prm=last", "eval.report.method_aggregation", "methods"),
    ],
)
def test_invalid_values_are_rejected_naming_key_and_allowed(override, key, hint):
    with pytest.raises(ConfigError) as err:
        compose_config([override])
    assert key in str(err.value) and hint in str(err.value)


def test_the_method_under_test_is_never_its_own_baseline():
    assert compose_config([])["eval"]["report"]["target_methods"] == ["static"]
    assert compose_config(["game=advrm"])["eval"]["report"]["target_methods"] == ["advrm"]
    assert compose_config(["experiment=default"])["eval"]["report"]["target_methods"] == ["aprm"]
