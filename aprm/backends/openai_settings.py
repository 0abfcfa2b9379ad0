"""`backend.*` settings of the openai backend: the structured config (its defaults and checks)
and the resolved settings a client runs with; every error names its key."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional
from urllib.parse import urlsplit

from aprm.backends.base import BackendConfigError
from aprm.structured import build_config, choice, int_at_least, number

MAX_BACKOFF_S = 30.0


@dataclass
class OpenAIBackendConfig:
    """Any OpenAI-compatible completions server (e.g. `vllm serve <solver dir>` in its own venv)."""

    name: str = "openai"
    base_url: str = "http://127.0.0.1:8000"
    model: Optional[str] = None  # null = the solver's model folder, the name `vllm serve DIR` serves it under
    api_key_env: Optional[str] = None  # name of an environment variable holding the key (never the key)
    concurrency: int = 8
    timeout_s: float = 120.0
    max_retries: int = 4
    backoff_s: float = 0.5

    def __post_init__(self) -> None:
        choice(self, "name", ("openai",))
        self.base_url = _base_url(self.base_url)
        int_at_least(self, 1, "concurrency", high=1024)
        int_at_least(self, 0, "max_retries", high=20)
        number(self, "timeout_s", 0.0, strict=True, high=3600.0)
        number(self, "backoff_s", 0.0, high=MAX_BACKOFF_S)


def _base_url(value: Any) -> str:
    parts = urlsplit(str(value or "").strip())
    if (parts.scheme not in ("http", "https") or not parts.hostname or parts.query
            or parts.fragment or parts.path.rstrip("/") not in ("", "/v1")):
        raise ValueError(f"base_url must look like http://HOST:PORT (optionally ending in /v1), got {value!r}")
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
        if "api_key" in backend_cfg:
            raise BackendConfigError(
                "backend.api_key: keep keys out of config (it is logged); set backend.api_key_env "
                "to the name of an environment variable that holds the key")
        try:
            cfg = build_config(OpenAIBackendConfig, backend_cfg, "backend")
        except ValueError as err:
            raise BackendConfigError(str(err)) from None
        model = cfg.model or model_dir
        if not isinstance(model, (str, os.PathLike)) or not str(model).strip():
            raise BackendConfigError(
                "backend.model: name the model the server serves (or pass the model folder)")
        api_key = None
        if cfg.api_key_env:
            api_key = environ.get(str(cfg.api_key_env))
            if not api_key:
                raise BackendConfigError(
                    f"backend.api_key_env: environment variable {cfg.api_key_env!r} is not set")
        return cls(base_url=cfg.base_url, model=str(model), api_key=api_key, concurrency=cfg.concurrency,
                   timeout_s=float(cfg.timeout_s), max_retries=cfg.max_retries, backoff_s=float(cfg.backoff_s))
