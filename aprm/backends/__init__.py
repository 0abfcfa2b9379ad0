"""Generation backends behind one interface: `hf` (in process) and `openai` (any
OpenAI-compatible completions server, e.g. `vllm serve`).

    backend = make_backend(cfg["backend"], model_dir)
    samples = aprm.backends.solutions.sample_solutions_with(backend, problems, n, ...)

Only the contract is imported here; `hf` and `solutions` pull in torch when first used.
"""

from aprm.backends.base import (
    BACKEND_NAMES,
    BackendConfigError,
    BackendError,
    BackendResponseError,
    BackendTimeoutError,
    BackendUnavailableError,
    Completion,
    GenerationBackend,
    make_backend,
)

__all__ = [
    "BACKEND_NAMES", "BackendConfigError", "BackendError", "BackendResponseError",
    "BackendTimeoutError", "BackendUnavailableError", "Completion", "GenerationBackend",
    "make_backend",
]
