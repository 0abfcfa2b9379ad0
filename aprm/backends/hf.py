"""The in-process backend: the solver's own batched, per-sample-seeded HF `generate`.

It runs `aprm.models.sampling.sample_solutions`, which takes Problems, not prompt texts. Until
sampling exposes a text-level entry point, a prompt is turned back into the Problem it was made
from (`format_prompt` is inverted exactly, and checked), so this backend accepts solver prompts
only and raises a clear error for any other text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import torch

from aprm.backends.base import (
    BackendConfigError,
    Completion,
    GenerationBackend,
    check_generation_args,
    cut_at_stop,
    normalize_stop,
    resolve_keys,
)
from aprm.group_configs import HfBackendConfig
from aprm.models.factory import build_model, load_tokenizer_for
from aprm.models.sampling import pick_device, sample_solutions
from aprm.models.text_format import ANSWER_HEADER, PROMPT_PREFIX, format_prompt
from aprm.schema import Problem
from aprm.structured import build_config


def problem_for_prompt(prompt: str, key: str, index: int) -> Problem:
    """The Problem whose `format_prompt` is exactly `prompt` (id = the seeding key)."""
    if prompt.startswith(PROMPT_PREFIX) and prompt.endswith(ANSWER_HEADER):
        question = prompt[len(PROMPT_PREFIX):len(prompt) - len(ANSWER_HEADER)]
        problem = Problem(id=key, question=question, answer="")
        if format_prompt(problem) == prompt:
            return problem
    raise ValueError(
        f"prompts[{index}]: the hf backend takes solver prompts made by "
        f"aprm.models.text_format.format_prompt, got {prompt[:80]!r}"
    )


def _device(value: Any) -> torch.device:
    if value in (None, "auto"):
        return pick_device()
    try:
        return torch.device(str(value))
    except RuntimeError as err:
        raise BackendConfigError(f"backend.device: {value!r} is not a torch device") from err


class HFBackend(GenerationBackend):
    """Samples with a causal LM held in this process."""

    name = "hf"

    def __init__(self, model, tokenizer, batch_size: int = 64):
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise BackendConfigError(f"backend.batch_size must be a positive int, got {batch_size!r}")
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size

    @classmethod
    def from_dir(cls, model_dir: str | Path, batch_size: int = 64, device: Any = "auto") -> "HFBackend":
        """Load a solver saved with `save_pretrained` (model + tokenizer in one folder)."""
        if not Path(model_dir).is_dir():
            raise BackendConfigError(f"hf backend: model folder {str(model_dir)!r} does not exist")
        model_cfg = {"kind": "hf", "solver": str(model_dir)}
        tokenizer = load_tokenizer_for(model_cfg, "solver")
        model = build_model("solver", model_cfg, tokenizer)
        model.to(_device(device))
        model.eval()
        return cls(model, tokenizer, batch_size=batch_size)

    @classmethod
    def from_config(cls, backend_cfg: Mapping[str, Any], model_dir: str | None) -> "HFBackend":
        try:
            cfg = build_config(HfBackendConfig, backend_cfg, "backend")
        except ValueError as err:
            raise BackendConfigError(str(err)) from None
        if not model_dir:
            raise BackendConfigError("backend.name=hf needs the trained solver's model folder")
        return cls.from_dir(model_dir, batch_size=cfg.batch_size, device=cfg.device)

    def generate(self, prompts: Sequence[str], n: int, temperature: float, top_p: float,
                 max_new_tokens: int, seed: int, *, keys: Sequence[str] | None = None,
                 stop: Sequence[str] = ()) -> list[list[Completion]]:
        check_generation_args(n, temperature, top_p, max_new_tokens)
        keys = resolve_keys(prompts, keys)
        stop = normalize_stop(stop)
        problems = [problem_for_prompt(p, key, i) for i, (p, key) in enumerate(zip(prompts, keys))]
        if not problems:
            return []
        samples = sample_solutions(self.model, self.tokenizer, problems, n=n,
                                   temperature=float(temperature), top_p=float(top_p),
                                   max_new_tokens=max_new_tokens, seed=int(seed),
                                   batch_size=self.batch_size)
        return [[cut_at_stop(Completion(s.text, s.truncated, s.num_tokens), stop) for s in row]
                for row in samples]
