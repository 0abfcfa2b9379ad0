"""Progress bars for long loops: shown on a terminal, silent in CI logs and captured output.

APRM_PROGRESS=0 hides them, APRM_PROGRESS=1 forces them on (e.g. when stderr goes to a pager);
unset, they show only when stderr is a TTY. A disabled bar iterates its iterable untouched.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable

from tqdm.auto import tqdm

ENV_VAR = "APRM_PROGRESS"


def progress_enabled() -> bool:
    setting = os.environ.get(ENV_VAR, "")
    if setting not in ("", "0", "1"):
        raise ValueError(f"{ENV_VAR} must be 0, 1 or unset, got {setting!r}")
    if setting:
        return setting == "1"
    return sys.stderr is not None and sys.stderr.isatty()


def progress(iterable: Iterable | None, desc: str, total: int | None = None, unit: str = "it") -> tqdm:
    """A tqdm bar on stderr that clears itself when done; iterable=None for a manual bar (.update)."""
    return tqdm(iterable, desc=desc, total=total, unit=unit, file=sys.stderr, leave=False,
                disable=not progress_enabled(), dynamic_ncols=True)


def quiet_library_bars() -> None:
    """Silence transformers' and datasets' own bars (weight loading, shard writing, map) when ours
    are off, so CI logs stay quiet; called once when a pipeline run starts. Libraries not loaded
    yet read the environment when they load (not importing them here keeps a cached run from
    paying their ~2 s import); those already loaded are switched off directly."""
    if progress_enabled():
        return
    for var in ("HF_HUB_DISABLE_PROGRESS_BARS", "HF_DATASETS_DISABLE_PROGRESS_BARS"):
        os.environ.setdefault(var, "1")
    if "huggingface_hub" in sys.modules:  # transformers follows the hub's switch
        sys.modules["huggingface_hub"].utils.disable_progress_bars()
    if "transformers" in sys.modules:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    if "datasets" in sys.modules:
        sys.modules["datasets"].disable_progress_bars()
