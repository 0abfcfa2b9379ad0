"""A game's config slice (`method`: conf/method/aprm.yaml, advrm.yaml) resolved for its rounds.

The defaults and checks are the game's structured config (aprm.method_configs.AprmConfig,
AdvrmConfig): unknown keys are errors naming the key, since a typo must not fall back to a default
silently. Round-0 set-up (G's warm start, rule perturbations) is the pipeline's `method.setup`
(aprm.pipeline.game_stage); the round reads the rest, plus the seed the pipeline gives it.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Mapping

from aprm.method_configs import AdvrmConfig, AprmConfig
from aprm.structured import build_config

GAME_CONFIGS = {"aprm": AprmConfig, "advrm": AdvrmConfig}


def resolve_game_cfg(game_cfg: Mapping[str, Any], kind: str) -> dict[str, Any]:
    """The round config of game `kind` ('aprm' or 'advrm'): defaults < game_cfg, every value
    checked; `seed` (the pipeline's) passes through, `generator_rl.steps` is derived."""
    if kind not in GAME_CONFIGS:
        raise ValueError(f"game kind must be one of {list(GAME_CONFIGS)}, got {kind!r}")
    cfg = dict(game_cfg)
    seed = cfg.pop("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"method.seed must be an int, got {seed!r}")
    if cfg.setdefault("name", kind) != kind:
        raise ValueError(f"method.name={cfg['name']!r} does not match the {kind} round")
    if "steps" in (cfg.get("generator_rl") or {}):
        raise ValueError("method.generator_rl.steps is derived: set method.g_steps_per_r_step (G steps per R step)")
    out = asdict(build_config(GAME_CONFIGS[kind], cfg, "method"))
    out["seed"] = seed
    # built and checked above; what the round adds: G's step count (a product of positive ints)
    # and the seed keys the round overwrites with its own
    out["generator_rl"].update(steps=out["g_steps_per_r_step"] * out["prm_update"]["steps"], seed=0)
    out["prm_update"]["seed"] = 0
    return out


__all__ = ["resolve_game_cfg"]
