"""A backend for any OpenAI-compatible *completions* server (`vllm serve DIR`, ...).

HTTP through httpx (one pooled client per call, proxies bypassed for a loopback server). One
`POST /v1/completions` per prompt asks for its n samples; up to `backend.concurrency` requests
are in flight, which is what lets a continuous-batching server fill its batches. `GET /v1/models`
checks once that the server serves `backend.model`. Response bodies are streamed and capped, so
a server that ignores `max_tokens` cannot grow the work downstream.

Transient failures (refused/reset connections, 429, 5xx, timeouts) are retried up to
`backend.max_retries` times with exponential backoff and jitter drawn from a per-request seeded
RNG, and stop early when another request of the call has failed (httpx's own transport retries
cover connection attempts only, without backoff or Retry-After); everything else fails at once
with a message naming the config key to fix.

Seeding: a request's `seed` is derived from (seed, prompt key). vLLM seeds choice k of a request
with seed + k, so all samples are reproducible for one server build.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any, Mapping, Sequence
from urllib.parse import urlsplit

import httpx

from aprm.backends.base import (
    BackendConfigError,
    BackendError,
    BackendResponseError,
    BackendTimeoutError,
    BackendUnavailableError,
    Completion,
    GenerationBackend,
    check_generation_args,
    normalize_stop,
    resolve_keys,
)
from aprm.backends.openai_settings import MAX_BACKOFF_S, OpenAISettings

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# Caps a completion's text at max_new_tokens * this many characters: a server that returns more
# ignored max_tokens, and its text must not grow the work downstream without bound.
MAX_CHARS_PER_TOKEN = 32
MODELS_RESPONSE_LIMIT = 1 << 20
ERROR_DETAIL_CHARS = 300


class _Transient(Exception):
    """One failed attempt that may succeed when retried."""

    def __init__(self, kind: str, detail: str, retry_after: float | None = None):
        super().__init__(detail)
        self.kind = kind  # "timeout" | "refused" | "connection" | "status"
        self.detail = detail
        self.retry_after = retry_after


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def request_seed(seed: int, key: str) -> int:
    """A 31-bit seed per (seed, prompt key): small enough for any server's seed type, even
    after vLLM adds the choice index."""
    digest = hashlib.sha256(f"aprm-openai|{int(seed)}|{key}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFF_FFFF


def parse_completions(raw: bytes, n: int, max_chars: int, where: str) -> list[Completion]:
    """Validate a /v1/completions response for a single prompt and return its n completions."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as err:
        raise BackendResponseError(f"{where}: the response is not JSON ({err}): {raw[:200]!r}") from err
    if not isinstance(data, dict):
        raise BackendResponseError(f"{where}: expected a JSON object, got {type(data).__name__}")
    choices = data.get("choices")
    if not isinstance(choices, list):
        detail = str(data.get("error", data))[:ERROR_DETAIL_CHARS]
        raise BackendResponseError(f"{where}: the response has no 'choices' list: {detail}")
    if len(choices) != n:
        raise BackendResponseError(
            f"{where}: asked for n={n} completions, got {len(choices)} choices "
            f"(a server that ignores `n` cannot serve this backend)")
    slots: list[Completion | None] = [None] * n
    for pos, choice in enumerate(choices):
        if not isinstance(choice, dict):
            raise BackendResponseError(f"{where}: choices[{pos}] is not an object")
        index = choice.get("index", pos)
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < n \
                or slots[index] is not None:
            raise BackendResponseError(f"{where}: choices[{pos}].index={index!r} is out of range or repeated")
        text = choice.get("text")
        if not isinstance(text, str):
            raise BackendResponseError(f"{where}: choices[{pos}].text is not a string")
        truncated = choice.get("finish_reason") == "length"
        if len(text) > max_chars:
            text, truncated = text[:max_chars], True
        slots[index] = Completion(text=text, truncated=truncated)
    return slots  # type: ignore[return-value]


def _read_capped(response: httpx.Response, limit: int, deadline: float, where: str) -> bytes:
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise BackendResponseError(f"{where}: response of {declared} bytes exceeds the {limit}-byte cap")
    chunks, size = [], 0
    for chunk in response.iter_bytes(1 << 16):
        size += len(chunk)
        if size > limit:
            raise BackendResponseError(f"{where}: response exceeds the {limit}-byte cap")
        if time.monotonic() > deadline:  # a server trickling bytes must not outlive timeout_s
            raise httpx.ReadTimeout("response body still arriving at the deadline")
        chunks.append(chunk)
    return b"".join(chunks)


