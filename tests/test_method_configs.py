"""The `method` group's structured configs (aprm/method_configs.py): the one place each default is
written, the checks that name the key, and what the composed config and the rounds read."""

from __future__ import annotations

from dataclasses import asdict

import pytest

from aprm.game.config import resolve_game_cfg
from aprm.method_configs import AdvrmConfig, build_method_config
from aprm.methods import REGISTRY
from flows.config import ConfigError, compose_config


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_composed_method_config_is_the_dataclass_defaults(name):
    method = compose_config([f"method={name}"])["method"]
    expected = {**asdict(REGISTRY[name].config()), "name": name}
    if "setup" in expected:  # the one link to the rest of the config (conf/method/rounds/common.yaml)
        assert method["setup"].pop("perturbations") == compose_config([])["oracle"]["perturbations"]
        expected["setup"].pop("perturbations")
    assert method == expected


def test_advrm_extends_the_game_with_its_own_update_and_ensemble():
    advrm = compose_config(["method=advrm"])["method"]
    aprm = compose_config(["method=aprm"])["method"]
    shared = {k for k in aprm if k not in ("name", "prm_update")}
    assert {k: advrm[k] for k in shared} == {k: aprm[k] for k in shared}
    assert (advrm["prm_update"]["lr"], advrm["prm_update"]["optimizer"]) == (1.0e-3, "adamw")
    assert (aprm["prm_update"]["lr"], aprm["prm_update"]["optimizer"]) == (0.02, "ogda")
    assert advrm["lam"] == 2.0 and advrm["ensemble_size"] == 2 and "lam" not in aprm


@pytest.mark.parametrize("overrides, message", [
    (["method=aprm", "method.probe.slots=0"], "method.probe.slots must be a positive int, got 0"),
    (["method=aprm", "method.rounds=many"], "method.rounds must be an integer, got 'many'"),
    (["method=aprm", "method.oracle_reference=1"], "method.oracle_reference must be true or false"),
    (["method=aprm", "method.rewards.caught=2.0"], "method.rewards.caught: need fooled > caught > failed"),
    (["method=aprm", "method.generator_rl.num_generations=1"], "method.generator_rl.num_generations must be an int >= 2"),
    (["method=aprm", "method.setup.warm_start.epochs=0"], "method.setup.warm_start.epochs must be a positive int"),
    (["method=advrm", "method.lam=0.5"], "method.lam: Adv-RM lambda=0.5 must be a finite number > 1"),
    (["method=advrm", "method.prm_update.optimizer=sgd"], "method.prm_update.optimizer must be one of"),
    (["method=mc", "method.estimation=fuzzy"], "method.estimation must be one of ['hard', 'soft']"),
    (["method=likelihood", "method.feature=entropy"], "method.feature must be one of ['numeric_min', 'all_min']"),
    (["method=aprm", "+method.roundz=2"], "method: unknown key(s) ['roundz']"),
])
def test_a_bad_method_value_fails_composition_naming_the_key(overrides, message):
    with pytest.raises(ConfigError) as err:
        compose_config(overrides)
    assert message in str(err.value)


def test_a_baseline_ignores_the_games_keys_an_experiment_sets():
    static = compose_config(["experiment=smoke", "method=static"])["method"]
    assert static["rounds"] == 2  # the experiment's block, composed with every method
    assert asdict(build_method_config(static)) == {"name": "static"}
    with pytest.raises(ValueError, match=r"method: unknown key\(s\) \['roundz'\]"):
        build_method_config({"name": "static", "roundz": 2})


def test_the_round_config_fills_defaults_and_derives_steps():
    cfg = resolve_game_cfg({"g_steps_per_r_step": 2, "prm_update": {"steps": 5}, "seed": 7}, "advrm")
    assert cfg["seed"] == 7 and cfg["generator_rl"]["steps"] == 10
    assert cfg["prm_update"]["lr"] == AdvrmConfig().prm_update.lr and cfg["prm_update"]["steps"] == 5
    with pytest.raises(ValueError, match="method.generator_rl.steps is derived"):
        resolve_game_cfg({"generator_rl": {"steps": 3}}, "aprm")
    with pytest.raises(ValueError, match="does not match the aprm round"):
        resolve_game_cfg({"name": "advrm"}, "aprm")
