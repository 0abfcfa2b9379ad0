"""What a `model.<role>` entry names (a local path or a hub id), decided without torch or
transformers so that pre-flight checks and dry runs answer in a second."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any


ROLES = ("solver", "prm", "generator")
PRM_INITS = ("fresh", "solver")  # model.prm_init: see factory.build_prm
# model.prm_kind: a token-classification transformer (trained by prm_trainer), or a logistic head
# on the frozen solver's surprise at each step (aprm.models.surprise_head)
PRM_KINDS = ("transformer", "surprise_head")
# The formats of a PRM given by model.prm (experiment=eval_prm; aprm.models.prm_formats).
PRM_FORMATS = ("native", "math_shepherd", "qwen_prm")


class ModelConfigError(ValueError):
    """A bad or unresolvable `model.*` config entry; the message names the key."""


def is_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def hf_reference(role: str, model_cfg: Mapping[str, Any]) -> str:
    """The existing local path, or the hub id, that `model.<role>` names."""
    ref = model_cfg.get(role)
    if not isinstance(ref, (str, os.PathLike)) or not str(ref).strip():
        raise ModelConfigError(f"model.{role}: expected an HF id or local path, got {ref!r}")
    local = Path(str(ref)).expanduser()
    if local.exists():
        return str(local)
    # An HF id is "name" or "org/name"; anything else is meant as a path, so say it is missing
    # instead of asking the hub for it.
    ref = str(ref)
    if ref.startswith((".", "/", "~")) or ref.count("/") > 1 or "\\" in ref:
        raise ModelConfigError(f"model.{role}: local path {ref!r} does not exist")
    return ref
