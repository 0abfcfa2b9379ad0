"""Thin Prefect tasks over the library stages. Inputs are plain dicts and paths; outputs are
artifact paths plus small metric dicts, never tensors. `code` (the library's source hash) is an
input so that a library change invalidates the cache; `artifacts` so each root caches apart."""

from __future__ import annotations

import time
from pathlib import Path

from aprm.hashing import artifact_dir
from flows.runtime import stage


@stage("prepare-data")
def prepare_data(data_cfg: dict, seed: int, artifacts: str, code: str) -> dict:
    from aprm.data import build_splits
    from aprm.io import write_json

    start = time.perf_counter()
    out = artifact_dir(artifacts, "data", {"data": data_cfg, "seed": seed, "code": code})
    splits = build_splits(data_cfg, seed)
    write_json(out / "splits.json", splits.to_dict())
    metrics = {"train": len(splits.train), "val": len(splits.val), "skipped_rows": splits.skipped}
    metrics.update({f"suite_{name}": len(rows) for name, rows in splits.suites.items()})
    return {"path": str(out / "splits.json"), "metrics": metrics,
            "skip_reasons": splits.skip_reasons[:20], "wall_s": time.perf_counter() - start}


@stage("oracle-label")
def oracle_label(splits_path: str, oracle_cfg: dict, seed: int, artifacts: str, code: str) -> dict:
    from aprm.labeling import label_static_set

    start = time.perf_counter()
    out = artifact_dir(artifacts, "oracle", {"splits": splits_path, "oracle": oracle_cfg,
                                             "seed": seed, "code": code})
    metrics = label_static_set(Path(splits_path), oracle_cfg, seed, out / "static.jsonl")
    return {"path": str(out / "static.jsonl"), "metrics": metrics,
            "wall_s": time.perf_counter() - start}
