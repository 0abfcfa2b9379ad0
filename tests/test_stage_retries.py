"""Prefect retries and timeouts of the sampling stage, through the real engine and a real server.

The server is tests/servers/completions_server.py's, in process, serving a tiny solver built
from the composed config; a scripted front answers the first POSTs with 503, 400 or a stall, and
logs every request. Attempts are counted twice: by that log and by the task run Prefect recorded.
"""

from __future__ import annotations

import functools
import json
import threading
import time
from pathlib import Path
from uuid import UUID

import pytest
from prefect import flow
from servers.completions_server import CompletionsHandler, CompletionsServer

from aprm.backends import BackendConfigError, BackendResponseError
from aprm.data import build_splits
from aprm.io import write_json
from flows.config import ConfigError, compose_config
from flows.retries import RetryPolicy, StageTimeoutError
from aprm.pipeline.stages import sample_solutions
from flows.runtime import PrefectStageRunner, result_storage, run_stage

SERVED_NAME = "tiny-solver"
STALL = "stall"


class ScriptedHandler(CompletionsHandler):
    """The real handler, except that POST k (0-based) follows script[k] while there is one."""

    server: ScriptedServer

    def do_GET(self):
        self.server.record(self.command, self.path)
        super().do_GET()

    def do_POST(self):
        step = self.server.record(self.command, self.path)
        if step is None:
            super().do_POST()
            return
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if step == STALL:  # a wedged generation: never answers while the test runs
            self.server.hung(+1)
            self.server.released.wait(30)
            self.server.hung(-1)
            self.close_connection = True
            return
        self._send_error(step, f"scripted HTTP {step}")


class ScriptedServer(CompletionsServer):
    def __init__(self, backend, served_name: str, script: list):
        super().__init__(("127.0.0.1", 0), backend, served_name)
        self.RequestHandlerClass = ScriptedHandler
        self.script = list(script)
        self.log: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self.released = threading.Event()
        self.hanging = 0  # stalled requests not yet given up

    def hung(self, change: int) -> None:
        with self.lock:
            self.hanging += change

    def record(self, method: str, path: str):
        """Log the request; for a POST, the scripted answer (None = the real one)."""
        with self.lock:
            posts = sum(m == "POST" for m, _ in self.log)
            self.log.append((method, path))
            if method == "POST" and posts < len(self.script):
                return self.script[posts]
            return None

    def count(self, method: str) -> int:
        with self.lock:
            return sum(m == method for m, _ in self.log)


@pytest.fixture(scope="module")
def base_cfg() -> dict:
    return compose_config(["debug=fast", "backend=openai"])


@pytest.fixture(scope="module")
def tiny_backend(base_cfg):
    """The hf backend over an untrained tiny solver built from the config (its texts are
    noise; the stage parses and labels them all the same)."""
    import torch

    from aprm.backends.hf import HFBackend
    from aprm.models.factory import build_model
    from aprm.models.tokenizer import train_tokenizer

    torch.set_num_threads(1)
    problems = build_splits(base_cfg["data"], 0).train
    tokenizer = train_tokenizer([p.question for p in problems] + [s for p in problems for s in p.reference_steps],
                                vocab_size=int(base_cfg["model"]["vocab_size"]))
    return HFBackend(build_model("solver", base_cfg["model"], tokenizer).eval(), tokenizer)


