"""The `aprm-pipeline` Prefect flow: data prep -> oracle labeling -> (models, game, evaluation,
report as they land). Hydra composes the config inside the flow from `overrides`, so the CLI,
a deployment and tests all take the same path."""

from __future__ import annotations

import math
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.task_runners import TaskRunner

from aprm.hashing import code_version, stable_hash
from aprm.progress import quiet_library_bars
from aprm.tracking import RunTracker, flatten_params, resolve_tracking_uri
from flows.config import compose_config, method_config, method_names, sampling_settings
from flows.retries import RetryPolicy
from flows.runtime import StageOutcome, resolve_stage, result_storage, run_stage, submit_stage
from flows.stages import (evaluate, mc_rollouts, oracle_label, prepare_data, report, sample_solutions,
                          train_prm, train_solver)
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
    results_dir = result_storage(artifacts / "prefect-results")
    seeds = [int(s) for s in (cfg.get("seeds") or [cfg["seed"]])]
    games = {method: method_config(method, cfg) for method in method_names(cfg)}  # once, not per seed
    tracker = _open_tracker(cfg, home, artifacts, config_hash)
    outcomes: list[StageOutcome] = []
    try:
        with started_task_runner(cfg["runner"]) as runner:
            per_seed = [_run_seed(cfg, games, seed, artifacts, results_dir, code, runner) for seed in seeds]
        earlier: set[str] = set()
        for outcome in (o for seed_result in per_seed for o in seed_result.stages):
            # a stage shared across seeds (solver_seed) or methods (the static PRM is R_0 of every
            # game) is listed, reported and logged to MLflow once: where it first ran
            if outcome.name not in earlier:
                outcomes.append(outcome)
                earlier.add(outcome.name)
        report_inputs = {
            "name": cfg.get("name") or f"{cfg['game']['name']}-{cfg['data']['source']}",
            "config_hash": config_hash, "git_sha": git_sha(), "seeds": seeds,
            "methods": method_names(cfg), "suites": list(cfg["data"]["suites"]),
            "runs": [run for r in per_seed for run in r.runs],
            "rounds": [row for r in per_seed for row in r.rounds],
            # compute time as first measured (stable under caching), so a re-run's report is cached too
            "stages": [{"name": o.name, "wall_s": round(float(o.value.get("wall_s", 0.0)), 3),
                        "path": o.value.get("path")} for o in outcomes],
        }
        report_cfg = {"headline_aggregation": cfg["eval"]["headline_aggregation"], **cfg["eval"]["report"]}
        outcomes.append(run_stage(report, "report", results_dir, results_inputs=report_inputs,
                                  report_cfg=report_cfg, artifacts=str(artifacts), code=code))
    except BaseException:
        if tracker:
            tracker.finish("FAILED")
        raise
    report_paths = outcomes[-1].value["paths"]
    objectives = [r.objective for r in per_seed if r.objective is not None]
    summary = {
        "config_hash": config_hash,
        "flow_run_id": _flow_run_id(),
        "git_sha": git_sha(),
        "results": report_paths["results"],
        "report": report_paths.get("markdown"),
        "html": report_paths.get("html"),
        "objective": sum(objectives) / len(objectives) if objectives else None,
        "stages": [_stage_row(o) for o in outcomes],
    }
    if tracker:
        _log_to_mlflow(tracker, outcomes, per_seed, report_paths, config_hash, summary["objective"])
        summary["mlflow_run_id"] = tracker.parent_id
        summary["tracking_uri"] = tracker.uri
    _publish_markdown(report_paths.get("markdown"))
    logger.info("results: %s", report_paths["results"])
    return summary


def _stage_row(outcome: StageOutcome) -> dict:
    return {"name": outcome.name, "cached": outcome.cached, "wall_s": round(outcome.wall_s, 3),
            "metrics": {k: (float(v) if math.isfinite(v) else None)
                        for k, v in outcome.value.get("metrics", {}).items()
                        if isinstance(v, (int, float)) and not isinstance(v, bool)},
            "path": outcome.value.get("path")}


def _log_to_mlflow(tracker: RunTracker, outcomes, per_seed, report_paths: dict, config_hash: str,
                   objective: float | None) -> None:
    for outcome in outcomes:
        stage_name = outcome.name.split("[")[0]
        tags = {"stage": stage_name, "cached": str(outcome.cached), "config_hash": config_hash}
        tags.update(outcome.tags)
        tracker.child(outcome.name, {**outcome.value.get("metrics", {}), "wall_s": outcome.wall_s},
                      tags=tags, step=outcome.step)
    for seed_result in per_seed:  # round curves on the parent too, so the UI charts them
        for row in seed_result.rounds:
            tracker.log_metrics(tracker.parent_id, {f"{row['method']}/{k}": v
                                                    for k, v in row["metrics"].items()}, step=row["round"])
    for key in ("results", "markdown", "html"):
        if report_paths.get(key):
            tracker.log_artifact(tracker.parent_id, report_paths[key], "report")
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
            "game": str(cfg["game"].get("name")), "seed": str(cfg["seed"]),
            "suites": ",".join(cfg["data"].get("suites", []))}
    params = {k: v for k, v in flatten_params(cfg).items() if not k.startswith("overrides")}
    seeds = cfg.get("seeds") or [cfg["seed"]]
    tracker.start_parent(f"aprm-{cfg['game'].get('name')}-seed{'s' * (len(seeds) > 1)}{','.join(map(str, seeds))}",
                         params, tags)
    return tracker


