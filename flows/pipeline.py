"""The `aprm-pipeline` Prefect flow: Hydra composes the config inside the flow from `overrides`
(so the CLI, a deployment and tests all take the same path), the library's plan
(aprm.pipeline.plan) runs every stage through Prefect's cached tasks, and the run is tracked in
MLflow."""

from __future__ import annotations

import math
import os
import subprocess
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger

from aprm.hashing import code_version, stable_hash
from aprm.progress import quiet_library_bars
from aprm.tracking import RunTracker, flatten_params, resolve_tracking_uri
from aprm.pipeline.eval_prm_plan import run_eval_prm
from aprm.pipeline.plan import PlanResult, run_plan
from aprm.pipeline.runner_hook import StageOutcome
from flows.config import compose_config, method_config, method_names
from flows.runtime import PrefectStageRunner, result_storage
from flows.task_runners import started_task_runner


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


# No task_runner here: the fan-out goes to the runner the composed config names (flows.task_runners).
@flow(name="aprm-pipeline", log_prints=True)
def aprm_pipeline(overrides: list[str] | None = None) -> dict[str, Any]:
    """Compose the config from Hydra overrides and run every stage that exists."""
    cfg = compose_config(overrides)
    quiet_library_bars()
    return run_pipeline(cfg)


def run_pipeline(cfg: dict) -> dict[str, Any]:
    logger = get_run_logger()
    home, artifacts = resolve_paths(cfg)
    # retry, runner and dry-run settings change how a run executes, never what it computes
    config_hash = stable_hash({k: v for k, v in cfg.items()
                               if k not in ("overrides", "paths", "stage_retries", "runner", "dry_run",
                                            "verbose")})
    code = code_version()
    storage = result_storage(artifacts / "prefect-results")
    games = {method: method_config(method, cfg) for method in method_names(cfg)}  # once, not per seed
    tracker = _open_tracker(cfg, home, artifacts, config_hash)
    try:
        with started_task_runner(cfg["runner"]) as task_runner:
            runner = PrefectStageRunner(storage, task_runner, cfg, _child_run_logger(tracker, config_hash))
            if cfg.get("eval_prm"):
                plan = run_eval_prm(cfg, runner, artifacts, code, config_hash, git_sha())
            else:
                plan = run_plan(cfg, games, runner, artifacts, code, config_hash, git_sha())
    except BaseException:
        if tracker:
            tracker.finish("FAILED")
        raise
    objectives = [r.objective for r in plan.per_seed if r.objective is not None]
    summary = {
        "config_hash": config_hash,
        "flow_run_id": _flow_run_id(),
        "git_sha": git_sha(),
        "results": plan.report_paths["results"],
        "report": plan.report_paths.get("markdown"),
        "html": plan.report_paths.get("html"),
        "objective": sum(objectives) / len(objectives) if objectives else None,
        "stages": [_stage_row(o) for o in plan.outcomes],
    }
    if tracker:
        _log_to_mlflow(tracker, plan, config_hash, summary["objective"])
        summary["mlflow_run_id"] = tracker.parent_id
        summary["tracking_uri"] = tracker.uri
    _publish_markdown(plan.report_paths.get("markdown"))
    logger.info("results: %s", plan.report_paths["results"])
    return summary


def _stage_row(outcome: StageOutcome) -> dict:
    return {"name": outcome.name, "cached": outcome.cached, "wall_s": round(outcome.wall_s, 3),
            "metrics": {k: (float(v) if math.isfinite(v) else None)
                        for k, v in outcome.value.get("metrics", {}).items()
                        if isinstance(v, (int, float)) and not isinstance(v, bool)},
            "path": outcome.value.get("path")}


def _child_run_logger(tracker: RunTracker | None, config_hash: str):
    """One MLflow child run per stage that ran, logged as it finishes (a killed run keeps the
    stages it completed). A stage taken from cache has its child run already, under the parent
    run that computed it: a fully cached re-run logs no child (`aprm compare` reads the latest)."""
    logged: set[str] = set()

    def log(outcome: StageOutcome) -> None:
        if tracker is None or outcome.cached or outcome.name in logged:
            return
        logged.add(outcome.name)
        tags = {"stage": outcome.name.split("[")[0], "config_hash": config_hash, **outcome.tags}
        run_id = tracker.child(outcome.name, {**outcome.value.get("metrics", {}), "wall_s": outcome.wall_s},
                               tags=tags, step=outcome.step)
        for row in outcome.value.get("curve", ()):  # an RL run's curve: MLflow step = RL step
            tracker.log_metrics(run_id, {k: v for k, v in row.items() if k != "step" and v is not None},
                                step=int(row["step"]))

    return log


def _log_to_mlflow(tracker: RunTracker, plan: PlanResult, config_hash: str, objective: float | None) -> None:
    cached = sum(o.cached for o in plan.outcomes)
    tracker.log_metrics(tracker.parent_id, {"stages_ran": len(plan.outcomes) - cached, "stages_cached": cached})
    for seed_result in plan.per_seed:  # round curves on the parent too, so the UI charts them
        for row in seed_result.rounds:
            tracker.log_metrics(tracker.parent_id, {f"{row['method']}/{k}": v
                                                    for k, v in row["metrics"].items()}, step=row["round"])
    for key in ("results", "markdown", "html"):
        if plan.report_paths.get(key):
            tracker.log_artifact(tracker.parent_id, plan.report_paths[key], "report")
    if objective is not None:
        tracker.log_metrics(tracker.parent_id, {"objective_id_val": objective})
    tracker.finish("FINISHED")


def _publish_markdown(path: str | None) -> None:
    if not path:
        return
    from prefect.artifacts import create_markdown_artifact

    create_markdown_artifact(Path(path).read_text(encoding="utf-8"), key="aprm-report",
                             description="aprm results (report.md)")


def _open_tracker(cfg: dict, home: Path, artifacts: Path, config_hash: str) -> RunTracker | None:
    tracking = cfg.get("tracking", {})
    if not tracking.get("enabled", True):
        return None
    uri = resolve_tracking_uri(tracking.get("uri"), home)
    tracker = RunTracker(uri, tracking.get("experiment_name", "aprm"), home / "mlruns" / "artifacts")
    tracker.mark_stale_runs()
    tags = {"config_hash": config_hash, "git_sha": git_sha(), "prefect_flow_run_id": _flow_run_id(),
            "method": str(cfg["method"].get("name")), "seed": str(cfg["seed"]),
            "suites": ",".join(cfg["data"].get("suites", []))}
    params = {k: v for k, v in flatten_params(cfg).items() if not k.startswith("overrides")}
    seeds = cfg.get("seeds") or [cfg["seed"]]
    tracker.start_parent(f"aprm-{cfg['method'].get('name')}-seed{'s' * (len(seeds) > 1)}{','.join(map(str, seeds))}",
                         params, tags)
    return tracker
