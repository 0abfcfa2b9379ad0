"""MLflow tracking through an explicit client (thread-safe: stages may run in parallel threads).

One parent run per pipeline run; one child run per stage or adversarial round, linked by the
`mlflow.parentRunId` tag so the UI nests them.
"""

from __future__ import annotations

import contextlib
import fcntl
import math
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Mapping

from aprm.io import pid_alive

MAX_PARAM_VALUE = 500  # MLflow rejects longer param values


@contextlib.contextmanager
def store_setup_lock(uri: str) -> Iterator[None]:
    """An exclusive lock beside a local SQLite store (`<db>.lock`); no-op for other stores."""
    if not uri.startswith("sqlite:///"):
        yield
        return
    lock_path = Path(uri.removeprefix("sqlite:///") + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def resolve_tracking_uri(uri: str | None, home: Path) -> str:
    if uri:
        return uri
    store = (home / "mlruns").resolve()
    store.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{store / 'mlflow.db'}"


def flatten_params(cfg: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in cfg.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten_params(value, name + "."))
        else:
            flat[name] = str(value)[:MAX_PARAM_VALUE]
    return flat


def _finite_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    out = {}
    for key, value in metrics.items():
        if isinstance(value, bool):
            value = float(value)
        if isinstance(value, (int, float)) and math.isfinite(value):
            out[key] = float(value)
    return out


class RunTracker:
    """Parent run plus child runs in one MLflow experiment."""

    def __init__(self, uri: str, experiment_name: str, artifact_root: Path):
        import mlflow
        from mlflow.tracking import MlflowClient

        self._mlflow = mlflow
        self.uri = uri
        # The client's store creates and migrates a new SQLite file, and the experiment may not
        # exist yet: processes starting at once on one store take turns (else alembic and
        # create_experiment race).
        with store_setup_lock(uri):
            self.client = MlflowClient(tracking_uri=uri)
            experiment = self.client.get_experiment_by_name(experiment_name)
            if experiment is None:
                artifact_root.mkdir(parents=True, exist_ok=True)
                self.experiment_id = self.client.create_experiment(
                    experiment_name, artifact_location=artifact_root.resolve().as_uri()
                )
            else:
                self.experiment_id = experiment.experiment_id
        self.parent_id: str | None = None

    def mark_stale_runs(self) -> int:
        """Mark runs left RUNNING by a killed attempt on this host as KILLED; returns how many.

        A run is stale when the process that opened it (tags aprm.host/aprm.pid) is gone, so
        parallel sweep jobs that are still alive are left alone.
        """
        stale = self.client.search_runs(
            [self.experiment_id], filter_string="attributes.status = 'RUNNING'", max_results=1000
        )
        count = 0
        for run in stale:
            tags = run.data.tags
            pid = tags.get("aprm.pid", "")
            if tags.get("aprm.host") != socket.gethostname() or (pid.isdigit() and pid_alive(int(pid))):
                continue
            self.client.set_terminated(run.info.run_id, status="KILLED")
            count += 1
        return count

    def start_parent(self, name: str, params: Mapping[str, Any], tags: Mapping[str, str]) -> str:
        owner = {"aprm.host": socket.gethostname(), "aprm.pid": str(os.getpid())}
        sweep = os.environ.get("APRM_SWEEP_RUN_ID")  # set by flows.hydra_callbacks in a multirun
        nesting = {"mlflow.parentRunId": sweep} if sweep else {}
        run = self.client.create_run(self.experiment_id, run_name=name, tags={**tags, **owner, **nesting})
        self.parent_id = run.info.run_id
        self.log_params(self.parent_id, params)
        return self.parent_id

    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(k, str(v)[:MAX_PARAM_VALUE]) for k, v in sorted(params.items())]
        for start in range(0, len(items), 100):
            self.client.log_batch(run_id, params=items[start : start + 100])

    def log_metrics(self, run_id: str, metrics: Mapping[str, Any], step: int = 0) -> None:
        from mlflow.entities import Metric
        import time

        now = int(time.time() * 1000)
        items = [Metric(k, v, now, step) for k, v in sorted(_finite_metrics(metrics).items())]
        for start in range(0, len(items), 500):
            self.client.log_batch(run_id, metrics=items[start : start + 500])

    def child(
        self,
        name: str,
        metrics: Mapping[str, Any],
        tags: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        step: int = 0,
    ) -> str:
        all_tags = {"mlflow.parentRunId": self.parent_id or "", **(tags or {})}
        run = self.client.create_run(self.experiment_id, run_name=name, tags=all_tags)
        if params:
            self.log_params(run.info.run_id, params)
        self.log_metrics(run.info.run_id, metrics, step=step)
        self.client.set_terminated(run.info.run_id, status="FINISHED")
        return run.info.run_id

    def log_artifact(self, run_id: str, path: str | Path, artifact_path: str | None = None) -> None:
        self.client.log_artifact(run_id, str(path), artifact_path)

    def finish(self, status: str = "FINISHED") -> None:
        if self.parent_id:
            self.client.set_terminated(self.parent_id, status=status)
