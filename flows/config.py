"""Hydra composition for flows: overrides in, a plain dict out (DictConfig would break caching)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

from aprm.run_config import ConfigValidationError, validate_config
from flows.deprecations import translate_overrides

CONF_DIR = Path(os.environ.get("APRM_CONF_DIR", Path(__file__).resolve().parent.parent / "conf"))


def _register_structured_configs() -> None:
    """Every config's defaults, written once, in Python (aprm.run_config, aprm.group_configs,
    aprm.method_configs): `base_config` (the top-level keys) and `<group>/base_<option>`, the bases
    that conf/config.yaml and conf/<group>/<option>.yaml compose on. Stored as plain dicts, not
    typed nodes: a composed value stays exactly as written (so config hashes do not move), and an
    experiment sets the games' keys in the same `method` block that the baselines are composed
    with; validation (aprm.run_config.validate_config) reads the dataclasses."""
    from dataclasses import asdict

    from hydra.core.config_store import ConfigStore

    from aprm.group_configs import (
        MODEL_CONFIGS, DataConfig, EvalConfig, OracleConfig, TrackingConfig, backend_configs,
    )
    from aprm.train_configs import TrainConfig
    from aprm.methods import REGISTRY
    from aprm.run_config import RunConfig

    store = ConfigStore.instance()
    top = asdict(RunConfig())
    del top["overrides"]  # compose_config sets it
    store.store(name="base_config", node=top)
    options = {
        "data": {"data": DataConfig}, "oracle": {"oracle": OracleConfig}, "model": MODEL_CONFIGS,
        "train": {"train": TrainConfig}, "eval": {"eval": EvalConfig}, "backend": backend_configs(),
        "tracking": {"tracking": TrackingConfig},
    }
    for group, classes in options.items():
        for name, cls in classes.items():
            store.store(group=group, name=f"base_{name}", node=asdict(cls()))
    for name, method in REGISTRY.items():
        store.store(group="method", name=f"base_{name}", node={**asdict(method.config()), "name": name})


_register_structured_configs()


class ConfigError(ValueError):
    """A config that cannot be composed or fails validation, raised before any compute."""


def compose_config(overrides: list[str] | None = None) -> dict[str, Any]:
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    overrides, renamed = translate_overrides(overrides or [])
    for message in renamed:
        warnings.warn(message, FutureWarning, stacklevel=2)
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
    """The `method` config of method `name`: the run's own for the method under test; another
    method's is composed with the same overrides but those of the method group (a Hydra
    composition, ~0.7 s)."""
    if name == cfg["method"]["name"]:
        return cfg["method"]
    keep = [o for o in cfg["overrides"] if o.lstrip("+~").split("=")[0].split(".")[0] != "method"]
    return compose_config(keep + [f"method={name}"])["method"]


def method_names(cfg: dict) -> list[str]:
    """The method under test first, then the baselines it is compared with (deduplicated)."""
    names = [cfg["method"]["name"]] + list(cfg.get("compare_with") or [])
    return list(dict.fromkeys(names))
