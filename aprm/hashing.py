"""Content addresses: artifacts live under <root>/<stage>/<hash of the config slice that made them>."""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path
from typing import Any


def stable_hash(obj: Any, length: int = 12) -> str:
    """Hash of a JSON-able object, independent of dict key order."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:length]


@lru_cache(maxsize=1)
def code_version() -> str:
    """Hash of the library's sources, so a code change invalidates cached stages."""
    digest = hashlib.sha256()
    package = Path(__file__).resolve().parent
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def file_hash(path: str | Path) -> str:
    """sha256 of a file's bytes: the cache key of a stage that reads a user's file, so an edited
    file is read again."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def artifact_dir(root: str | Path, stage: str, key: Any) -> Path:
    return Path(root) / stage / stable_hash(key)


def derived_seed(seed: int, *labels: Any) -> int:
    """A seed for a sub-stream of `seed` named by `labels` (e.g. an ensemble member): 31 bits of
    a hash, so no two (seed, labels) pairs collide the way `seed + 1000 * k` does at seed 1000."""
    return int(stable_hash([int(seed), *labels], length=8), 16) & 0x7FFFFFFF