def _error_detail(response: httpx.Response) -> str:
    body = b""
    try:
        for chunk in response.iter_bytes(4096):
            body += chunk
            if len(body) >= 4096:
                break
    except httpx.HTTPError:
        return "(no body)"
    return body[:4096].decode("utf-8", "replace")[:ERROR_DETAIL_CHARS] or "(no body)"


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "").strip()
    try:
        return min(float(value), MAX_BACKOFF_S) if value else None
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


def _is_refused(err: httpx.ConnectError) -> bool:
    cause = err.__cause__ or err.__context__
    while cause is not None and not isinstance(cause, ConnectionRefusedError):
        cause = cause.__cause__ or cause.__context__
    return cause is not None or "refused" in str(err).lower()


class OpenAIBackend(GenerationBackend):
    """Samples from a model behind an OpenAI-compatible completions endpoint."""

    name = "openai"

    def __init__(self, settings: OpenAISettings):
        self.settings = settings
        self._model_checked = False
        self._headers = {"Accept": "application/json", "User-Agent": "aprm-backend"}
        if settings.api_key:
            self._headers["Authorization"] = f"Bearer {settings.api_key}"

    def _client(self) -> httpx.Client:
        """A client for one call: its pool holds `backend.concurrency` connections; a loopback
        server is reached directly, whatever proxy the environment names."""
        loopback = _is_loopback(urlsplit(self.settings.base_url).hostname or "")
        return httpx.Client(base_url=self.settings.base_url, headers=self._headers,
                            timeout=httpx.Timeout(self.settings.timeout_s), trust_env=not loopback,
                            limits=httpx.Limits(max_connections=self.settings.concurrency))

    @classmethod
    def from_config(cls, backend_cfg: Mapping[str, Any], model_dir: str | None) -> "OpenAIBackend":
        return cls(OpenAISettings.from_config(backend_cfg, model_dir))

    # ----- one HTTP exchange -----

    def _request_once(self, client: httpx.Client, method: str, path: str, payload: dict | None, limit: int,
                      where: str) -> bytes:
        deadline = time.monotonic() + self.settings.timeout_s
        try:
            with client.stream(method, path, json=payload) as response:
                if response.status_code >= 400:
                    detail = _error_detail(response)
                    if response.status_code in RETRY_STATUSES:
                        raise _Transient("status", f"HTTP {response.status_code}: {detail}", _retry_after(response))
                    raise self._fatal_status(response.status_code, path, detail)
                return _read_capped(response, limit, deadline, where)
        except httpx.TimeoutException as err:
            raise _Transient("timeout", str(err) or "read timed out") from None
        except httpx.ConnectError as err:
            if _is_refused(err):
                raise _Transient("refused", f"connection refused ({err})") from None
            raise _Transient("connection", f"{type(err).__name__}: {err}") from None
        except (httpx.NetworkError, httpx.RemoteProtocolError) as err:  # resets, a server gone mid-response
            raise _Transient("connection", f"{type(err).__name__}: {err}") from None
        except httpx.HTTPError as err:  # a bad URL or protocol: retrying cannot help
            raise BackendUnavailableError(
                f"cannot reach the server at backend.base_url={self.settings.base_url}: {err}") from None

    def _fatal_status(self, status: int, path: str, detail: str) -> Exception:
        url = self.settings.base_url + path
        if status in (401, 403):
            return BackendConfigError(
                f"backend.api_key_env: {url} refused the credentials (HTTP {status}): {detail}")
        if status == 404:
            return BackendConfigError(
                f"{url} answered 404: check backend.base_url (an OpenAI-compatible server?) and "
                f"backend.model={self.settings.model!r}: {detail}")
        return BackendResponseError(f"{url} rejected the request (HTTP {status}): {detail}")

    # ----- retries -----

    def _call(self, client: httpx.Client, method: str, path: str, payload: dict | None, limit: int, where: str,
              rng: random.Random, abort: threading.Event, retry_refused: bool = True) -> bytes:
        attempts = self.settings.max_retries + 1
        for attempt in range(attempts):
            if abort.is_set():
                raise BackendError(f"{where}: cancelled after another request failed")
            try:
                return self._request_once(client, method, path, payload, limit, where)
            except _Transient as failure:
                last = failure
                if attempt + 1 == attempts or (failure.kind == "refused" and not retry_refused):
                    break
                cap = min(MAX_BACKOFF_S, self.settings.backoff_s * 2 ** attempt)
                delay = cap * (0.5 + 0.5 * rng.random())  # jitter de-synchronises the workers
                if failure.retry_after is not None:
                    delay = max(delay, failure.retry_after)
                log.warning("%s: attempt %d/%d failed (%s); retrying in %.2f s", where,
                            attempt + 1, attempts, failure.detail, delay)
                if abort.wait(delay):
                    raise BackendError(f"{where}: cancelled after another request failed") from None
        raise self._final_error(last, attempt + 1, where)

    def _final_error(self, failure: _Transient, tries: int, where: str) -> BackendError:
        s = self.settings
        tried = f"{tries} attempt(s), backend.max_retries={s.max_retries}"
        if failure.kind == "timeout":
            return BackendTimeoutError(
                f"{where}: no answer from {s.base_url} within backend.timeout_s={s.timeout_s} "
                f"({tried})")
        if failure.kind in ("refused", "connection"):
            return BackendUnavailableError(
                f"{where}: cannot reach the server at backend.base_url={s.base_url}: "
                f"{failure.detail} ({tried}); is it running?")
        return BackendUnavailableError(
            f"{where}: the server at backend.base_url={s.base_url} kept failing: "
            f"{failure.detail} ({tried})")

    # ----- API -----

    def served_models(self) -> list[str]:
        """The model ids `GET /v1/models` lists. A refused connection fails at once: nothing
        listens at backend.base_url, and retrying would only delay saying so."""
        with self._client() as client:
            raw = self._call(client, "GET", "/v1/models", None, MODELS_RESPONSE_LIMIT, "GET /v1/models",
                             random.Random(0), threading.Event(), retry_refused=False)
        try:
            entries = json.loads(raw)["data"]
            return [str(entry["id"]) for entry in entries]
        except (ValueError, KeyError, TypeError) as err:
            raise BackendResponseError(
                f"GET {self.settings.base_url}/v1/models: expected {{'data': [{{'id': ...}}]}}, "
                f"got {raw[:200]!r}") from err

    def check_model(self) -> None:
        """Fail unless the server serves backend.model (checked once per backend)."""
        if self._model_checked:
            return
        served = self.served_models()
        if self.settings.model not in served:
            raise BackendConfigError(
                f"backend.model={self.settings.model!r} is not served by "
                f"backend.base_url={self.settings.base_url}; it serves {served}")
        self._model_checked = True

    def _complete(self, client: httpx.Client, index: int, prompt: str, key: str, n: int, temperature: float,
                  top_p: float, max_new_tokens: int, seed: int, stop: Sequence[str],
                  abort: threading.Event) -> list[Completion]:
        payload: dict[str, Any] = {
            "model": self.settings.model, "prompt": prompt, "n": n,
            "temperature": float(temperature), "top_p": float(top_p),
            "max_tokens": max_new_tokens, "seed": request_seed(seed, key),
        }
        if stop:
            payload["stop"] = list(stop)
        max_chars = max_new_tokens * MAX_CHARS_PER_TOKEN
        limit = n * max_chars * 6 + (1 << 16)  # JSON escapes take at most 6 bytes a character
        where = f"POST /v1/completions for prompts[{index}]"
        rng = random.Random(f"backoff|{seed}|{key}")
        raw = self._call(client, "POST", "/v1/completions", payload, limit, where, rng, abort)
        return parse_completions(raw, n, max_chars, where)

    def generate(self, prompts: Sequence[str], n: int, temperature: float, top_p: float,
                 max_new_tokens: int, seed: int, *, keys: Sequence[str] | None = None,
                 stop: Sequence[str] = ()) -> list[list[Completion]]:
        check_generation_args(n, temperature, top_p, max_new_tokens)
        keys = resolve_keys(prompts, keys)
        stop = normalize_stop(stop)
        if not prompts:
            return []
        self.check_model()
        results: list[list[Completion] | None] = [None] * len(prompts)
        abort = threading.Event()
        workers = min(self.settings.concurrency, len(prompts))
        client = self._client()
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="aprm-openai")
        try:
            futures = {
                pool.submit(self._complete, client, i, prompt, key, n, temperature, top_p,
                            max_new_tokens, seed, stop, abort): i
                for i, (prompt, key) in enumerate(zip(prompts, keys))
            }
            for future in as_completed(futures):
                results[futures[future]] = future.result()
        except BaseException:
            # Stop the others' retries, and do not wait for requests in flight: a caller's
            # timeout (a stage timeout) must not be held up by a hung request.
            abort.set()
            pool.shutdown(wait=False, cancel_futures=True)
            raise  # the client stays open for requests still in flight; collected with them
        pool.shutdown()
        client.close()
        return results  # type: ignore[return-value]
