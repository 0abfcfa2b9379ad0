"""How the plan runs a stage: the `StageRunner` hook (run in this process, or submit to the
fan-out), its in-memory implementation with no server, and the torch thread count of a
fanned-out stage. `flows.runtime.PrefectStageRunner` is the hook under Prefect."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from aprm.hashing import stable_hash

log = logging.getLogger(__name__)


@dataclass
class StageOutcome:
    name: str
    value: dict
    cached: bool
    wall_s: float
    tags: dict = field(default_factory=dict)  # extra MLflow tags (method, suite, ...)
    step: int = 0  # MLflow step of the stage's metrics (the round, for game rounds)


class StageRunner(Protocol):
    """How a stage runs. `retry` names the `stage_retries.<key>` policy a stage may have; `tags`
    and `step` label its outcome (for a tracker); `submit` may start a stage in the background
    and returns what resolves it: callable any number of times, it reports the outcome once (a
    stage shared by several seeds is resolved by each)."""

    def run(self, fn: Callable[..., dict], name: str, *, retry: str | None = None, tags: dict | None = None,
            step: int = 0, **kwargs: Any) -> StageOutcome:
        ...

    def submit(self, fn: Callable[..., dict], name: str, *, retry: str | None = None, tags: dict | None = None,
               step: int = 0, **kwargs: Any) -> Callable[[], StageOutcome]:
        ...


class InMemoryRunner:
    """Runs each stage in this process when first asked, and answers again from memory: the
    plan's caching contract (same function, same inputs, same value) with no server."""

    def __init__(self) -> None:
        self.values: dict[str, dict] = {}

    def run(self, fn: Callable[..., dict], name: str, *, retry: str | None = None, tags: dict | None = None,
            step: int = 0, **kwargs: Any) -> StageOutcome:
        key = stable_hash({"stage": f"{fn.__module__}.{fn.__qualname__}", "inputs": kwargs})
        cached = key in self.values
        if not cached:
            self.values[key] = fn(**kwargs)
        value = self.values[key]
        log.info("stage %-34s %s (compute %.2fs)", name, "cached" if cached else "ran   ", value.get("wall_s", 0.0))
        return StageOutcome(name, value, cached, 0.0 if cached else float(value.get("wall_s", 0.0)), dict(tags or {}),
                            step)

    def submit(self, fn: Callable[..., dict], name: str, *, retry: str | None = None, tags: dict | None = None,
               step: int = 0, **kwargs: Any) -> Callable[[], StageOutcome]:
        outcome = self.run(fn, name, retry=retry, tags=tags, step=step, **kwargs)
        return lambda: outcome


def fanout_threads(cfg: dict) -> int:
    """Torch threads of each fanned-out stage: the run's `threads` shared among the local workers
    (at least one each, so that they do not oversubscribe the cores), or `threads` on every
    worker of a remote cluster (`runner.address`)."""
    runner_cfg = cfg["runner"]
    if runner_cfg.get("address"):
        return int(cfg["threads"])
    return max(1, int(cfg["threads"]) // int(runner_cfg["workers"]))
