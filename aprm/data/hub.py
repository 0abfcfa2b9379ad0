"""Data from the Hugging Face hub, for a data key with no local file.

`datasets` downloads and caches the hub dataset; its rows are then written once, in the layout
of the local data folder (DEFAULT_LAYOUT), under `<datasets cache>/aprm-files/`, so the file
loaders read hub data and local files the same way. Offline (HF_HUB_OFFLINE / HF_DATASETS_OFFLINE)
with nothing cached, loading fails with a DataError naming the `data_paths` key and the hub id.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from aprm.data.errors import DataError
from aprm.io import write_text


@dataclass(frozen=True)
class HubSource:
    repo: str
    config: str | None
    splits: tuple[str, ...]  # concatenated in this order (one file), or one file each (a folder)
    folder: bool = False     # ProcessBench: <split>.json per split
    jsonl: bool = True       # one JSON object per line; False: one JSON array

    def describe(self) -> str:
        config = f" ({self.config})" if self.config else ""
        return f"{self.repo}{config}"


# data_paths key -> where it lives on the hub (file formats: see each loader in aprm.data)
HUB_SOURCES: dict[str, HubSource] = {
    "gsm8k_train": HubSource("openai/gsm8k", "main", ("train",)),
    "gsm8k_test": HubSource("openai/gsm8k", "main", ("test",)),
    "math500": HubSource("HuggingFaceH4/MATH-500", None, ("test",)),
    # SVAMP's 1,000 problems, split 700 / 300 on this mirror; the local file holds all of them
    "svamp": HubSource("ChilleD/SVAMP", None, ("train", "test"), jsonl=False),
    "processbench_dir": HubSource("Qwen/ProcessBench", None, ("gsm8k", "math", "olympiadbench", "omnimath"),
                                  folder=True, jsonl=False),
}


def _cache_dir() -> Path | None:
    """HF_DATASETS_CACHE when set (read now, so a caller can point it elsewhere), else datasets' default."""
    value = os.environ.get("HF_DATASETS_CACHE")
    return Path(value).expanduser() if value else None


def files_root() -> Path:
    import datasets

    return (_cache_dir() or Path(datasets.config.HF_DATASETS_CACHE)) / "aprm-files"


def _rows(source: HubSource, split: str, key: str) -> list[dict]:
    from datasets import load_dataset

    cache = _cache_dir()
    try:
        table = load_dataset(source.repo, source.config, split=split, cache_dir=str(cache) if cache else None)
    except Exception as err:  # datasets raises several kinds (ConnectionError, FileNotFoundError,
        # DatasetNotFoundError, ValueError) for an unreachable or uncached dataset
        raise DataError(
            f"cannot load {source.describe()} split {split!r} from the Hugging Face hub "
            f"({type(err).__name__}: {str(err)[:300]}). Offline and not cached: set data_paths.{key} "
            f"to a local file (or $APRM_DATA_ROOT to a data folder), or run once online to cache it",
            field=f"data_paths.{key}") from err
    return [dict(row) for row in table]


def _dump(rows: list[dict], jsonl: bool) -> str:
    if jsonl:
        return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    return json.dumps(rows, ensure_ascii=False)


def hub_file(key: str, target: Path) -> Path:
    """`target` (files_root() / DEFAULT_LAYOUT[key]), written from the hub unless it is there."""
    source = HUB_SOURCES[key]
    if source.folder:
        for split in source.splits:
            file = target / f"{split}.json"
            if not file.is_file():
                write_text(file, _dump(_rows(source, split, key), source.jsonl))
    elif not target.is_file():
        rows = [row for split in source.splits for row in _rows(source, split, key)]
        write_text(target, _dump(rows, source.jsonl))
    return target
