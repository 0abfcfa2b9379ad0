"""The `aprm-pipeline` Prefect flow: data prep -> oracle labeling -> (models, game, evaluation,
report as they land). Hydra composes the config inside the flow from `overrides`, so the CLI,
a deployment and tests all take the same path."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger

from aprm.hashing import code_version, stable_hash
from aprm.tracking import RunTracker, flatten_params, resolve_tracking_uri
from flows.config import compose_config
from flows.runtime import StageOutcome, run_stage
from flows.stages import oracle_label, prepare_data


def git_sha() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent,
                             capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def resolve_paths(cfg: dict) -> tuple[Path, Path]:
    home = Path(cfg["paths"].get("home") or os.getcwd()).resolve()
    artifacts = Path(cfg["paths"].get("artifacts") or home / "artifacts").resolve()
    artifacts.mkdir(parents=True, exist_ok=True)
    return home, artifacts


def _flow_run_id() -> str:
    from prefect.runtime import flow_run

    return str(flow_run.id or "")


@flow(name="aprm-pipeline", log_prints=True)
def aprm_pipeline(overrides: list[str] | None = None) -> dict[str, Any]:
    """Compose the config from Hydra overrides and run every stage that exists."""
    cfg = compose_config(overrides)
    return run_pipeline(cfg)


def run_pipeline(cfg: dict) -> dict[str, Any]:
    logger = get_run_logger()
    home, artifacts = resolve_paths(cfg)
    config_hash = stable_hash({k: v for k, v in cfg.items() if k not in ("overrides", "paths")})
    code = code_version()
    results_dir = artifacts / "prefect-results"
    tracker = _open_tracker(cfg, home, artifacts, config_hash)
    stages: list[StageOutcome] = []
    try:
        for seed in cfg.get("seeds") or [cfg["seed"]]:
            stages += _run_seed(cfg, int(seed), artifacts, results_dir, code)
    except BaseException:
        if tracker:
            tracker.finish("FAILED")
        raise
    summary = {
        "config_hash": config_hash,
        "git_sha": git_sha(),
        "stages": [{"name": s.name, "cached": s.cached, "wall_s": round(s.wall_s, 3),
                    "metrics": s.value.get("metrics", {}), "path": s.value.get("path")}
                   for s in stages],
    }
    if tracker:
        for outcome in stages:
            tracker.child(outcome.name, {**outcome.value.get("metrics", {}), "wall_s": outcome.wall_s},
                          tags={"stage": outcome.name.split("[")[0], "cached": str(outcome.cached),
                                "config_hash": config_hash})
        tracker.finish("FINISHED")
        summary["mlflow_run_id"] = tracker.parent_id
    for outcome in stages:
        logger.info("stage %-28s %s %7.2fs", outcome.name, "cached" if outcome.cached else "ran   ",
                    outcome.wall_s)
    return summary


def _open_tracker(cfg: dict, home: Path, artifacts: Path, config_hash: str) -> RunTracker | None:
    tracking = cfg.get("tracking", {})
    if not tracking.get("enabled", True):
        return None
    uri = resolve_tracking_uri(tracking.get("uri"), home)
    tracker = RunTracker(uri, tracking.get("experiment_name", "aprm"), home / "mlruns" / "artifacts")
    tracker.mark_stale_runs()
    tags = {"config_hash": config_hash, "git_sha": git_sha(), "prefect_flow_run_id": _flow_run_id(),
            "game": str(cfg["game"].get("name")), "seed": str(cfg["seed"]),
            "suites": ",".join(cfg["data"].get("suites", []))}
    params = {k: v for k, v in flatten_params(cfg).items() if not k.startswith("overrides")}
    tracker.start_parent(f"aprm-{cfg['game'].get('name')}-seed{cfg['seed']}", params, tags)
    return tracker


def _run_seed(cfg: dict, seed: int, artifacts: Path, results_dir: Path, code: str) -> list[StageOutcome]:
    common = {"artifacts": str(artifacts), "code": code}
    data = run_stage(prepare_data, f"prepare-data[seed={seed}]", results_dir,
                     data_cfg=cfg["data"], seed=seed, **common)
    labels = run_stage(oracle_label, f"oracle-label[seed={seed}]", results_dir,
                       splits_path=data.value["path"], oracle_cfg=cfg["oracle"], seed=seed, **common)
    return [data, labels]
