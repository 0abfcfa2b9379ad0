"""Hydra composition for flows: overrides in, a plain dict out (DictConfig would break caching)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from aprm.config_schema import ConfigValidationError, validate_config

CONF_DIR = Path(os.environ.get("APRM_CONF_DIR", Path(__file__).resolve().parent.parent / "conf"))


class ConfigError(ValueError):
    """A config that cannot be composed or fails validation, raised before any compute."""


def compose_config(overrides: list[str] | None = None) -> dict[str, Any]:
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    overrides = list(overrides or [])
    try:
        if GlobalHydra.instance().is_initialized():
            cfg = compose(config_name="config", overrides=overrides)
        else:
            with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
                cfg = compose(config_name="config", overrides=overrides)
        container = OmegaConf.to_container(cfg, resolve=True)
    except (HydraException, OmegaConfBaseException) as err:
        raise ConfigError(f"cannot compose config with overrides {overrides}: {err}") from err
    container["overrides"] = overrides
    try:
        validate_config(container)
    except ConfigValidationError as err:
        raise ConfigError(f"{err}\n(overrides: {overrides})") from err
    return container


def method_config(name: str, cfg: dict) -> dict[str, Any]:
    """The `game` config of method `name`: the run's own for the method under test; another
    method's is composed with the same non-game overrides (a Hydra composition, ~0.7 s)."""
    if name == cfg["game"]["name"]:
        return cfg["game"]
    keep = [o for o in cfg["overrides"] if not o.lstrip("+~").startswith("game")]
    return compose_config(keep + [f"game={name}"])["game"]


def method_names(cfg: dict) -> list[str]:
    """The method under test first, then the baselines it is compared with (deduplicated)."""
    names = [cfg["game"]["name"]] + list(cfg.get("compare_with") or [])
    return list(dict.fromkeys(names))
