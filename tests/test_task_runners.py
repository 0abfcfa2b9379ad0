"""`runner.kind`: the pipeline's fan-out on a Dask or Ray cluster or a local process pool
(flows.task_runners; tests/test_determinism.py runs the smoke flow on the process pool), and the
Hydra launcher configs in conf/hydra/launcher/.

The pipeline tests run the real flow once per runner on a cluster the test owns, so they can ask
the cluster itself what it executed: the Dask workers' own task counts, Ray's task events.
"""

from __future__ import annotations

import importlib.util
import sys
import warnings

import pytest

# debug=fast plus one baseline: methods x (val + id) = 4 evaluate tasks to fan out, after the
# samples (pool, val, id) and the two PRMs, and before the cross-play matrix
METHODS = ["static", "orm"]
OVERRIDES = ["debug=fast", "compare_with=[orm]", "runner.workers=2"]
N_EVALUATE = len(METHODS) * 2
# what a cluster runs: all but the solver's stages (on the threads runner the PRMs and games
# train in the flow's process instead)
FANNED_OUT = ("sample-solutions", "mc-rollouts", "train-prm", "game-setup", "prepare-game", "game-round", "evaluate",
              "crossplay")


def _fanned_out(summary: dict) -> list[str]:
    """The run's stages that go to the task runner (aprm.pipeline.plan), by the stage function's
    name (sample_solutions: a cluster names a task after the function, Prefect after the stage)."""
    return sorted(s["name"].split("[")[0].replace("-", "_") for s in summary["stages"]
                  if s["name"].startswith(FANNED_OUT))


def _check_results(summary: dict) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    from aprm.eval.results import load_results

    results = load_results(summary["results"])
    assert results["methods"] == METHODS and results["suites"] == ["id"]
    assert {(r["method"], r["suite"]) for r in results["runs"]} == {(m, "id") for m in METHODS}
    evaluated = [s for s in summary["stages"] if s["name"].startswith("evaluate[")]
    assert len(evaluated) == N_EVALUATE and not any(s["cached"] for s in evaluated)
    # The workers' task runs belong to the flow run, as the flow's own runner would record them.
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[summary["flow_run_id"]])))
    states = [r.state.name for r in runs if r.name.startswith("evaluate")]
    assert states == ["Completed"] * N_EVALUATE, states
    assert _fanned_out(summary).count("sample_solutions") == 3  # pool, val, id


@pytest.mark.slow
def test_dask_runner_runs_the_evaluation_fan_out(prefect_server, tmp_path):
    distributed = pytest.importorskip("distributed", reason="Dask not installed: pip install -e '.[dask]'")
    pytest.importorskip("prefect_dask", reason="prefect-dask not installed: pip install -e '.[dask]'")
    from flows.pipeline import aprm_pipeline

    # Worker processes, as a real cluster has; the flow connects by address.
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster, set_as_default=False) as client:
        summary = aprm_pipeline(overrides=[*OVERRIDES, "runner.kind=dask",
                                           f"runner.address={cluster.scheduler_address}",
                                           f"paths.home={tmp_path}"])
        executed = client.run(lambda dask_worker: dask_worker.state.executed_count)
        prefixes = set(cluster.scheduler.task_prefixes)
    _check_results(summary)
    # The workers themselves ran exactly the fanned-out stages; the solver's did not reach the cluster.
    assert sum(executed.values()) == len(_fanned_out(summary)), executed
    assert prefixes == set(_fanned_out(summary)), prefixes


@pytest.mark.slow
def test_ray_runner_runs_the_evaluation_fan_out(prefect_server, tmp_path):
    ray = pytest.importorskip("ray", reason="Ray not installed: pip install -e '.[ray]'")
    pytest.importorskip("prefect_ray", reason="prefect-ray not installed: pip install -e '.[ray]'")
    from flows.pipeline import aprm_pipeline

    # A local Ray started here: the runner joins an initialised Ray instead of starting one, and
    # Ray's task events stay readable after the flow.
    ray.init(num_cpus=2, include_dashboard=False, namespace="prefect",
             object_store_memory=200 * 1024**2)
    try:
        summary = aprm_pipeline(overrides=[*OVERRIDES, "runner.kind=ray", f"paths.home={tmp_path}"])
        events = ray.timeline()
    finally:
        ray.shutdown()
    _check_results(summary)
    # One profile event per task Ray executed, by the task's name (prefect-ray names it after the stage)
    ran = [e for e in events if e.get("cat", "").startswith("task::")]
    assert sorted(e["cat"].replace("-", "_") for e in ran) == [f"task::{name}" for name in _fanned_out(summary)], \
        sorted({e.get("cat") for e in events})


def test_processes_runner_is_prefects_process_pool_with_no_extra():
    from prefect.task_runners import ProcessPoolTaskRunner

    from flows.task_runners import build_task_runner

    runner = build_task_runner({"kind": "processes", "workers": 3, "address": None})
    assert isinstance(runner, ProcessPoolTaskRunner) and runner.duplicate()._max_workers == 3


def test_missing_extra_names_the_pip_extra(monkeypatch):
    from flows.task_runners import TaskRunnerUnavailable, build_task_runner

    for kind, module in (("dask", "prefect_dask"), ("ray", "prefect_ray")):
        monkeypatch.setitem(sys.modules, module, None)  # `import module` now raises ImportError
        with pytest.raises(TaskRunnerUnavailable, match=rf"runner.kind={kind}.*pip install 'aprm\[{kind}\]'"):
            build_task_runner({"kind": kind, "workers": 2, "address": None})


# ------------------------------------------------------------------ Hydra launcher configs
LAUNCHERS = {  # our config name -> (plugin module, the plugin's launcher class)
    "parallel": ("hydra_plugins.hydra_joblib_launcher",
                 "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher"),
    "slurm": ("hydra_plugins.hydra_submitit_launcher",
              "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"),
    "ray_cluster": ("hydra_plugins.hydra_ray_launcher",
                    "hydra_plugins.hydra_ray_launcher.ray_launcher.RayLauncher"),
}
BAD_VALUE = {"parallel": "hydra.launcher.n_jobs=many", "slurm": "hydra.launcher.timeout_min=soon",
             "ray_cluster": "hydra.launcher.ray=5"}


def _compose(overrides: list[str]):
    from hydra import compose, initialize_config_dir

    from flows.config import CONF_DIR

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="config", overrides=overrides, return_hydra_config=True)


def _installed(module: str) -> bool:
    # find_spec imports the parent package: without any Hydra plugin, `hydra_plugins` is missing
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


@pytest.mark.parametrize("name", sorted(LAUNCHERS))
def test_launcher_config_extends_the_plugin_schema(name):
    module, target = LAUNCHERS[name]
    if not _installed(module):
        pytest.skip(f"{module} not installed (launcher `{name}`: see docs/scaling.md, 'Scaling out')")
    from hydra.errors import ConfigCompositionException

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. Hydra's automatic schema-matching deprecation
        cfg = _compose([f"hydra/launcher={name}"])
    assert cfg.hydra.launcher._target_ == target
    with pytest.raises(ConfigCompositionException):  # the plugin's typed schema checks our keys
        _compose([f"hydra/launcher={name}", BAD_VALUE[name]])
