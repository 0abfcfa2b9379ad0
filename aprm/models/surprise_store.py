"""Surprise vectors kept on disk beside the solver that computed them, shared by every process.

The runner's worker processes each hold a `SurpriseReader`, and each would compute the same
request again: every method's evaluation of a suite, every game round's validation check and
every PRM fit on the static set read the same samples through the same solver. In the benchmark
that was about 8% of the work after the solver (docs/LOG.md, 2026-12-05, session 17).

A request is stored under its hash, the reader's batch size and the process's torch threads
(both change the last float bits), the library version (which defines the features) and the
solver files' sizes and times (weights written over in place are another solver). One process
computes it while an `flock` holds the others, which then read it. Vectors are float64 arrays:
every value round-trips exactly. A folder that cannot be written (a solver on read-only storage)
stores nothing.

Processes that train the same solver at once each swap their copy into place (`atomic_dir`), so
a store folder can vanish under a reader. The store never creates the solver's folder (that
would block the swap), so the lock is taken here rather than with `filelock`, which makes the
folders a lock file needs; a vanished folder is a request computed without a store.
"""

from __future__ import annotations

import fcntl
import os
import zipfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch

from aprm.hashing import code_version, stable_hash
from aprm.io import atomic_path

STORE_DIR = "surprise-store"  # inside the solver's folder: replaced with the solver, never stale

Vectors = list[list[list[float]]]


class SurpriseStore:
    """Requests' vectors under `<solver_dir>/surprise-store/<batch size, version, solver stamp>/`."""

    def __init__(self, solver_dir: str | os.PathLike, batch_size: int):
        solver = Path(solver_dir)
        stamp = stable_hash([code_version(), _files_stamp(solver)])
        folder = solver / STORE_DIR / f"b{int(batch_size)}-{stamp}"
        try:  # parents=False: a solver folder mid-swap is absent, and must not be made here
            folder.parent.mkdir(exist_ok=True)
            folder.mkdir(exist_ok=True)
            writable = os.access(folder, os.W_OK)
        except OSError:
            writable = False
        self.folder: Path | None = folder if writable else None

    def get_or_compute(self, request: str, compute: Callable[[], Vectors]) -> Vectors:
        """The stored vectors of `request`, or `compute()`'s, stored for the other processes."""
        if self.folder is None:
            return compute()
        # float sums split over threads differently: a process at another thread count computes its own
        path = self.folder / f"{request}-t{torch.get_num_threads()}.npz"
        try:
            with _exclusive(path.with_suffix(".lock")):
                return _read_or_compute(path, compute)
        except _FolderGone:  # the folder went with a solver another process swapped in
            return compute()


def _read_or_compute(path: Path, compute: Callable[[], Vectors]) -> Vectors:
    if path.is_file():
        try:
            return _read(path)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):
            pass  # not a store this version wrote: compute it again and replace it
    rows = compute()
    try:
        _write(path, rows)
    except OSError:
        pass  # a full disk or a vanished folder: this process has its answer, others compute theirs
    return rows


class _FolderGone(Exception):
    pass


@contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive `flock` on `lock_path`, created in its folder, never creating the folder.
    Each open is its own lock, so threads of one process exclude each other too."""
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except FileNotFoundError as gone:
        raise _FolderGone from gone
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _files_stamp(solver: Path) -> list:
    return sorted([entry.name, entry.stat().st_size, entry.stat().st_mtime_ns]
                  for entry in solver.iterdir() if entry.is_file()) if solver.is_dir() else []


def _write(path: Path, rows: Vectors) -> None:
    lengths = np.array([len(steps) for steps in rows], dtype=np.int64)
    flat = [vector for steps in rows for vector in steps]
    width = len(flat[0]) if flat else 0
    features = np.array(flat, dtype=np.float64).reshape(len(flat), width)
    with atomic_path(path, make_parent=False) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, lengths=lengths, features=features)


def _read(path: Path) -> Vectors:
    with np.load(path) as saved:
        lengths, features = saved["lengths"].tolist(), saved["features"].tolist()
    rows, start = [], 0
    for length in lengths:
        rows.append(features[start:start + length])
        start += length
    return rows
