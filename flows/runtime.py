"""The plan's stage runner under Prefect: each library stage (aprm.pipeline.stages) becomes a
cached task with persisted results; retries come from `stage_retries`, the fan-out goes to the
configured task runner. This is all Prefect does for a run."""

from __future__ import annotations

import functools
import time
from pathlib import Path
from typing import Any, Callable

from prefect import Task, get_run_logger, task
from prefect.cache_policies import INPUTS, TASK_SOURCE
from prefect.filesystems import LocalFileSystem
from prefect.task_engine import TaskRunTimeoutError
from prefect.task_runners import TaskRunner

from aprm.pipeline.runner_hook import StageOutcome
from flows.retries import RetryPolicy

CACHE_POLICY = INPUTS + TASK_SOURCE


def stage(name: str, **options: Any) -> Callable[[Callable], Task]:
    """Decorator: a Prefect task cached on (inputs, task source), results persisted."""
    return task(name=name, cache_policy=CACHE_POLICY, persist_result=True, **options)


def result_storage(results_dir: Path) -> LocalFileSystem:
    """A saved LocalFileSystem block for the run's artifact root (Prefect 3 needs result storage
    to be persisted server-side so that any process can read cached results back)."""
    from aprm.hashing import stable_hash

    storage = LocalFileSystem(basepath=str(results_dir))
    storage.save(f"aprm-results-{stable_hash(str(results_dir))}", overwrite=True)
    return storage


def run_stage(fn: Task, name: str, storage: LocalFileSystem, retry: RetryPolicy | None = None,
              tags: dict | None = None, step: int = 0, **kwargs: Any) -> StageOutcome:
    """Call a stage task with results stored under the run's artifact root; `retry` adds
    retries of transient failures and a per-attempt timeout (flows.retries)."""
    start = time.perf_counter()
    options = retry.task_options() if retry else {}
    state = fn.with_options(result_storage=storage, **options).__call__(**kwargs, return_state=True)
    try:
        value = state.result()  # re-raises the stage's own exception on failure
    except TaskRunTimeoutError as err:  # only raised when `retry` set a timeout
        raise retry.timeout_error(name) from err
    return _logged(StageOutcome(name, value, state.name == "Cached", time.perf_counter() - start,
                                dict(tags or {}), step))


def _logged(outcome: StageOutcome) -> StageOutcome:
    get_run_logger().info("stage %-34s %s %8.2fs (compute %.2fs)", outcome.name,
                          "cached" if outcome.cached else "ran   ", outcome.wall_s,
                          float(outcome.value.get("wall_s", 0.0)))
    return outcome


def submit_stage(runner: TaskRunner, fn: Task, storage: LocalFileSystem, retry: RetryPolicy | None = None,
                 wait_for: list | None = None, **kwargs: Any):
    """Submit a stage to a started task runner (fan-out); resolve with `resolve_stage`.
    `runner.submit` is what `Task.submit` calls with the flow's own runner."""
    options = retry.task_options() if retry else {}
    return runner.submit(fn.with_options(result_storage=storage, **options), parameters=kwargs,
                         wait_for=wait_for or [])


def resolve_stage(future, name: str, tags: dict | None = None, step: int = 0) -> StageOutcome:
    future.wait()
    state = future.state
    value = state.result()
    return _logged(StageOutcome(name, value, state.name == "Cached", float(value.get("wall_s", 0.0)),
                                dict(tags or {}), step))


class PrefectStageRunner:
    """`aprm.pipeline.runner_hook.StageRunner` on Prefect: one cached task per library stage function
    (named after it: train_prm -> "train-prm"), results under the run's artifact root.
    `on_outcome` sees every outcome as soon as its stage has finished (the MLflow child runs)."""

    def __init__(self, storage: LocalFileSystem, task_runner: TaskRunner, cfg: dict,
                 on_outcome: Callable[[StageOutcome], None] | None = None):
        self.storage = storage
        self.task_runner = task_runner
        self.cfg = cfg
        self.on_outcome = on_outcome or (lambda outcome: None)
        self._tasks: dict[Callable, Task] = {}

    def task(self, fn: Callable[..., dict]) -> Task:
        if fn not in self._tasks:
            self._tasks[fn] = stage(fn.__name__.replace("_", "-"))(fn)
        return self._tasks[fn]

    def run(self, fn: Callable[..., dict], name: str, *, retry: str | None = None, tags: dict | None = None,
            step: int = 0, **kwargs: Any) -> StageOutcome:
        policy = RetryPolicy.from_config(self.cfg, retry) if retry else None
        outcome = run_stage(self.task(fn), name, self.storage, retry=policy, tags=tags, step=step, **kwargs)
        self.on_outcome(outcome)
        return outcome

    def submit(self, fn: Callable[..., dict], name: str, *, retry: str | None = None, tags: dict | None = None,
               step: int = 0, **kwargs: Any) -> Callable[[], StageOutcome]:
        policy = RetryPolicy.from_config(self.cfg, retry) if retry else None
        if policy is not None and policy.timeout_s is not None:
            # Prefect's timeout interrupts a hung call only in the flow's main thread: a stage
            # with one runs there, now, rather than on a worker
            outcome = self.run(fn, name, retry=retry, tags=tags, step=step, **kwargs)
            return lambda: outcome
        future = submit_stage(self.task_runner, self.task(fn), self.storage, retry=policy, **kwargs)

        @functools.cache  # resolved by every seed that shares the stage, reported once
        def resolve() -> StageOutcome:
            outcome = resolve_stage(future, name, tags, step)
            self.on_outcome(outcome)
            return outcome

        return resolve