@dataclass
class SeedResult:
    stages: list[StageOutcome]
    runs: list[dict]
    rounds: list[dict]
    objective: float | None


def _run_seed(cfg: dict, games: dict[str, dict], seed: int, artifacts: Path, results_dir: Path, code: str,
              runner: TaskRunner) -> SeedResult:
    common = {"artifacts": str(artifacts), "code": code, "seed": seed}
    compute = {**common, "threads": int(cfg["threads"])}
    tag = f"seed={seed}"
    base_seed = seed if cfg.get("solver_seed") is None else int(cfg["solver_seed"])
    base, base_compute = {**common, "seed": base_seed}, {**compute, "seed": base_seed}
    base_tag = f"seed={base_seed}"
    data = run_stage(prepare_data, f"prepare-data[{base_tag}]", results_dir,
                     data_cfg=cfg["data"], **base)
    labels = run_stage(oracle_label, f"oracle-label[{base_tag}]", results_dir,
                       splits_path=data.value["path"], oracle_cfg=cfg["oracle"], **base)
    solver = run_stage(train_solver, f"train-solver[{base_tag}]", results_dir, splits_path=data.value["path"],
                       model_cfg=cfg["model"], train_cfg=cfg["train"]["solver"], **base_compute)
    stages = [data, labels, solver]
    sample_args = {"solver_dir": solver.value["path"], "splits_path": data.value["path"],
                   "backend_cfg": cfg["backend"], **compute}
    sampling_retry = RetryPolicy.from_config(cfg, "sample_solutions")
    pool_cfg = cfg["train"]["pool"]
    pool = run_stage(sample_solutions, f"sample-solutions[pool,{tag}]", results_dir, suite="pool",
                     retry=sampling_retry,
                     eval_cfg={**sampling_settings(cfg["eval"]), "n_samples": int(pool_cfg["samples"])},
                     limit=int(pool_cfg["problems"]), **sample_args)
    samples = {suite: run_stage(sample_solutions, f"sample-solutions[{suite},{tag}]", results_dir,
                                suite=suite, retry=sampling_retry, eval_cfg=sampling_settings(cfg["eval"]), **sample_args)
               for suite in ["val", *cfg["data"]["suites"]]}
    stages += [pool, *samples.values()]
    inputs = {"splits": data.value["path"], "tokenizer_dir": solver.value["path"],
              "val_samples": samples["val"].value["path"],
              "static": labels.value["path"], "pool": pool.value["path"]}
    prm_dirs: dict[str, str] = {}
    rounds: list[dict] = []
    for method, method_cfg in games.items():
        trained = train_method(method, method_cfg, cfg, inputs, compute, results_dir, tag)
        stages += trained.stages
        rounds += trained.rounds
        prm_dirs[method] = trained.prm_dir
    futures = {(method, suite): submit_stage(runner, evaluate, results_dir, method=method, suite=suite,
                                             prm_dir=prm_dir, samples_path=samples[suite].value["path"],
                                             eval_cfg=cfg["eval"], seed=seed,
                                             threads=int(cfg["threads"]), code=code)
               for method, prm_dir in prm_dirs.items() for suite in samples}
    runs, objective = [], None
    for (method, suite), future in futures.items():
        outcome = resolve_stage(future, f"evaluate[{method},{suite},{tag}]")
        outcome.tags = {"method": method, "suite": suite, "seed": str(seed)}
        stages.append(outcome)
        if suite == "val":
            if method == cfg["game"]["name"]:
                objective = _objective(outcome.value["run"], cfg["eval"])
        else:
            runs.append(outcome.value["run"])
    return SeedResult(stages, runs, rounds, objective)


def _objective(run: dict, eval_cfg: dict) -> float:
    """ID-validation best-of-N with the headline aggregation: what sweeps tune on."""
    curve = run["best_of_n"][eval_cfg["headline_aggregation"]]
    return float(curve[str(run["n_max"])])


@dataclass
class MethodResult:
    prm_dir: str
    stages: list[StageOutcome] = field(default_factory=list)
    rounds: list[dict] = field(default_factory=list)


def train_method(method: str, method_cfg: dict, cfg: dict, inputs: dict, compute: dict,
                 results_dir: Path, tag: str) -> MethodResult:
    """Train one method's scorer (aprm.methods): a baseline PRM, or the rounds of a game."""
    from aprm.methods import get_method

    spec = get_method(method)
    if spec.is_game:
        from flows.game import run_game

        return run_game(method, method_cfg, cfg, inputs, compute, results_dir, tag)
    stages = []
    if "mc" in spec.inputs:
        mc = run_stage(mc_rollouts, f"mc-rollouts[{tag}]", results_dir, solver_dir=inputs["tokenizer_dir"],
                       pool_path=inputs["pool"], method_cfg=method_cfg, eval_cfg=sampling_settings(cfg["eval"]),
                       **compute)
        stages.append(mc)
        inputs = {**inputs, "mc": mc.value["path"]}
    # what the method's PRM reads (the cache key: nothing else); a fit without items reads no static set
    needed = () if spec.fit else ("static", *spec.inputs)
    prm_inputs = {k: inputs[k] for k in ("tokenizer_dir", "val_samples", *needed)}
    prm = run_stage(train_prm, f"train-prm[{method},{tag}]", results_dir, method=method,
                    method_cfg=spec.cache_cfg(method_cfg), inputs=prm_inputs, model_cfg=cfg["model"],
                    train_cfg=cfg["train"]["prm"], **compute)
    prm.tags = {"method": method}
    return MethodResult(prm.value["path"], stages + [prm])
