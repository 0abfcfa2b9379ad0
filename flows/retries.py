"""Prefect-level retries and per-attempt timeouts for stages that call a server.

A stage is retried only for failures that can pass by themselves: the server unreachable or
still failing after the backend's own HTTP retries, or an attempt that timed out. Anything else
(a bad setting, a 4xx, a model the server does not serve, a bug) fails on the first attempt with
its own exception. The options are applied with `Task.with_options` at call time, so they never
enter a stage's cache key (INPUTS hashes the call's arguments, TASK_SOURCE the function source).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aprm.backends import BackendTimeoutError, BackendUnavailableError

# TimeoutError covers Prefect's TaskRunTimeoutError: an attempt ran past `timeout_s`.
TRANSIENT_ERRORS = (BackendUnavailableError, BackendTimeoutError, TimeoutError)


class StageTimeoutError(TimeoutError):
    """A stage's last attempt ran longer than its `stage_retries.<stage>.timeout_s`."""


def is_transient(error: Any) -> bool:
    return isinstance(error, TRANSIENT_ERRORS)


def retry_if_transient(task, task_run, state) -> bool:
    """Prefect's retry_condition_fn: the engine hands over Failed(data=<the exception>)."""
    return is_transient(state.data)


@dataclass(frozen=True)
class RetryPolicy:
    key: str  # the config key, named in errors: stage_retries.<stage>
    retries: int = 0  # extra attempts after a transient failure
    delay_s: float = 0.0
    timeout_s: float | None = None  # per attempt; None = no limit

    @classmethod
    def from_config(cls, cfg: dict, stage: str) -> RetryPolicy:
        entry = cfg["stage_retries"][stage]
        timeout = entry["timeout_s"]
        return cls(f"stage_retries.{stage}", int(entry["retries"]), float(entry["delay_s"]),
                   None if timeout is None else float(timeout))

    def task_options(self) -> dict[str, Any]:
        return {"retries": self.retries, "retry_delay_seconds": self.delay_s,
                "timeout_seconds": self.timeout_s, "retry_condition_fn": retry_if_transient}

    def timeout_error(self, stage_name: str) -> StageTimeoutError:
        return StageTimeoutError(
            f"stage {stage_name}: the last attempt ran longer than {self.key}.timeout_s="
            f"{self.timeout_s} s ({self.key}.retries={self.retries})")
