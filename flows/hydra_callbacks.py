"""Hydra callback: one MLflow parent run per multirun sweep, so each job's pipeline run nests
under it (`aprm -m seed=0,1 ...`).

The sweep run's id travels to the jobs in the environment variable `APRM_SWEEP_RUN_ID`, which the
pipeline reads when it opens its own parent run (tag `mlflow.parentRunId`). The variable is set
in the launching process before any launcher starts, so jobs in worker processes (joblib) inherit
it; `on_job_start` re-exports it per job and withholds it from a job whose MLflow store differs
from the sweep's (nesting across stores is impossible).

Hydra does not call `on_multirun_end` when a job fails (the sweeper re-raises first), so a failed
job closes the sweep run as FAILED itself, and an exit hook closes a run left open by any other
crash. Jobs that return a number (the Optuna objective) log it as metric `objective` on the sweep
run, step = job number.
"""

from __future__ import annotations

import atexit
import logging
import math
import os
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback

SWEEP_RUN_ENV = "APRM_SWEEP_RUN_ID"
SWEEP_URI_ENV = "APRM_SWEEP_TRACKING_URI"
log = logging.getLogger(__name__)


def _select(config: Any, key: str, default: Any = None) -> Any:
    from omegaconf import OmegaConf

    value = OmegaConf.select(config, key, default=default)
    return default if value is None else value


def tracking_target(config: Any) -> tuple[str, str, Path] | None:
    """(tracking URI, experiment name, artifact root) as the pipeline resolves them; None when
    tracking is disabled."""
    from aprm.tracking import resolve_tracking_uri

    if not _select(config, "tracking.enabled", True):
        return None
    home = Path(_select(config, "paths.home") or os.getcwd()).resolve()
    uri = resolve_tracking_uri(_select(config, "tracking.uri"), home)
    return uri, str(_select(config, "tracking.experiment_name", "aprm")), home / "mlruns" / "artifacts"


class MlflowSweepRun(Callback):
    """Opens, exports and closes the MLflow parent run of a Hydra multirun."""

    def __init__(self) -> None:
        self.run_id: str | None = None
        self.uri: str | None = None

    # ---------------------------------------------------------------- launching process
    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        from aprm.tracking import RunTracker

        for name in (SWEEP_RUN_ENV, SWEEP_URI_ENV):  # a stale id must not become our parent
            os.environ.pop(name, None)
        if _select(config, "dry_run", False):
            return  # a dry run records nothing
        target = tracking_target(config)
        if target is None:
            return
        uri, experiment, artifact_root = target
        tracker = RunTracker(uri, experiment, artifact_root)
        sweep_dir = _select(config, "hydra.sweep.dir", "")
        sweep_dir = str(Path(sweep_dir).resolve()) if sweep_dir else ""  # relative to the launch dir
        overrides = [str(o) for o in _select(config, "hydra.overrides.task", [])]
        hydra_overrides = [str(o) for o in _select(config, "hydra.overrides.hydra", [])]
        params = {
            "sweep.overrides": " ".join(overrides),
            "sweep.hydra_overrides": " ".join(hydra_overrides),
            "sweep.dir": sweep_dir,
            "sweep.sweeper": str(_select(config, "hydra.sweeper._target_", "")),
            "sweep.launcher": str(_select(config, "hydra.launcher._target_", "")),
        }
        name = f"sweep-{Path(sweep_dir).name}" if sweep_dir else "sweep"
        self.run_id = tracker.start_parent(name, params, {"aprm.kind": "sweep", "sweep_dir": sweep_dir})
        self.uri = uri
        os.environ[SWEEP_RUN_ENV] = self.run_id
        os.environ[SWEEP_URI_ENV] = uri
        atexit.register(self._close_if_open)
        log.info("MLflow sweep run %s in %s", self.run_id, uri)

    def on_multirun_end(self, config: Any, **kwargs: Any) -> None:
        self._close("FINISHED")
        atexit.unregister(self._close_if_open)

    def _close_if_open(self) -> None:
        self._close("FAILED")  # the sweep did not reach on_multirun_end: it crashed or was stopped

    def _close(self, status: str) -> None:
        """Terminate the sweep run with `status` unless a failed job already closed it FAILED."""
        if self.run_id and self.uri:
            from mlflow.tracking import MlflowClient

            client = MlflowClient(tracking_uri=self.uri)
            if client.get_run(self.run_id).info.status == "RUNNING":
                client.set_terminated(self.run_id, status=status)
        for name in (SWEEP_RUN_ENV, SWEEP_URI_ENV):
            os.environ.pop(name, None)
        self.run_id = None

    # ---------------------------------------------------------------- every job (any process)
    def _sweep(self) -> tuple[str | None, str | None]:
        """(run id, store URI): this instance's (launching process, or a pickled copy in a
        worker) or the inherited environment's."""
        return self.run_id or os.environ.get(SWEEP_RUN_ENV), self.uri or os.environ.get(SWEEP_URI_ENV)

    def on_job_start(self, config: Any, **kwargs: Any) -> None:
        run_id, sweep_uri = self._sweep()
        if not run_id or not sweep_uri:
            return  # a single run, or tracking is off
        target = tracking_target(config)
        if target is None or target[0] != sweep_uri:
            os.environ.pop(SWEEP_RUN_ENV, None)
            log.warning("job %s logs to %s, not the sweep's store %s: its run is not nested",
                        _select(config, "hydra.job.num"), target[0] if target else "nowhere", sweep_uri)
            return
        os.environ[SWEEP_RUN_ENV] = run_id

    def on_job_end(self, config: Any, job_return: Any, **kwargs: Any) -> None:
        from hydra.core.utils import JobStatus

        run_id, uri = self._sweep()
        if not run_id or not uri:
            return
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=uri)
        num = int(_select(config, "hydra.job.num", 0))
        if job_return.status == JobStatus.FAILED:
            error = getattr(job_return, "_return_value", None)
            client.set_tag(run_id, f"aprm.failed_job.{num}", f"{type(error).__name__}: {error}"[:500])
            if client.get_run(run_id).info.status == "RUNNING":
                client.set_terminated(run_id, status="FAILED")
            return
        value = getattr(job_return, "_return_value", None)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            client.log_metric(run_id, "objective", float(value), step=num)
