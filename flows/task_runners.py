"""The Prefect task runner that fanned-out stages (sampling, MC rollouts, evaluation, cross-play)
are submitted to, chosen by the `runner` config: threads in the flow's process, a pool of local
processes, a Dask cluster or a Ray cluster.

The flow decorator fixes its own task runner before the config is composed (the config arrives
as the flow's `overrides` parameter, from the CLI, a deployment or a test alike), so the flow
opens this runner itself once the config is known and submits the fan-out to it.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from prefect.settings import PREFECT_API_URL, temporary_settings
from prefect.task_runners import ProcessPoolTaskRunner, TaskRunner, ThreadPoolTaskRunner

# kind -> (module, class, pip extra)
EXTRA_RUNNERS = {"dask": ("prefect_dask", "DaskTaskRunner", "dask"),
                 "ray": ("prefect_ray", "RayTaskRunner", "ray")}


class TaskRunnerUnavailable(ImportError):
    pass


@contextmanager
def started_task_runner(runner_cfg: dict) -> Iterator[TaskRunner]:
    """The configured runner, started for the duration of the block (call inside the flow)."""
    runner = build_task_runner(runner_cfg)
    with ExitStack() as stack:
        if runner_cfg["kind"] != "threads" and not PREFECT_API_URL.value():
            # No PREFECT_API_URL: this flow talks to a temporary server it started. Hand its URL
            # to the workers (through the settings Prefect ships with each task), or each worker
            # process would start a temporary server of its own (minutes, one SQLite file).
            from prefect.client.orchestration import get_client

            url = str(get_client(sync_client=True).api_url)
            stack.enter_context(temporary_settings(updates={PREFECT_API_URL: url}))
        yield stack.enter_context(runner)


def build_task_runner(runner_cfg: dict) -> TaskRunner:
    """A not-yet-started task runner for `runner_cfg` ({kind, workers, address})."""
    kind, workers, address = runner_cfg["kind"], int(runner_cfg["workers"]), runner_cfg.get("address")
    if kind == "threads":
        return ThreadPoolTaskRunner(max_workers=workers)
    if kind == "processes":
        # Prefect's own pool (spawned processes, no extra to install): the stages hold the GIL
        # between their many small torch ops, so threads of one process barely overlap
        return ProcessPoolTaskRunner(max_workers=workers)
    runner_class = _runner_class(kind)
    if kind == "dask":
        if address:  # an existing scheduler: its workers, not `workers`, set the parallelism
            return runner_class(address=address)
        # One single-threaded worker process per slot: stages set their own torch thread count.
        return runner_class(cluster_kwargs={"n_workers": workers, "threads_per_worker": 1,
                                            "processes": True})
    # Ray: address null starts Ray on this machine with `workers` CPUs (one per task); a given
    # address ("auto", "ray://host:10001") joins that cluster. An already initialised Ray is used as is.
    return runner_class(address=address, init_kwargs={} if address else {"num_cpus": workers})


def _runner_class(kind: str) -> type[TaskRunner]:
    module_name, class_name, extra = EXTRA_RUNNERS[kind]
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise TaskRunnerUnavailable(
            f"runner.kind={kind} needs {module_name}, which is not installed: "
            f"pip install 'aprm[{extra}]' (or pip install -e '.[{extra}]' in a checkout)") from err
    return getattr(module, class_name)
