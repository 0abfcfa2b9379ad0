"""Generation backends against real HTTP servers on 127.0.0.1.

- The project's tiny solver (trained here for a few seconds so it writes whole solutions) served
  in a separate process by tests/servers/completions_server.py, which runs the `hf` backend.
- Small in-test `http.server` handlers for what a healthy server never does: 503s, stalls,
  malformed or oversized answers; they also count concurrent requests and record headers.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch

from aprm.backends import (
    BackendConfigError,
    BackendResponseError,
    BackendTimeoutError,
    BackendUnavailableError,
    make_backend,
)
from aprm.backends.hf import HFBackend
from aprm.backends.openai_client import MAX_CHARS_PER_TOKEN, OpenAIBackend
from aprm.backends.solutions import sample_solutions_with
from aprm.data.synthetic import generate_split
from aprm.models.factory import build_model
from aprm.models.sampling import SampledSolution, sample_solutions
from aprm.models.solver import train_solver
from aprm.models.text_format import format_prompt, format_solution, parse_solution_text
from aprm.models.tokenizer import train_tokenizer

SERVER_SCRIPT = Path(__file__).parent / "servers" / "completions_server.py"
SERVED_NAME = "tiny-solver"
TINY_SOLVER = {"kind": "tiny", "hidden_size": 64, "num_layers": 2, "num_heads": 2,
               "intermediate_size": 128, "max_position_embeddings": 256}


# ----- the real model server -----

@pytest.fixture(scope="module")
def problems():
    return generate_split("train", 4, 0)


def _train_solver(problems, out: Path) -> None:
    """A tiny solver that memorises its 4 training problems (100 steps, seconds on CPU), so it
    writes whole solutions ending in `The answer is X.`."""
    torch.set_num_threads(1)
    tokenizer = train_tokenizer([p.question for p in problems]
                                + [format_solution(p.reference_steps) for p in problems])
    model = build_model("solver", TINY_SOLVER, tokenizer, seed=0)
    train_solver(problems, tokenizer, model, {"epochs": 100, "batch_size": 4, "lr": 1e-2}, out)


def _wait_for_url(proc: subprocess.Popen, log_path: Path, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if sel.select(timeout=0.2):
                line = proc.stdout.readline()
                if line.startswith("listening on "):
                    return line.split()[-1]
            if proc.poll() is not None:
                break
    raise RuntimeError(f"model server did not start: {log_path.read_text()[-2000:]}")


@pytest.fixture(scope="module")
def served_solver(problems, tmp_path_factory):
    """(solver folder, server URL): the server process starts first and imports torch while this
    process trains the solver it will load."""
    work = tmp_path_factory.mktemp("backend")
    solver_dir, log_path = work / "solver", work / "server-stderr.txt"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, str(SERVER_SCRIPT), "--model-dir", str(solver_dir),
             "--served-model-name", SERVED_NAME, "--host", "127.0.0.1", "--port", "0",
             "--wait-s", "300"],
            stdout=subprocess.PIPE, stderr=log, text=True, env=env)
    try:
        _train_solver(problems, solver_dir)
        yield solver_dir, _wait_for_url(proc, log_path, timeout=120)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()


@pytest.fixture(scope="module")
def model_server(served_solver):
    return served_solver[1]


@pytest.fixture(scope="module")
def hf_backend(served_solver):
    return HFBackend.from_dir(served_solver[0], device="cpu")


def openai_backend(base_url: str, **overrides) -> OpenAIBackend:
    cfg = {"name": "openai", "base_url": base_url, "model": SERVED_NAME, "timeout_s": 60.0,
           "max_retries": 0, "backoff_s": 0.05, **overrides}
    return make_backend(cfg, None)


def _assert_parsed(sample: SampledSolution) -> None:
    parsed = parse_solution_text(sample.text)
    assert isinstance(sample.steps, tuple) and all(isinstance(s, str) for s in sample.steps)
    assert (sample.steps, sample.final_answer) == (parsed.steps, parsed.final_answer)


def test_greedy_samples_through_the_server_equal_the_hf_backend(model_server, hf_backend, problems):
    served = sample_solutions_with(openai_backend(model_server), problems, n=1, temperature=0.0,
                                   top_p=1.0, max_new_tokens=160, seed=0)
    assert len(served) == len(problems) and all(len(row) == 1 for row in served)
    for problem, row in zip(problems, served):
        # one prompt per call: the same batch the server ran, so the same floats
        local = sample_solutions_with(hf_backend, [problem], n=1, temperature=0.0, top_p=1.0,
                                      max_new_tokens=160, seed=0)[0]
        assert [(s.text, s.truncated) for s in row] == [(s.text, s.truncated) for s in local]
        for sample in row:
            _assert_parsed(sample)
    answers = [row[0].final_answer for row in served]
    assert sum(a is not None for a in answers) >= 3, answers  # whole solutions came back


def test_sampled_completions_parse_like_hf_and_follow_the_seed(model_server, hf_backend, problems):
    backend = openai_backend(model_server, concurrency=2)
    # A hot temperature: the fixture's solver is confident enough that T=1 can repeat itself.
    kwargs = dict(n=3, temperature=2.0, top_p=0.95, max_new_tokens=48)
    first = sample_solutions_with(backend, problems[:2], seed=5, **kwargs)
    again = sample_solutions_with(backend, problems[:2], seed=5, **kwargs)
    other = sample_solutions_with(backend, problems[:2], seed=6, **kwargs)
    local = sample_solutions_with(hf_backend, problems[:2], seed=5, **kwargs)
    texts = [[s.text for s in row] for row in first]
    assert [[s.text for s in row] for row in again] == texts
    assert [[s.text for s in row] for row in other] != texts
    assert any(len(set(row)) > 1 for row in texts)  # the n choices are not copies of one
    assert [len(row) for row in first] == [len(row) for row in local] == [3, 3]
    for row in first + local:
        for sample in row:
            assert isinstance(sample, SampledSolution)
            _assert_parsed(sample)


def test_stop_strings_cut_both_backends_alike(model_server, hf_backend, problems):
    prompts = [format_prompt(p) for p in problems[:2]]
    args = dict(n=1, temperature=0.0, top_p=1.0, max_new_tokens=80, seed=0, stop=["\n"])
    served = openai_backend(model_server).generate(prompts, **args)
    local = [hf_backend.generate([p], **args)[0] for p in prompts]
    assert [[c.text for c in row] for row in served] == [[c.text for c in row] for row in local]
    assert all(c.text and "\n" not in c.text and not c.truncated for row in served for c in row)


def test_hf_backend_reproduces_sample_solutions(hf_backend, problems):
    args = dict(n=2, temperature=1.0, top_p=1.0, max_new_tokens=32, seed=3)
    direct = sample_solutions(hf_backend.model, hf_backend.tokenizer, problems, **args)
    via_backend = sample_solutions_with(hf_backend, problems, **args)
    assert via_backend == direct
    with pytest.raises(ValueError, match=r"prompts\[1\]: the hf backend takes solver prompts"):
        hf_backend.generate([format_prompt(problems[0]), "Tell me a story"], n=1,
                            temperature=0.0, top_p=1.0, max_new_tokens=4, seed=0)


def test_wrong_model_names_backend_model_and_what_is_served(model_server, problems):
    backend = openai_backend(model_server, model="some-other-model")
    with pytest.raises(BackendConfigError, match=r"backend\.model='some-other-model'") as err:
        backend.generate([format_prompt(problems[0])], n=1, temperature=0.0, top_p=1.0,
                         max_new_tokens=4, seed=0)
    assert SERVED_NAME in str(err.value)


def test_down_server_fails_fast_naming_base_url():
    with socket.socket() as sock:  # a port nothing listens on once this closes
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # retries of a refused first contact would take 1 + 2 + 4 s here
    backend = openai_backend(f"http://127.0.0.1:{port}", max_retries=3, backoff_s=1.0)
    started = time.monotonic()
    with pytest.raises(BackendUnavailableError, match=rf"backend\.base_url=http://127\.0\.0\.1:{port}"):
        backend.generate(["Question: x\nAnswer:\n"], n=1, temperature=0.0, top_p=1.0,
                         max_new_tokens=4, seed=0)
    assert time.monotonic() - started < 3.0


# ----- fault injection: small servers on loopback -----

@contextlib.contextmanager
def serve(handler_cls, **state):
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_cls)
    server.daemon_threads = True
    server.release = threading.Event()
    server.lock = threading.Lock()
    server.posts = 0
    server.__dict__.update(state)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.release.set()  # wake stalled handlers
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class QuietHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002
        pass

    def send_json(self, status: int, payload, raw: bytes | None = None) -> None:
        data = raw if raw is not None else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def read_json(self) -> dict:
        return json.loads(self.rfile.read(int(self.headers["Content-Length"])))

    def do_GET(self):  # noqa: N802
        self.send_json(200, {"object": "list", "data": [{"id": SERVED_NAME, "object": "model"}]})


class FlakyProxy(QuietHandler):
    """Answers the first `failures` POSTs with 503, then forwards to the real model server."""

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with self.server.lock:
            self.server.posts += 1
            fail = self.server.posts <= self.server.failures
        if fail:
            self.send_json(503, {"error": {"message": "model is loading"}})
            return
        request = urllib.request.Request(self.server.upstream + self.path, data=body,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            self.send_json(response.status, None, raw=response.read())


class StalledServer(QuietHandler):
    def do_POST(self):  # noqa: N802
        with self.server.lock:
            self.server.posts += 1
        self.server.release.wait(timeout=10)


class CannedServer(QuietHandler):
    """Answers `reply(request)` after `delay` s; tracks peak concurrency and auth headers."""

    def do_POST(self):  # noqa: N802
        request = self.read_json()
        with self.server.lock:
            self.server.posts += 1
            self.server.inflight += 1
            self.server.peak = max(self.server.peak, self.server.inflight)
            self.server.auth.append(self.headers.get("Authorization"))
        time.sleep(self.server.delay)
        with self.server.lock:
            self.server.inflight -= 1
        status, payload, raw = self.server.reply(request)
        self.send_json(status, payload, raw)


class DroppingServer(QuietHandler):
    """Closes the first `drops` connections without a reply (a reset), then echoes."""

    def do_POST(self):  # noqa: N802
        request = self.read_json()
        with self.server.lock:
            self.server.posts += 1
            drop = self.server.posts <= self.server.drops
        if drop:
            self.close_connection = True
            return
        self.send_json(*echo_reply(request)[:2])


def canned(reply, delay: float = 0.0):
    return serve(CannedServer, reply=reply, delay=delay, inflight=0, peak=0, auth=[])


def echo_reply(request):
    choices = [{"index": k, "text": f"{request['prompt']}#{k}", "finish_reason": "stop"}
               for k in range(request["n"])]
    return 200, {"choices": choices}, None


@pytest.mark.parametrize("failures, max_retries, ok", [(2, 3, True), (10, 2, False)])
def test_503_is_retried_up_to_max_retries(model_server, problems, failures, max_retries, ok):
    args = dict(n=2, temperature=1.0, top_p=1.0, max_new_tokens=24, seed=1)
    with serve(FlakyProxy, upstream=model_server, failures=failures) as (server, url):
        backend = openai_backend(url, max_retries=max_retries)
        if ok:
            result = sample_solutions_with(backend, problems[:1], **args)
            direct = sample_solutions_with(openai_backend(model_server), problems[:1], **args)
            assert result == direct
        else:
            with pytest.raises(BackendUnavailableError, match=r"HTTP 503.*3 attempt"):
                sample_solutions_with(backend, problems[:1], **args)
        assert server.posts == min(failures + 1, max_retries + 1)


def test_dropped_connections_are_retried():
    with serve(DroppingServer, drops=2) as (server, url):
        result = openai_backend(url, max_retries=2).generate(
            ["p"], n=1, temperature=1.0, top_p=1.0, max_new_tokens=4, seed=0)
    assert result[0][0].text == "p#0" and server.posts == 3


def test_slow_server_hits_timeout_s():
    with serve(StalledServer) as (server, url):
        backend = openai_backend(url, timeout_s=0.5, max_retries=1)
        started = time.monotonic()
        with pytest.raises(BackendTimeoutError, match=r"backend\.timeout_s=0\.5 \(2 attempt"):
            backend.generate(["p"], n=1, temperature=1.0, top_p=1.0, max_new_tokens=4, seed=0)
        assert time.monotonic() - started < 4.0
        assert server.posts == 2


def test_concurrency_limit_order_and_api_key(monkeypatch):
    monkeypatch.setenv("APRM_TEST_KEY", "sekret")
    prompts = [f"prompt {i}" for i in range(6)]
    with canned(echo_reply, delay=0.2) as (server, url):
        backend = openai_backend(url, concurrency=2, api_key_env="APRM_TEST_KEY")
        result = backend.generate(prompts, n=2, temperature=1.0, top_p=1.0, max_new_tokens=8, seed=0)
    assert [[c.text for c in row] for row in result] == [[f"{p}#0", f"{p}#1"] for p in prompts]
    assert server.peak == 2 and server.posts == 6
    assert set(server.auth) == {"Bearer sekret"}


@pytest.mark.parametrize("reply, message", [
    (lambda r: (200, {"object": "text_completion"}, None), "no 'choices' list"),
    (lambda r: (200, {"choices": [{"index": 0, "text": "a"}]}, None), "asked for n=2 completions, got 1"),
    (lambda r: (200, {"choices": [{"index": 0, "text": "a"}] * 2}, None), r"choices\[1\]\.index=0"),
    (lambda r: (200, {"choices": [{"index": 0, "text": 1}, {"index": 1, "text": "b"}]}, None),
     r"choices\[0\]\.text is not a string"),
    (lambda r: (200, None, b"<html>busy</html>"), "not JSON"),
    (lambda r: (200, None, b"x" * 200_000), "exceeds the"),
    (lambda r: (400, {"error": {"message": "prompt too long"}}, None), r"HTTP 400.*prompt too long"),
])
def test_malformed_responses_fail_clearly(reply, message):
    with canned(reply) as (_, url):
        with pytest.raises(BackendResponseError, match=message):
            openai_backend(url).generate(["p"], n=2, temperature=1.0, top_p=1.0,
                                         max_new_tokens=4, seed=0)


def test_overlong_completion_is_capped_and_marked_truncated():
    reply = lambda r: (200, {"choices": [{"index": 0, "text": "7" * 5000, "finish_reason": "stop"}]}, None)  # noqa: E731
    with canned(reply) as (_, url):
        [[completion]] = openai_backend(url).generate(["p"], n=1, temperature=1.0, top_p=1.0,
                                                      max_new_tokens=4, seed=0)
    assert len(completion.text) == 4 * MAX_CHARS_PER_TOKEN and completion.truncated


@pytest.mark.parametrize("cfg, model_dir, message", [
    ({"name": "vllm"}, None, r"backend\.name must be one of \['hf', 'openai'\], got 'vllm'"),
    ({"name": "openai", "model": "m", "base_url": "127.0.0.1:8000"}, None, r"backend\.base_url"),
    ({"name": "openai", "model": "m", "concurency": 4}, None, r"unknown key\(s\) \['concurency'\]"),
    ({"name": "openai", "model": "m", "api_key": "sk-x"}, None, r"backend\.api_key_env"),
    ({"name": "openai", "model": "m", "api_key_env": "APRM_UNSET_KEY"}, None, "'APRM_UNSET_KEY' is not set"),
    ({"name": "openai", "model": "m", "concurrency": 0}, None, r"backend\.concurrency"),
    ({"name": "openai", "model": "m", "timeout_s": 0}, None, r"backend\.timeout_s"),
    ({"name": "openai"}, None, r"backend\.model"),
    ({"name": "hf"}, None, "model folder"),
    ({"name": "hf", "batch_size": 8, "devise": "cpu"}, "/tmp", r"unknown key\(s\) \['devise'\]"),
])
def test_bad_backend_config_names_the_key(cfg, model_dir, message, monkeypatch):
    monkeypatch.delenv("APRM_UNSET_KEY", raising=False)
    with pytest.raises(BackendConfigError, match=message):
        make_backend(cfg, model_dir)


def test_openai_model_defaults_to_the_model_folder():
    backend = make_backend({"name": "openai", "base_url": "http://127.0.0.1:9/v1/"}, "/models/solver")
    assert (backend.settings.model, backend.settings.base_url) == ("/models/solver", "http://127.0.0.1:9")
