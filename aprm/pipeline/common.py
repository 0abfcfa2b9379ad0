"""Small shared helpers for stage functions: reading splits, seeding, thread limits."""

from __future__ import annotations

import random
from pathlib import Path

from aprm.data import Splits
from aprm.io import read_json


def load_splits(path: str | Path) -> Splits:
    return Splits.from_dict(read_json(path))


def seed_everything(seed: int, threads: int | None = None) -> None:
    """Seed Python and torch, and pin torch's thread count (results depend on it on CPU)."""
    import torch

    random.seed(seed)
    torch.manual_seed(seed)
    if threads:
        torch.set_num_threads(int(threads))
