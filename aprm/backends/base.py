"""The generation-backend contract: n completions per prompt, whatever runs the model.

A backend turns prompts into raw completion texts; it never parses them. Parsing happens once,
in `aprm.backends.solutions`, with the solver's own parser, so every backend's samples are read
identically.

Seeding: each prompt carries a *key* (default: a hash of the prompt text). A backend draws the
samples of a prompt from (seed, key) only, so a prompt's samples do not depend on which other
prompts share the call. Pass problem ids as keys to make the `hf` backend reproduce
`aprm.models.sampling.sample_solutions` exactly.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

BACKEND_NAMES = ("hf", "openai")


class BackendError(RuntimeError):
    """Generation failed; the message names the config key to look at where one is to blame."""


class BackendConfigError(ValueError):
    """A bad `backend.*` setting (or one the server contradicts); the message names the key."""


class BackendUnavailableError(BackendError):
    """The server could not be reached, or kept failing after every retry."""


class BackendTimeoutError(BackendError):
    """The server did not answer within `backend.timeout_s`, on every attempt."""


class BackendResponseError(BackendError):
    """The server answered something that is not a valid completions response."""


@dataclass(frozen=True)
class Completion:
    """One generated continuation of a prompt.

    truncated: generation stopped at the token budget instead of at eos or a stop string.
    num_tokens: generated tokens, or None where the backend does not report it per sample.
    """

    text: str
    truncated: bool = False
    num_tokens: int | None = None


def check_generation_args(n: int, temperature: float, top_p: float, max_new_tokens: int) -> None:
    for name, value in (("n", n), ("max_new_tokens", max_new_tokens)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if not float(temperature) >= 0.0:
        raise ValueError(f"temperature must be >= 0, got {temperature!r}")
    if not 0.0 < float(top_p) <= 1.0:
        raise ValueError(f"top_p must be in (0, 1], got {top_p!r}")


def prompt_key(prompt: str) -> str:
    """The default seeding key of a prompt: a stable hash of its text."""
    return "prompt-" + hashlib.sha256(prompt.encode("utf-8")).hexdigest()[:32]


def resolve_keys(prompts: Sequence[str], keys: Sequence[str] | None) -> list[str]:
    if keys is None:
        return [prompt_key(p) for p in prompts]
    keys = [str(k) for k in keys]
    if len(keys) != len(prompts):
        raise ValueError(f"got {len(keys)} keys for {len(prompts)} prompts")
    return keys


def normalize_stop(stop: str | Sequence[str]) -> tuple[str, ...]:
    """OpenAI's `stop` is one string or a list of them; empty strings stop nothing."""
    stop = (stop,) if isinstance(stop, str) else tuple(stop)
    if not all(isinstance(s, str) for s in stop):
        raise ValueError(f"stop must be strings, got {stop!r}")
    return tuple(s for s in stop if s)


def cut_at_stop(completion: Completion, stop: Sequence[str]) -> Completion:
    """OpenAI `stop` semantics on a finished text: end before the first stop string, which
    counts as a normal finish. The token count no longer matches the text, so it is dropped."""
    cuts = [completion.text.find(s) for s in normalize_stop(stop)]
    cuts = [c for c in cuts if c >= 0]
    if not cuts:
        return completion
    return Completion(text=completion.text[:min(cuts)], truncated=False, num_tokens=None)


class GenerationBackend(ABC):
    """Draws n completions per prompt. result[i][k] is completion k of prompts[i]."""

    name: str = ""

    @abstractmethod
    def generate(self, prompts: Sequence[str], n: int, temperature: float, top_p: float,
                 max_new_tokens: int, seed: int, *, keys: Sequence[str] | None = None,
                 stop: Sequence[str] = ()) -> list[list[Completion]]:
        """temperature 0 = greedy. keys: per-prompt seeding keys (see the module docstring).
        stop: strings that end a completion (excluded from the text)."""

    def close(self) -> None:
        """Release what the backend holds (connections, model memory); the default holds none."""

    def __enter__(self) -> "GenerationBackend":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def make_backend(backend_cfg: Mapping[str, Any], model_dir: str | None) -> GenerationBackend:
    """The backend named by `backend_cfg["name"]`.

    hf: loads the saved model in `model_dir` in this process.
    openai: talks to a server; `backend.model` defaults to `model_dir`, the name `vllm serve DIR`
    gives the model it serves.
    """
    if not isinstance(backend_cfg, Mapping):
        raise BackendConfigError(f"backend: expected a mapping, got {type(backend_cfg).__name__}")
    name = backend_cfg.get("name")
    if name == "hf":
        from aprm.backends.hf import HFBackend

        return HFBackend.from_config(backend_cfg, model_dir)
    if name == "openai":
        from aprm.backends.openai_client import OpenAIBackend

        return OpenAIBackend.from_config(backend_cfg, model_dir)
    raise BackendConfigError(f"backend.name must be one of {list(BACKEND_NAMES)}, got {name!r}")
