"""The run's plan is library code: run through a plain in-memory runner, with no Prefect server
and no flow, it writes the same results.json as the Prefect flow."""

from __future__ import annotations

import json
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
    # R's step AUROC on the solver's errors after each round reaches results.json's rounds when defined
    rows = {(r["method"], r["round"]): r["metrics"] for r in json.loads(Path(plan.report_paths["results"]).read_text())["rounds"]}
    for outcome in (o for o in plan.outcomes if o.name.startswith("game-round[")):
        method, k = outcome.name[len("game-round["):].split(",")[:2]
        value = outcome.value["metrics"]["step_auroc_solver_errors"]
        assert rows[(method, int(k))].get("step_auroc_solver_errors") == (None if value is None else pytest.approx(value))
    # the runner's memory is its cache: the same plan again runs nothing
    again = run_plan(cfg, games, runner, tmp_path / "artifacts", code_version(), flow_summary["config_hash"],
                     flow_summary["git_sha"])
    assert all(o.cached for o in again.outcomes) and again.report_paths == plan.report_paths
