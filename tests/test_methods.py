"""The method registry: a method registered in one call runs through the real flow, and a bad
registration or name fails clearly."""

from __future__ import annotations

import json

import pytest

from aprm.methods import REGISTRY, Method, get_method, register

pytestmark = pytest.mark.slow
TOY = "static_half"


def static_half_items(method_cfg, inputs):
    """The toy method's items: the static set's items of every other problem."""
    from aprm.pipeline.prm_stage import static_items

    items = static_items(inputs["static"])
    kept = sorted({problem.id for problem, _, _ in items})[::2]
    return [item for item in items if item[0].id in kept]


@pytest.fixture
def toy_method():
    register(Method(TOY, "toy: PRM on half of the static set", items=f"{__name__}:static_half_items",
                    inputs=("static",)))
    yield REGISTRY[TOY]
    del REGISTRY[TOY]


def test_a_registered_method_runs_through_the_flow(toy_method, prefect_server, tmp_path):
    from flows.pipeline import aprm_pipeline

    summary = aprm_pipeline(overrides=["debug=fast", f"method.name={TOY}", "compare_with=[static]",
                                       f"paths.home={tmp_path}", "tracking.enabled=false"])
    names = [stage["name"] for stage in summary["stages"]]
    assert f"train-prm[{TOY},seed=0]" in names and f"evaluate[{TOY},id,seed=0]" in names
    results = json.loads(open(summary["results"], encoding="utf-8").read())
    assert results["methods"] == [TOY, "static"]
    trained = {s["name"]: s["metrics"]["train_items"] for s in summary["stages"] if s["name"].startswith("train-prm")}
    # the registered function built the toy's items: about half of the static PRM's
    half, full = trained[f"train-prm[{TOY},seed=0]"], trained["train-prm[static,seed=0]"]
    assert 0.3 * full < half < 0.7 * full


def test_registration_is_checked_and_unknown_names_are_named():
    with pytest.raises(ValueError, match="exactly one of items, fit or play_round"):
        Method("both", "bad", items="m:f", fit="m:g")
    with pytest.raises(ValueError, match=r"unknown inputs \['samples'\]"):
        Method("bad_inputs", "bad", items="m:f", inputs=("samples",))
    with pytest.raises(ValueError, match=r"method.name='nope' is not a registered method"):
        get_method("nope")


def test_unregistered_method_is_a_config_error_naming_the_key():
    from flows.config import ConfigError, compose_config

    with pytest.raises(ConfigError, match=rf"method.name='{TOY}' is not a registered method"):
        compose_config([f"method.name={TOY}"])


def test_cache_keys_hold_only_what_training_reads():
    assert get_method("mc").cache_cfg({"name": "mc", "rollouts": 4, "estimation": "soft"}) == \
        {"name": "mc", "estimation": "soft"}
    assert get_method("static").cache_cfg({"name": "static", "anything": 1}) == {"name": "static"}
    assert get_method("mc").soft_labels({"estimation": "soft"}) and not get_method("mc").soft_labels({})
    assert [m for m in REGISTRY if REGISTRY[m].is_game] == ["aprm", "advrm"]
