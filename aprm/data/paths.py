"""Where the real data files live: config paths first, then a default data root.

The data is never copied into the repo; it is read from `data_paths.*` when set, otherwise from
the default layout under `default_data_root()` (the shared/data folder beside the checkout), and
otherwise from the Hugging Face hub (`aprm.data.hub`), cached by `datasets`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

from aprm.data.errors import DataError

DATA_ROOT_ENV = "APRM_DATA_ROOT"
CONFIG_PREFIX = "data_paths."  # the top-level config group (data.paths interpolates it)

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


def local_data_path(paths_cfg: Mapping[str, object] | None, key: str) -> Path | None:
    """The local file for `key` (a DEFAULT_LAYOUT key): the configured path (which must exist),
    else the default location under the data root when it is there, else None (the hub's)."""
    if key not in DEFAULT_LAYOUT:
        raise ValueError(f"unknown data path key {key!r}; known: {sorted(DEFAULT_LAYOUT)}")
    configured = (paths_cfg or {}).get(key)
    if configured is None:
        root = default_data_root()
        path = root / DEFAULT_LAYOUT[key] if root is not None else None
        return path if path is not None and path.exists() else None
    if not isinstance(configured, (str, os.PathLike)) or not str(configured).strip():
        raise DataError(f"expected a path string, got {configured!r}", field=config_key(key))
    path = Path(configured).expanduser()
    if not path.exists():
        raise DataError(f"{path} does not exist (configured by {config_key(key)}); set {config_key(key)} "
                        f"to its location, or to null to load it from the Hugging Face hub")
    return path


def resolve_data_path(paths_cfg: Mapping[str, object] | None, key: str) -> Path:
    """The file for `key`: a local one (`local_data_path`), else the hub dataset written once in
    the local layout (aprm.data.hub; downloads on first use). Raises DataError naming
    `data_paths.<key>` for a configured path that does not exist, and, offline with nothing
    cached, naming the key and the hub id."""
    path = local_data_path(paths_cfg, key)
    if path is not None:
        return path
    from aprm.data.hub import files_root, hub_file

    return hub_file(key, files_root() / DEFAULT_LAYOUT[key])
