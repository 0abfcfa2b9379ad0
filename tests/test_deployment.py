"""The deployment path a user takes, end to end, with real processes:

    prefect server start                 (its own PREFECT_HOME, a free port)
    python -m flows.serve                (serves `aprm-pipeline/default`)
    prefect deployment run 'aprm-pipeline/default' --param overrides='["debug=fast", ...]'

The flow run must reach COMPLETED within a bounded wait (APRM_DEPLOYMENT_TIMEOUT_S, default
600 s) and leave its outputs under the `paths.home` it was given: the MLflow parent run tagged
with the flow-run id and one child run per stage, and every stage artifact the summary names.
The summary is the flow's return value, read back through the Prefect API (the serve process
persists flow results). When the summary reports a results path (the report stage), that
`results.json` must lie in `<home>/artifacts/runs/<config_hash>/`, validate against the schema
and sit beside report.md and report.html.

Every process is started in its own process group and stopped by it in teardown.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from browser_helpers import ARTIFACTS, Service, free_port

pytestmark = pytest.mark.slow

DEPLOYMENT = "aprm-pipeline/default"
TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
RUN_TIMEOUT_S = float(os.environ.get("APRM_DEPLOYMENT_TIMEOUT_S", "600"))
BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parent.parent


def _get_json(url: str) -> dict | None:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return json.load(resp)
    except OSError:  # URLError/HTTPError: not there (yet)
        return None


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A Prefect server and a process serving the deployment; yields (api_url, client env, tmp)."""
    tmp = tmp_path_factory.mktemp("deployment")
    ARTIFACTS.mkdir(exist_ok=True)
    base = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    base.update({"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1",
                 "PREFECT_LOGGING_LEVEL": "WARNING"})
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    server_env = {**base, "PREFECT_HOME": str(tmp / "server-home"), "PREFECT_UI_ENABLED": "false",
                  "PREFECT_SERVER_API_HOST": "127.0.0.1", "PREFECT_SERVER_API_PORT": str(port)}
    client_env = {**base, "PREFECT_HOME": str(tmp / "client-home"), "PREFECT_API_URL": api,
                  # the flow's return value (the run summary) is persisted so the test can read it
                  "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "true",
                  "PREFECT_LOCAL_STORAGE_PATH": str(tmp / "flow-results")}
    services: list[Service] = []
    try:
        server = Service("prefect-server", [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1",
                                            "--port", str(port)], ARTIFACTS, env=server_env, cwd=tmp)
        services.append(server)
        server.wait_http(f"{api}/health", timeout_s=180)
        serve = Service("prefect-serve", [sys.executable, "-m", "flows.serve"], ARTIFACTS,
                        env=client_env, cwd=REPO)
        services.append(serve)
        # the deployment exists once the serve process has registered it
        serve.wait_http(f"{api}/deployments/name/{DEPLOYMENT}", timeout_s=180, expect='"name":"default"')
        yield api, client_env, tmp
    finally:
        for service in reversed(services):
            service.stop()


def _trigger(api: str, env: dict, overrides: list[str]) -> str:
    out = subprocess.run([str(BIN / "prefect"), "deployment", "run", DEPLOYMENT, "--param",
                          f"overrides={json.dumps(overrides)}"],
                         env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert out.returncode == 0, f"prefect deployment run failed:\n{out.stdout}\n{out.stderr}"
    match = re.search(r"UUID:\s*([0-9a-f-]{36})", out.stdout)
    assert match, f"no flow-run id in the CLI's output:\n{out.stdout}"
    return match.group(1)


def _wait_terminal(api: str, flow_run_id: str) -> dict:
    deadline = time.monotonic() + RUN_TIMEOUT_S
    run = None
    while time.monotonic() < deadline:
        run = _get_json(f"{api}/flow_runs/{flow_run_id}")
        if run and run.get("state") and run["state"]["type"] in TERMINAL:
            return run
        time.sleep(2.0)
    state = run["state"]["type"] if run and run.get("state") else "unknown"
    pytest.fail(f"flow run {flow_run_id} still {state} after {RUN_TIMEOUT_S:.0f}s")


def _flow_logs(api: str, flow_run_id: str) -> str:
    body = json.dumps({"logs": {"flow_run_id": {"any_": [flow_run_id]}}, "limit": 200}).encode()
    request = urllib.request.Request(f"{api}/logs/filter", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as resp:
        return "\n".join(row["message"] for row in json.load(resp))[-6000:]


def _summary(api: str, flow_run_id: str, storage: Path) -> dict:
    """The flow's return value, loaded the way any Prefect client loads a persisted result."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, PREFECT_LOCAL_STORAGE_PATH, temporary_settings

    with temporary_settings({PREFECT_API_URL: api, PREFECT_LOCAL_STORAGE_PATH: storage}):
        with get_client(sync_client=True) as client:
            return client.read_flow_run(flow_run_id).state.result()


def test_deployment_run_completes_and_writes_outputs(served):
    api, env, tmp = served
    home = tmp / "home"
    flow_run_id = _trigger(api, env, ["debug=fast", f"paths.home={home}"])
    run = _wait_terminal(api, flow_run_id)
    assert run["state"]["type"] == "COMPLETED", (
        f"flow run {flow_run_id} ended {run['state']['type']}: {run['state'].get('message')}\n"
        f"{_flow_logs(api, flow_run_id)}")
    assert run["parameters"]["overrides"] == ["debug=fast", f"paths.home={home}"]

    summary = _summary(api, flow_run_id, tmp / "flow-results")
    assert summary["flow_run_id"] == flow_run_id
    artifacts = (home / "artifacts").resolve()
    stage_paths = [Path(s["path"]) for s in summary["stages"] if s.get("path")]
    assert stage_paths, f"no stage reported an artifact: {summary['stages']}"
    for path in stage_paths:
        assert path.exists() and artifacts in path.resolve().parents, path

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{home / 'mlruns' / 'mlflow.db'}")
    parent = client.get_run(summary["mlflow_run_id"])
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["prefect_flow_run_id"] == flow_run_id
    assert parent.data.tags["config_hash"] == summary["config_hash"]
    children = client.search_runs([parent.info.experiment_id],
                                  filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert {s["name"] for s in summary["stages"]} <= {c.info.run_name for c in children}

    if summary.get("results"):  # the report stage ran: results.json, report.md, report.html
        from aprm.eval import load_results

        results_path = Path(summary["results"]).resolve()
        assert results_path.parent == artifacts / "runs" / summary["config_hash"]
        results = load_results(results_path)  # validates the documented schema
        assert results["experiment"]["config_hash"] == summary["config_hash"]
        assert results["runs"], "results.json holds no evaluation runs"
        for name in ("report.md", "report.html"):
            assert (results_path.parent / name).stat().st_size > 0, name