@pytest.fixture(scope="module")
def splits_path(base_cfg, tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("splits") / "splits.json"
    write_json(path, build_splits(base_cfg["data"], 0).to_dict())
    return str(path)


@pytest.fixture
def serve(tiny_backend):
    """serve(script, served_name) -> a running ScriptedServer; stopped after the test."""
    servers = []

    def start(script: list, served_name: str = SERVED_NAME) -> ScriptedServer:
        server = ScriptedServer(tiny_backend, served_name, script)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.released.set()
        server.shutdown()
        server.server_close()


def sampling_cfg(server: ScriptedServer, retries: int, timeout_s: float | None = None) -> dict:
    """The composed config: backend retries off, so each failure reaches the stage at once."""
    return compose_config([
        "debug=fast", "backend=openai", f"backend.base_url=http://127.0.0.1:{server.server_address[1]}",
        f"backend.model={SERVED_NAME}", "backend.max_retries=0", "backend.concurrency=1",
        "backend.timeout_s=60", "eval.max_new_tokens=8",
        f"stage_retries.sample_solutions.retries={retries}", "stage_retries.sample_solutions.delay_s=0",
        f"stage_retries.sample_solutions.timeout_s={'null' if timeout_s is None else timeout_s}",
    ])


def run_sampling(cfg: dict, splits_path: str, artifacts: Path, retry: RetryPolicy,
                 flow_runs: list[str]) -> dict:
    """One flow run around the real stage task, as the pipeline calls it; appends its id.
    One problem, so that each attempt sends exactly one POST."""

    @flow(name="stage-retries-test")
    def sampling_flow() -> dict:
        from prefect.runtime import flow_run

        flow_runs.append(str(flow_run.id))
        task = PrefectStageRunner(None, None, cfg).task(sample_solutions)  # the pipeline's own task
        outcome = run_stage(task, "sample-solutions[val]",
                            result_storage(artifacts / "prefect-results"), retry=retry,
                            solver_dir=str(artifacts / "solver"), splits_path=splits_path,
                            suite="val", eval_cfg=cfg["eval"], backend_cfg=cfg["backend"], seed=0,
                            threads=1, artifacts=str(artifacts), code="test", limit=1)
        return {"cached": outcome.cached, **outcome.value}

    return sampling_flow()


def recorded_task_run(flow_run_id: str):
    """The sampling task run of a flow run, once Prefect has recorded its final state (task run
    states arrive through events, a moment after the flow returns)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    deadline = time.monotonic() + 30
    with get_client(sync_client=True) as client:
        while True:
            runs = client.read_task_runs(flow_run_filter=FlowRunFilter(
                id=FlowRunFilterId(any_=[UUID(flow_run_id)])))
            runs = [r for r in runs if r.name.startswith("sample-solutions")]
            if runs and runs[0].state and runs[0].state.is_final():
                return runs[0], client.read_task_run_states(runs[0].id)
            if time.monotonic() > deadline:
                raise AssertionError(f"flow run {flow_run_id}: no final sampling task run: {runs}")
            time.sleep(0.2)


def test_bad_retry_settings_name_their_keys():
    with pytest.raises(ConfigError) as err:
        compose_config(["stage_retries.sample_solutions.retries=-1",
                        "stage_retries.sample_solutions.delay_s=soon",
                        "stage_retries.sample_solutions.timeout_s=0"])
    message = str(err.value)
    assert "stage_retries.sample_solutions.retries must be an int in [0, 20], got -1" in message
    assert "stage_retries.sample_solutions.delay_s must be a number, got 'soon'" in message
    assert "stage_retries.sample_solutions.timeout_s must be a finite number > 0.0, got 0" in message
    defaults = RetryPolicy.from_config(compose_config([]), "sample_solutions")
    assert (defaults.retries, defaults.delay_s, defaults.timeout_s) == (2, 5.0, None)


def test_transient_503s_are_retried_and_retry_options_leave_the_cache_key_alone(
        prefect_server, serve, splits_path, tmp_path):
    server = serve([503, 503])
    cfg = sampling_cfg(server, retries=2)
    retry = RetryPolicy.from_config(cfg, "sample_solutions")
    assert (retry.retries, retry.delay_s, retry.timeout_s) == (2, 0.0, None)
    flow_runs: list[str] = []

    value = run_sampling(cfg, splits_path, tmp_path, retry, flow_runs)

    # each attempt checks the model, then asks for the one problem's samples: 503, 503, 200
    assert server.log == [("GET", "/v1/models"), ("POST", "/v1/completions")] * 3
    assert value["cached"] is False and value["metrics"]["problems"] == 1
    rows = [json.loads(line) for line in Path(value["path"]).read_text().splitlines()]
    assert [len(row["samples"]) for row in rows] == [2]
    task_run, states = recorded_task_run(flow_runs[0])
    assert task_run.state.is_completed() and task_run.run_count == 3
    assert [s.name for s in states].count("Retrying") == 2

    # Other retry options, same inputs: the cache answers and the server sees nothing new.
    requests = len(server.log)
    again = run_sampling(cfg, splits_path, tmp_path, RetryPolicy("stage_retries.x", 0, 7.0, 30.0),
                         flow_runs)
    assert again["cached"] is True and again["path"] == value["path"]
    assert len(server.log) == requests


@pytest.mark.parametrize("case", ["wrong-model", "http-400"])
def test_permanent_errors_fail_on_the_first_attempt_with_their_own_message(
        prefect_server, serve, splits_path, tmp_path, case):
    if case == "wrong-model":
        server = serve([], served_name="another-model")
        error, message = BackendConfigError, r"backend.model='tiny-solver' is not served .* \['another-model'\]"
    else:
        server = serve([400])
        error, message = BackendResponseError, r"rejected the request \(HTTP 400\): .*scripted HTTP 400"
    cfg = sampling_cfg(server, retries=2)
    flow_runs: list[str] = []

    with pytest.raises(error, match=message):
        run_sampling(cfg, splits_path, tmp_path, RetryPolicy.from_config(cfg, "sample_solutions"),
                     flow_runs)

    assert server.count("GET") == 1  # one attempt: the model check ran once
    assert server.count("POST") == (0 if case == "wrong-model" else 1)
    task_run, states = recorded_task_run(flow_runs[0])
    assert task_run.state.is_failed() and task_run.run_count == 1
    assert "Retrying" not in [s.name for s in states]


def test_a_hung_call_times_out_per_attempt_and_fails_with_a_timeout_error(
        prefect_server, serve, splits_path, tmp_path):
    server = serve([STALL, STALL])
    cfg = sampling_cfg(server, retries=1, timeout_s=1.5)
    flow_runs: list[str] = []

    with pytest.raises(StageTimeoutError, match=r"stage_retries.sample_solutions.timeout_s=1.5 s") as info:
        run_sampling(cfg, splits_path, tmp_path, RetryPolicy.from_config(cfg, "sample_solutions"),
                     flow_runs)

    assert "sample-solutions[val]" in str(info.value)
    assert server.count("POST") == 2  # the timeout is transient: one retry, which hung too
    assert server.hanging == 2  # the stage gave up on both while they still hung
    task_run, states = recorded_task_run(flow_runs[0])
    assert task_run.state.is_failed() and task_run.run_count == 2
    assert [s.name for s in states].count("TimedOut") == 1  # the last attempt's final state


def test_a_submitted_stage_with_a_timeout_runs_in_the_flows_thread_and_times_out(
        prefect_server, serve, splits_path, tmp_path):
    """The plan submits sampling to the fan-out; Prefect interrupts a hung attempt only in the
    flow's main thread, so the Prefect runner runs a stage with a timeout there, and it times out
    as a run stage does, while a worker thread would wait out the hung call."""
    from prefect.task_runners import ThreadPoolTaskRunner

    server = serve([STALL, STALL])
    cfg = sampling_cfg(server, retries=1, timeout_s=1.5)
    ran_in: list[str] = []

    @functools.wraps(sample_solutions)  # Prefect binds the stage's parameters by its signature
    def sample_and_record(**kwargs):
        ran_in.append(threading.current_thread().name)
        return sample_solutions(**kwargs)

    @flow(name="stage-retries-submit-test")
    def submitting_flow() -> None:
        with ThreadPoolTaskRunner(max_workers=2) as task_runner:
            runner = PrefectStageRunner(result_storage(tmp_path / "prefect-results"), task_runner, cfg)
            resolve = runner.submit(sample_and_record, "sample-solutions[val]", retry="sample_solutions",
                                    solver_dir=str(tmp_path / "solver"), splits_path=splits_path, suite="val",
                                    eval_cfg=cfg["eval"], backend_cfg=cfg["backend"], seed=0, threads=1,
                                    artifacts=str(tmp_path), code="test", limit=1)
            resolve()

    with pytest.raises(StageTimeoutError, match=r"stage_retries.sample_solutions.timeout_s=1.5 s"):
        submitting_flow()
    assert ran_in == [threading.main_thread().name] * 2  # both attempts, in the flow's thread
    assert server.count("POST") == 2 and server.hanging == 2  # it gave up while they still hung
