"""Where the real data files live: config paths first, then a default data root.

The data is never copied into the repo; it is read from `data.paths.*` when set, otherwise from
the default layout under `default_data_root()` (the shared/data folder beside the checkout).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

from aprm.data.errors import DataError

DATA_ROOT_ENV = "APRM_DATA_ROOT"
CONFIG_PREFIX = "data.paths."

# config key -> location under the data root (the layout of shared/data, see its README)
DEFAULT_LAYOUT: dict[str, str] = {
    "gsm8k_train": "gsm8k/train.jsonl",
    "gsm8k_test": "gsm8k/test.jsonl",
    "math500": "math500/test.jsonl",
    "svamp": "svamp/SVAMP.json",
    "processbench_dir": "processbench",
}


def default_data_root() -> Path | None:
    """$APRM_DATA_ROOT if set, else the first existing of <repo>/../shared/data and
    <cwd>/../shared/data, else None."""
    env = os.environ.get(DATA_ROOT_ENV)
    if env:
        return Path(env).expanduser()
    repo_root = Path(__file__).resolve().parents[2]
    for candidate in (repo_root.parent / "shared" / "data", Path.cwd().parent / "shared" / "data"):
        if candidate.is_dir():
            return candidate
    return None


def config_key(key: str) -> str:
    return CONFIG_PREFIX + key


def resolve_data_path(paths_cfg: Mapping[str, object] | None, key: str) -> Path:
    """The path for `key` (a DEFAULT_LAYOUT key): the configured one, else the default location.

    Raises DataError naming `data.paths.<key>` when nothing is configured and no default exists,
    or when the resolved path does not exist.
    """
    if key not in DEFAULT_LAYOUT:
        raise ValueError(f"unknown data path key {key!r}; known: {sorted(DEFAULT_LAYOUT)}")
    configured = (paths_cfg or {}).get(key)
    if configured is not None:
        if not isinstance(configured, (str, os.PathLike)) or not str(configured).strip():
            raise DataError(f"expected a path string, got {configured!r}", field=config_key(key))
        path = Path(configured).expanduser()
        origin = f"configured by {config_key(key)}"
    else:
        root = default_data_root()
        if root is None:
            raise DataError(
                f"no path for {key}: set {config_key(key)} (or ${DATA_ROOT_ENV} to the folder "
                f"holding {DEFAULT_LAYOUT[key]})")
        path = root / DEFAULT_LAYOUT[key]
        origin = f"default under data root {root}"
    if not path.exists():
        raise DataError(f"{path} does not exist ({origin}); set {config_key(key)} to its location")
    return path
