"""The run's plan is library code: run through a plain in-memory runner, with no Prefect server
and no flow, it writes the same results.json as the Prefect flow."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_the_plan_without_prefect_gives_the_flows_results(smoke_run, tmp_path):
    from aprm.hashing import code_version
    from aprm.pipeline.plan import InMemoryRunner, run_plan
    from flows.config import compose_config, method_config, method_names
    from pipeline_helpers import SMOKE, canonical_results

    flow_home, flow_summary = smoke_run
    cfg = compose_config([*SMOKE, f"paths.home={tmp_path}"])
    games = {method: method_config(method, cfg) for method in method_names(cfg)}
    runner = InMemoryRunner()
    plan = run_plan(cfg, games, runner, tmp_path / "artifacts", code_version(), flow_summary["config_hash"],
                    flow_summary["git_sha"])
    ours = canonical_results(Path(plan.report_paths["results"]), tmp_path)
    assert ours == canonical_results(Path(flow_summary["results"]), flow_home)
    assert [o.name for o in plan.outcomes] == [s["name"] for s in flow_summary["stages"]]
    assert not any(o.cached for o in plan.outcomes)
    rounds = [o for o in plan.outcomes if o.name.startswith("game-round[")]
    assert rounds and all("step_auroc_solver_errors" in o.value["metrics"] for o in rounds)  # R on solver errors
    # the runner's memory is its cache: the same plan again runs nothing
    again = run_plan(cfg, games, runner, tmp_path / "artifacts", code_version(), flow_summary["config_hash"],
                     flow_summary["git_sha"])
    assert all(o.cached for o in again.outcomes) and again.report_paths == plan.report_paths
