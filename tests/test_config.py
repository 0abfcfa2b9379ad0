"""Every config group composes, and bad overrides fail before any compute with a clear message."""

from __future__ import annotations

import pytest

from flows.config import CONF_DIR, ConfigError, compose_config

GROUPS = ["data", "oracle", "model", "train", "method", "eval", "backend", "tracking", "experiment", "debug"]


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
        if group in ("data", "method", "model"):
            section = cfg[group]
            assert section.get("source", section.get("name", section.get("kind"))) is not None


def test_defaults_are_plain_and_resolved():
    cfg = compose_config([])
    assert cfg["data"]["source"] == "synthetic"
    assert cfg["data"]["paths"] == cfg["data_paths"]
    assert isinstance(cfg["data"]["suites"], list)
    assert cfg["method"]["name"] == "static"


def test_experiment_overlay_changes_sizes():
    smoke = compose_config(["experiment=smoke"])
    assert smoke["data"]["train_size"] < compose_config([])["data"]["train_size"]


@pytest.mark.parametrize(
    "override, needle",
    [("method=nope", "method"), ("nosuchkey=1", "nosuchkey"), ("data=missing", "data")],
)
def test_bad_override_names_the_key(override, needle):
    with pytest.raises(ConfigError) as err:
        compose_config([override])
    assert needle in str(err.value)


@pytest.mark.parametrize(
    "override, key, hint",
    [
        ("eval.n_samples=0", "eval.n_samples", "in [1, 4096]"),
        ("train.prm.lr=-0.1", "train.prm.lr", "> 0"),
        ("data.suites=[id,nope]", "data.suites", "allowed values"),
        ("compare_with=[static,bogus]", "compare_with", "allowed values"),
        ("eval.temperature=abc", "eval.temperature", "must be a number"),
        ("data.on_error=ignore", "data.on_error", "['raise', 'skip']"),
        ("model.prm_init=policy", "model.prm_init", "['fresh', 'solver']"),
        ("oracle.perturbations_per_step=0", "oracle.perturbations_per_step", "> 0"),
        ("eval.report.method_aggregation={orm:median}", "eval.report.method_aggregation", "aggregations"),
        ("+eval.report.method_aggregation.prm=last", "eval.report.method_aggregation", "methods"),
        ("threads=0", "threads", "positive int"),
        ("seeds=[]", "seeds", "non-empty list"),
        ("fit_samples_seed=0", "fit_samples_seed", "needs solver_seed"),
        ("fit_samples_seed=-1", "fit_samples_seed", ">= 0"),
        ("runner.kind=k8s", "runner.kind", "['threads', 'processes', 'dask', 'ray']"),
        ("runner.address=tcp://head:8786", "runner", "kind=threads runs local workers"),
        ("stage_retries.sample_solutions.retries=-1", "stage_retries.sample_solutions.retries", "[0, 20]"),
        ("train.solver.epochs=0", "train.solver.epochs", "positive int"),
        ("train.prm.best_metric=speed", "train.prm.best_metric", "verify_auroc"),
        ("model.num_heads=3", "model.hidden_size=128", "not divisible by model.num_heads=3"),
        ("+model.roles.prm.num_heads=5", "model.roles.prm.hidden_size=96", "model.roles.prm.num_heads=5"),
        ("+model.roles.critic={}", "model.roles", "unknown role(s) ['critic']"),
        ("+data.paths.mnist=/tmp/x", "data.paths", "unknown key(s) ['mnist']"),
        ("+tracking.colour=red", "tracking", "unknown key(s) ['colour']"),
        ("oracle.perturbations=[number_change,typo]", "oracle.perturbations", "unknown ['typo']"),
    ],
)
def test_invalid_values_are_rejected_naming_key_and_allowed(override, key, hint):
    with pytest.raises(ConfigError) as err:
        compose_config([override])
    assert key in str(err.value) and hint in str(err.value)


def test_the_method_under_test_is_never_its_own_baseline():
    assert compose_config([])["eval"]["report"]["target_methods"] == ["static"]
    assert compose_config(["method=advrm"])["eval"]["report"]["target_methods"] == ["advrm"]
    assert compose_config(["experiment=benchmark"])["eval"]["report"]["target_methods"] == ["aprm"]


@pytest.mark.parametrize("old, new", [
    ("game=aprm", "method=aprm"),
    ("game.rounds=2", "method.rounds=2"),
    ("+game.extra=1", "+method.extra=1"),
    ("++game.rewards.caught=0.1", "++method.rewards.caught=0.1"),
    ("~game.lam", "~method.lam"),
    ("game=aprm,static", "method=aprm,static"),
    ("experiment=default", "experiment=benchmark"),
])
def test_renamed_override_is_translated_with_a_deprecation(old, new):
    from flows.deprecations import translate_override

    translated, message = translate_override(old)
    assert translated == new
    assert f"use `{new.split('=')[0] if old.startswith(('game', '+', '~')) else new}`" in message
    assert "removed in the next release" in message


@pytest.mark.parametrize("kept", ["method=aprm", "gamesx=1", "data.game=1", "experiment=smoke", "-m", "job"])
def test_current_names_pass_unchanged(kept):
    from flows.deprecations import translate_override

    assert translate_override(kept) == (kept, None)


def test_old_names_compose_the_same_config_with_a_warning():
    with pytest.warns(FutureWarning, match="`game` is deprecated: use `method`"):
        old = compose_config(["game=advrm", "game.lam=3.0", "experiment=default"])
    new = compose_config(["method=advrm", "method.lam=3.0", "experiment=benchmark"])
    assert {k: v for k, v in old.items() if k != "overrides"} == {k: v for k, v in new.items() if k != "overrides"}
    assert old["overrides"] == new["overrides"]  # the config hash reads the translated overrides
    assert new["method"]["lam"] == 3.0 and new["seeds"] == [0, 1, 2]
