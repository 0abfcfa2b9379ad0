"""Run a library stage as a cached Prefect task and report whether the cache answered."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from prefect import Task, get_run_logger, task
from prefect.cache_policies import INPUTS, TASK_SOURCE
from prefect.filesystems import LocalFileSystem
from prefect.task_engine import TaskRunTimeoutError
from prefect.task_runners import TaskRunner

from flows.retries import RetryPolicy

CACHE_POLICY = INPUTS + TASK_SOURCE


def stage(name: str, **options: Any) -> Callable[[Callable], Task]:
    """Decorator: a Prefect task cached on (inputs, task source), results persisted."""
    return task(name=name, cache_policy=CACHE_POLICY, persist_result=True, **options)


@dataclass
class StageOutcome:
    name: str
    value: dict
    cached: bool
    wall_s: float
    tags: dict = field(default_factory=dict)  # extra MLflow tags (method, suite, ...)
    step: int = 0  # MLflow step of the stage's metrics (the round, for game rounds)


def result_storage(results_dir: Path) -> LocalFileSystem:
    """A saved LocalFileSystem block for the run's artifact root (Prefect 3 needs result storage
    to be persisted server-side so that any process can read cached results back)."""
    from aprm.hashing import stable_hash

    storage = LocalFileSystem(basepath=str(results_dir))
    storage.save(f"aprm-results-{stable_hash(str(results_dir))}", overwrite=True)
    return storage


def run_stage(fn: Task, name: str, storage: LocalFileSystem, retry: RetryPolicy | None = None,
              **kwargs: Any) -> StageOutcome:
    """Call a stage task with results stored under the run's artifact root; `retry` adds
    retries of transient failures and a per-attempt timeout (flows.retries)."""
    start = time.perf_counter()
    options = retry.task_options() if retry else {}
    state = fn.with_options(result_storage=storage, **options).__call__(**kwargs, return_state=True)
    try:
        value = state.result()  # re-raises the stage's own exception on failure
    except TaskRunTimeoutError as err:  # only raised when `retry` set a timeout
        raise retry.timeout_error(name) from err
    return _logged(StageOutcome(name, value, state.name == "Cached", time.perf_counter() - start))


def _logged(outcome: StageOutcome) -> StageOutcome:
    get_run_logger().info("stage %-34s %s %8.2fs (compute %.2fs)", outcome.name,
                          "cached" if outcome.cached else "ran   ", outcome.wall_s,
                          float(outcome.value.get("wall_s", 0.0)))
    return outcome


def submit_stage(runner: TaskRunner, fn: Task, storage: LocalFileSystem, wait_for: list | None = None,
                 **kwargs: Any):
    """Submit a stage to a started task runner (fan-out); resolve with `resolve_stage`.
    `runner.submit` is what `Task.submit` calls with the flow's own runner."""
    return runner.submit(fn.with_options(result_storage=storage), parameters=kwargs, wait_for=wait_for or [])


def resolve_stage(future, name: str) -> StageOutcome:
    future.wait()
    state = future.state
    value = state.result()
    return _logged(StageOutcome(name, value, state.name == "Cached", float(value.get("wall_s", 0.0))))
