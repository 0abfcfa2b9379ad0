"""A minimal OpenAI-compatible completions server, for tests and benches only.

It runs the real model through the project's `hf` backend behind `POST /v1/completions` and
`GET /v1/models`, on loopback, standard library HTTP. It exists because `transformers serve`
(transformers 5.23) cannot stand in for vLLM here: it needs the `openai` package (not a project
dependency), lists `n` among the fields it ignores (one choice per request, so best-of-n sampling
would silently get 1 sample), and applies `seed` with a process-wide `torch.manual_seed`, which
concurrent requests race on.

Requests are served one at a time (a lock around generate): the point is a real HTTP process
with the real model, not throughput.

    python tests/servers/completions_server.py --model-dir DIR [--served-model-name NAME]
        [--port 0] [--wait-s SECONDS]

prints `listening on http://127.0.0.1:PORT` once it accepts connections; SIGTERM stops it.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import signal
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

MAX_BODY_BYTES = 1 << 20
MAX_N = 64


class RequestError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _number(body: dict, key: str, default, low: float, high: float, integer: bool = False):
    value = body.get(key, default)
    if value is None:
        value = default
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not low <= value <= high:
        raise RequestError(400, f"'{key}' must be a number in [{low}, {high}], got {value!r}")
    return value


def parse_request(body, served_name: str) -> dict:
    """The generation arguments of a completions request, or a RequestError."""
    if not isinstance(body, dict):
        raise RequestError(400, "the request body must be a JSON object")
    if body.get("model") != served_name:
        raise RequestError(404, f"The model `{body.get('model')}` does not exist.")
    prompt = body.get("prompt")
    if not isinstance(prompt, str):
        raise RequestError(400, "'prompt' must be a single string")
    stop = body.get("stop") or []
    stop = [stop] if isinstance(stop, str) else stop
    if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
        raise RequestError(400, "'stop' must be a string or a list of strings")
    top_p = _number(body, "top_p", 1.0, 0.0, 1.0)
    if top_p == 0:
        raise RequestError(400, "'top_p' must be > 0")
    return {
        "prompts": [prompt],
        "n": _number(body, "n", 1, 1, MAX_N, integer=True),
        "temperature": float(_number(body, "temperature", 1.0, 0.0, 100.0)),
        "top_p": float(top_p),
        "max_new_tokens": _number(body, "max_tokens", 16, 1, 1 << 20, integer=True),
        "seed": _number(body, "seed", 0, -(1 << 63), (1 << 63) - 1, integer=True),
        "stop": stop,
    }


class CompletionsServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, backend, served_name: str):
        super().__init__(address, CompletionsHandler)
        self.backend = backend
        self.served_name = served_name
        self.generate_lock = threading.Lock()


class CompletionsHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: CompletionsServer

    def log_message(self, format, *args):  # noqa: A002 - quiet: tests read stdout for the port
        pass

    def _send_json(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _send_error(self, status: int, message: str) -> None:
        self._send_json(status, {"error": {"message": message, "type": "invalid_request_error",
                                           "code": status}})

    def do_GET(self):  # noqa: N802 - http.server's naming
        if self.path == "/v1/models":
            self._send_json(200, {"object": "list", "data": [
                {"id": self.server.served_name, "object": "model", "owned_by": "aprm"}]})
        elif self.path == "/health":
            self._send_json(200, {"status": "ok"})
        else:
            self._send_error(404, f"no route {self.path}")

    def do_POST(self):  # noqa: N802
        if self.path != "/v1/completions":
            self._send_error(404, f"no route {self.path}")
            return
        length = self.headers.get("Content-Length", "")
        if not length.isdigit() or int(length) > MAX_BODY_BYTES:
            self._send_error(413, f"the body must declare a Content-Length <= {MAX_BODY_BYTES}")
            return
        try:
            args = parse_request(json.loads(self.rfile.read(int(length))), self.server.served_name)
            with self.server.generate_lock:
                completions = self.server.backend.generate(**args)[0]
        except RequestError as err:
            self._send_error(err.status, str(err))
            return
        except ValueError as err:  # bad JSON, a prompt the backend rejects, too many tokens
            self._send_error(400, str(err))
            return
        self._send_json(200, {
            "id": f"cmpl-{uuid.uuid4().hex}",
            "object": "text_completion",
            "created": int(time.time()),
            "model": self.server.served_name,
            "choices": [{"index": k, "text": c.text, "logprobs": None,
                         "finish_reason": "length" if c.truncated else "stop"}
                        for k, c in enumerate(completions)],
            "usage": {"completion_tokens": sum(c.num_tokens or 0 for c in completions)},
        })


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", required=True)
    parser.add_argument("--served-model-name", default=None, help="default: the model folder")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--wait-s", type=float, default=0.0,
                        help="wait this long for --model-dir to appear (lets a caller train the "
                             "model while this process imports torch)")
    args = parser.parse_args(argv)
    if not ipaddress.ip_address(args.host).is_loopback:
        parser.error("this test server listens on loopback addresses only")

    import torch

    from aprm.backends.hf import HFBackend

    torch.set_num_threads(args.threads)
    deadline = time.monotonic() + args.wait_s
    while not Path(args.model_dir).is_dir():  # saved atomically: present means complete
        if time.monotonic() > deadline:
            parser.exit(2, f"model folder {args.model_dir} did not appear within {args.wait_s} s\n")
        time.sleep(0.1)
    backend = HFBackend.from_dir(args.model_dir, batch_size=args.batch_size, device="cpu")
    server = CompletionsServer((args.host, args.port), backend,
                               args.served_model_name or args.model_dir)
    signal.signal(signal.SIGTERM,
                  lambda *_: threading.Thread(target=server.shutdown, daemon=True).start())
    host, port = server.server_address[:2]
    print(f"listening on http://{host}:{port}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
