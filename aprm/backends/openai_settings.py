"""`backend.*` settings of the openai backend, validated; every error names its key."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Mapping
from urllib.parse import urlsplit

from aprm.backends.base import BackendConfigError

MAX_BACKOFF_S = 30.0
OPENAI_DEFAULTS: dict[str, Any] = {
    "name": "openai",
    "base_url": "http://127.0.0.1:8000",
    "model": None,          # None: the model folder, the name `vllm serve DIR` serves it under
    "api_key_env": None,    # name of the env var holding the key; keys never live in config
    "concurrency": 8,
    "timeout_s": 120.0,
    "max_retries": 4,
    "backoff_s": 0.5,
}


def _positive_int(cfg: Mapping[str, Any], key: str, low: int, high: int) -> int:
    value = cfg[key]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BackendConfigError(f"backend.{key} must be an int in [{low}, {high}], got {value!r}")
    return value


def _seconds(cfg: Mapping[str, Any], key: str, low: float, high: float, low_open: bool) -> float:
    value = cfg[key]
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ok:
        value = float(value)
        ok = (value > low if low_open else value >= low) and value <= high
    if not ok:
        bound = "(" if low_open else "["
        raise BackendConfigError(f"backend.{key} must be seconds in {bound}{low}, {high}], got {cfg[key]!r}")
    return value


def _base_url(value: Any) -> str:
    parts = urlsplit(str(value or "").strip())
    if (parts.scheme not in ("http", "https") or not parts.hostname or parts.query
            or parts.fragment or parts.path.rstrip("/") not in ("", "/v1")):
        raise BackendConfigError(
            f"backend.base_url must look like http://HOST:PORT (optionally ending in /v1), "
            f"got {value!r}")
    return f"{parts.scheme}://{parts.netloc}"


@dataclass(frozen=True)
class OpenAISettings:
    base_url: str
    model: str
    api_key: str | None = field(default=None, repr=False)
    concurrency: int = 8
    timeout_s: float = 120.0
    max_retries: int = 4
    backoff_s: float = 0.5

    @classmethod
    def from_config(cls, backend_cfg: Mapping[str, Any], model_dir: str | None = None,
                    environ: Mapping[str, str] = os.environ) -> "OpenAISettings":
        unknown = set(backend_cfg) - set(OPENAI_DEFAULTS)
        if "api_key" in unknown:
            raise BackendConfigError(
                "backend.api_key: keep keys out of config (it is logged); set backend.api_key_env "
                "to the name of an environment variable that holds the key")
        if unknown:
            raise BackendConfigError(
                f"backend: unknown key(s) {sorted(unknown)} for name 'openai' "
                f"(known: {sorted(OPENAI_DEFAULTS)})")
        cfg = {**OPENAI_DEFAULTS, **backend_cfg}
        model = cfg["model"] or model_dir
        if not isinstance(model, (str, os.PathLike)) or not str(model).strip():
            raise BackendConfigError(
                "backend.model: name the model the server serves (or pass the model folder)")
        api_key = None
        if cfg["api_key_env"]:
            api_key = environ.get(str(cfg["api_key_env"]))
            if not api_key:
                raise BackendConfigError(
                    f"backend.api_key_env: environment variable {cfg['api_key_env']!r} is not set")
        return cls(base_url=_base_url(cfg["base_url"]), model=str(model), api_key=api_key,
                   concurrency=_positive_int(cfg, "concurrency", 1, 1024),
                   timeout_s=_seconds(cfg, "timeout_s", 0.0, 3600.0, low_open=True),
                   max_retries=_positive_int(cfg, "max_retries", 0, 20),
                   backoff_s=_seconds(cfg, "backoff_s", 0.0, MAX_BACKOFF_S, low_open=False))
