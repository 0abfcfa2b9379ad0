"""Crash-safe file writing: every artifact goes to a temp file (or staging folder) in the same
folder, then rename.

A SIGKILL skips every `finally`, so a killed writer leaves its temp behind. Temp names carry the
writer's pid and host (`.<name>.<pid>@<host>.<random>.tmp`); the next write of the same target
removes the temps of writers on this host that are gone, and leaves those of live writers alone
(parallel jobs may build the same content-addressed artifact at once).
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import socket
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator


def pid_alive(pid: int) -> bool:
    """Whether process `pid` (> 0) exists on this host."""
    if pid <= 0:  # 0 and -1 would address process groups
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


def _temp_prefix(target: Path) -> str:
    return f".{target.name}.{os.getpid()}@{socket.gethostname()}."


def sweep_stale_temps(target: Path) -> list[Path]:
    """Remove the temps beside `target` left by dead writers on this host; returns them."""
    owner = re.compile(rf"\.{re.escape(target.name)}\.(\d+)@{re.escape(socket.gethostname())}\.[^.]+\.tmp")
    stale = []
    for path in target.parent.glob(f".{glob.escape(target.name)}.*.tmp"):
        match = owner.fullmatch(path.name)
        if match and not pid_alive(int(match.group(1))):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            stale.append(path)
    return stale


@contextmanager
def atomic_path(path: str | os.PathLike, make_parent: bool = True) -> Iterator[Path]:
    """Yield a temp path beside `path`; on success fsync and rename it into place. With
    `make_parent=False` a missing folder is a FileNotFoundError instead of a new folder."""
    target = Path(path)
    if make_parent:
        target.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale_temps(target)
    fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(target), suffix=".tmp", dir=target.parent)
    os.close(fd)
    os.chmod(tmp, 0o644)  # mkstemp makes 0600; artifacts and reports are meant to be shared
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty staging folder beside `path`; on success swap it into place (replacing
    any folder there), so readers never see half a model."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale_temps(target)
    staging = Path(tempfile.mkdtemp(prefix=_temp_prefix(target), suffix=".tmp", dir=target.parent))
    os.chmod(staging, 0o755)  # mkdtemp makes 0700; see atomic_path
    retired = None
    try:
        yield staging
        if target.exists():  # two renames: os.replace cannot overwrite a non-empty folder
            retired = Path(tempfile.mkdtemp(prefix=_temp_prefix(target), suffix=".tmp", dir=target.parent))
            os.replace(target, retired / target.name)
        os.replace(staging, target)
    finally:
        for leftover in (staging, retired):
            if leftover is not None and leftover.exists():
                shutil.rmtree(leftover, ignore_errors=True)


def write_text(path: str | os.PathLike, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    return write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def write_jsonl(path: str | os.PathLike, rows: Iterable[Any]) -> Path:
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row, sort_keys=True) + "\n")
    return Path(path)


def read_json(path: str | os.PathLike) -> Any:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def read_jsonl(path: str | os.PathLike) -> list[Any]:
    """Read a JSONL artifact written by this project (trusted); data files use aprm.data loaders."""
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]
