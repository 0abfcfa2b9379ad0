"""Run a library stage as a cached Prefect task and report whether the cache answered."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from prefect import Task, task
from prefect.cache_policies import INPUTS, TASK_SOURCE
from prefect.filesystems import LocalFileSystem

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


def run_stage(fn: Task, name: str, results_dir: Path, **kwargs: Any) -> StageOutcome:
    """Call a stage task with results stored under the run's artifact root."""
    storage = LocalFileSystem(basepath=str(results_dir))
    start = time.perf_counter()
    state = fn.with_options(result_storage=storage).__call__(**kwargs, return_state=True)
    value = state.result()  # re-raises the stage's own exception on failure
    return StageOutcome(name, value, state.name == "Cached", time.perf_counter() - start)


def submit_stage(fn: Task, results_dir: Path, wait_for: list | None = None, **kwargs: Any):
    """Submit a stage to the flow's task runner (fan-out); resolve with `resolve_stage`."""
    storage = LocalFileSystem(basepath=str(results_dir))
    return fn.with_options(result_storage=storage).submit(**kwargs, wait_for=wait_for or [])


def resolve_stage(future, name: str) -> StageOutcome:
    future.wait()
    state = future.state
    value = state.result()
    return StageOutcome(name, value, state.name == "Cached", float(value.get("wall_s", 0.0)))
