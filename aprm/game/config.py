"""The `game` config slice (conf/game/aprm.yaml, advrm.yaml) resolved against defaults.

Unknown keys are errors naming the key: a typo must not fall back to a default silently.
Round-0 set-up (G's warm start, rule perturbations) is not here: the pipeline's `game.setup`
passes it to `generator.perturbation_pairs` / `warm_start_generator` (WARM_START_DEFAULTS).
"""

from __future__ import annotations

import math
from typing import Any, Mapping

from aprm.game.advrm import DISAGREEMENT_KINDS, Z_KEEP, check_lambda
from aprm.game.generator_rl import GRPO_DEFAULTS, resolve_grpo_cfg
from aprm.game.prm_update import PRM_UPDATE_DEFAULTS, resolve_prm_update_cfg
from aprm.game.replay import POLICIES
from aprm.game.rewards import RewardConfig

GAME_KINDS = ("aprm", "advrm")
COMMON_DEFAULTS: dict[str, Any] = {
    "name": None,  # the Hydra group option; checked against the round kind when given
    "rounds": 3,
    "seed": 0,
    "g_steps_per_r_step": 1,  # G's GRPO steps = this * prm_update.steps
    "slots_per_round": 64,  # training slots G practises on in a round
    "scorer_batch_size": 32,
    "oracle_reference": True,  # give the oracle the reference solution (enables its progress rule)
    "probe": {"slots": 32, "temperature": 1.0, "max_new_tokens": 40, "kl_slots": 16},
    "replay": {"capacity": 2048, "policy": "fifo", "seed": 0},
}
ADVRM_DEFAULTS: dict[str, Any] = {
    "ensemble_size": 2,
    "lam": 2.0,
    "z_threshold": Z_KEEP,
    "disagreement": "signed",
    "z_baseline": "reference",  # reference: z against disagreement on positives; batch: the batch itself
}
_PROBE_KEYS = set(COMMON_DEFAULTS["probe"])
_REPLAY_KEYS = set(COMMON_DEFAULTS["replay"])


def _positive_int(cfg: Mapping[str, Any], key: str, where: str) -> int:
    value = cfg[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{where}.{key} must be a positive int, got {value!r}")
    return value


def _sub(cfg: Mapping[str, Any], key: str, allowed: set[str], defaults: Mapping[str, Any]) -> dict[str, Any]:
    given = dict(cfg.get(key) or {})
    unknown = set(given) - allowed
    if unknown:
        raise ValueError(f"game.{key}: unknown key(s) {sorted(unknown)}")
    return {**defaults, **given}


def resolve_game_cfg(game_cfg: Mapping[str, Any], kind: str) -> dict[str, Any]:
    """Defaults < game_cfg for kind 'aprm' or 'advrm'; every value is checked."""
    if kind not in GAME_KINDS:
        raise ValueError(f"game kind must be one of {GAME_KINDS}, got {kind!r}")
    cfg = dict(game_cfg)
    nested = {"rewards", "generator_rl", "prm_update", "probe", "replay"}
    allowed = set(COMMON_DEFAULTS) | nested | (set(ADVRM_DEFAULTS) if kind == "advrm" else set())
    unknown = set(cfg) - allowed
    if unknown:
        raise ValueError(f"game ({kind}): unknown key(s) {sorted(unknown)}")
    if cfg.get("name") not in (None, kind):
        raise ValueError(f"game.name={cfg['name']!r} does not match the {kind} round")
    out: dict[str, Any] = {**COMMON_DEFAULTS, **(ADVRM_DEFAULTS if kind == "advrm" else {})}
    out.update({k: v for k, v in cfg.items() if k not in nested})
    for key in ("rounds", "g_steps_per_r_step", "slots_per_round", "scorer_batch_size"):
        _positive_int(out, key, "game")
    if not isinstance(out["oracle_reference"], bool):
        raise ValueError(f"game.oracle_reference must be true or false, got {out['oracle_reference']!r}")
    if isinstance(out["seed"], bool) or not isinstance(out["seed"], int):
        raise ValueError(f"game.seed must be an int, got {out['seed']!r}")
    out["rewards"] = RewardConfig.from_dict(cfg.get("rewards")).to_dict()
    rl = dict(cfg.get("generator_rl") or {})
    if "steps" in rl:
        raise ValueError("game.generator_rl.steps is derived: set game.g_steps_per_r_step (G steps per R step)")
    out["prm_update"] = resolve_prm_update_cfg(dict(cfg.get("prm_update") or {}))
    rl["steps"] = out["g_steps_per_r_step"] * out["prm_update"]["steps"]
    out["generator_rl"] = resolve_grpo_cfg(rl)
    out["probe"] = _sub(cfg, "probe", _PROBE_KEYS, COMMON_DEFAULTS["probe"])
    for key in ("slots", "max_new_tokens", "kl_slots"):
        _positive_int(out["probe"], key, "game.probe")
    temp = out["probe"]["temperature"]
    if isinstance(temp, bool) or not isinstance(temp, (int, float)) or not math.isfinite(temp) or temp <= 0:
        raise ValueError(f"game.probe.temperature must be > 0, got {temp!r}")
    out["replay"] = _sub(cfg, "replay", _REPLAY_KEYS, COMMON_DEFAULTS["replay"])
    _positive_int(out["replay"], "capacity", "game.replay")
    if out["replay"]["policy"] not in POLICIES:
        raise ValueError(f"game.replay.policy must be one of {POLICIES}, got {out['replay']['policy']!r}")
    if kind == "advrm":
        if isinstance(out["ensemble_size"], bool) or not isinstance(out["ensemble_size"], int) or out["ensemble_size"] < 2:
            raise ValueError(f"game.ensemble_size must be an int >= 2, got {out['ensemble_size']!r}")
        out["lam"] = check_lambda(out["lam"])
        if out["disagreement"] not in DISAGREEMENT_KINDS:
            raise ValueError(f"game.disagreement must be one of {DISAGREEMENT_KINDS}, got {out['disagreement']!r}")
        if out["z_baseline"] not in ("reference", "batch"):
            raise ValueError(f"game.z_baseline must be 'reference' or 'batch', got {out['z_baseline']!r}")
        z = out["z_threshold"]
        if isinstance(z, bool) or not isinstance(z, (int, float)) or not math.isfinite(z):
            raise ValueError(f"game.z_threshold must be a finite number, got {z!r}")
    return out


__all__ = ["ADVRM_DEFAULTS", "COMMON_DEFAULTS", "GAME_KINDS", "GRPO_DEFAULTS", "PRM_UPDATE_DEFAULTS", "resolve_game_cfg"]
