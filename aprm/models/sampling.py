"""Batched solution sampling with HF `generate` (KV cache, left padding), seeded per sample.

Each sample (problem, k) owns a `torch.Generator` seeded from (seed, problem.id, k). Sampling is
the Gumbel-max trick inside a logits processor: temperature and top-p are applied, the row's own
Gumbel noise is added to the log-probabilities, and `generate` takes the argmax (greedy mode).
argmax(log p + Gumbel) is an exact draw from p, and because no random number is shared between
rows, a sample does not depend on the batch it ran in, on the batch size or on problem order
(up to float rounding of padded vs unpadded logits, which can flip a near-tie token rarely).
"""

from __future__ import annotations

import hashlib
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Sequence

import torch
from transformers import GenerationConfig, LogitsProcessor, LogitsProcessorList, TopPLogitsWarper

from aprm.models.text_format import format_prompt, format_solution, parse_solution_text
from aprm.progress import progress
from aprm.schema import Problem, Solution


@dataclass(frozen=True)
class SampledSolution(Solution):
    """A parsed sample plus what the parser cannot see: the raw text and whether generation
    stopped at max_new_tokens (no eos) instead of finishing."""

    truncated: bool = False
    text: str = ""
    num_tokens: int = 0

    def to_dict(self) -> dict:
        return {**super().to_dict(), "truncated": self.truncated, "text": self.text,
                "num_tokens": self.num_tokens}


def pick_device() -> torch.device:
    """CUDA when available, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


# Decoding on CPU runs transformers' eager attention: one query token per step against the KV
# cache, where SDPA's per-call overhead outweighs what it saves. On the benchmark's solver (ID val,
# 200 problems x 16 samples, 1 thread) eager sampled 1.10-1.23x faster and drew the very same 3,200
# samples (docs/LOG.md, 2026-12-05, session 16). Training and scoring keep the model's own kernel.
CPU_DECODING_ATTENTION = "eager"


@contextmanager
def decoding(model) -> Iterator[None]:
    """The model in eval mode for a `generate` loop, with eager attention where it runs on CPU
    (an SDPA model only); its mode and kernel are restored after, so a later save or training
    step sees the model as it was."""
    was_training = model.training
    kernel = getattr(model.config, "_attn_implementation", None)
    switch = kernel == "sdpa" and next(model.parameters()).device.type == "cpu"
    model.eval()
    if switch:
        model.set_attn_implementation(CPU_DECODING_ATTENTION)
    try:
        yield
    finally:
        if switch:
            model.set_attn_implementation(kernel)
        model.train(was_training)


def sample_seed(seed: int, problem_id: str, k: int) -> int:
    """A 63-bit seed for sample k of a problem, stable across runs, machines and batchings."""
    digest = hashlib.sha256(f"{int(seed)}|{problem_id}|{int(k)}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


class GumbelSampler(LogitsProcessor):
    """Turns greedy decoding into sampling at `temperature`/`top_p` with one generator per row."""

    def __init__(self, generators: Sequence[torch.Generator], temperature: float, top_p: float):
        self.generators = list(generators)
        self.temperature = float(temperature)
        self.top_p = TopPLogitsWarper(top_p=float(top_p)) if top_p < 1.0 else None

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        scores = scores.float() / self.temperature
        if self.top_p is not None:
            scores = self.top_p(input_ids, scores)
        log_probs = torch.log_softmax(scores, dim=-1)
        vocab = scores.shape[-1]
        # Every row draws exactly one noise vector per step, whatever the others do.
        uniform = torch.stack([torch.rand(vocab, generator=g) for g in self.generators])
        uniform = uniform.clamp_(min=1e-12, max=1.0 - 1e-7).to(scores.device)
        gumbel = -torch.log(-torch.log(uniform))
        return log_probs + gumbel


def _check_args(n: int, temperature: float, top_p: float, max_new_tokens: int,
                batch_size: int) -> None:
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if not 0.0 < top_p <= 1.0:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")


def _max_positions(model) -> int | None:
    config = model.config
    return getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None)


def _left_pad(rows: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(row) for row in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        input_ids[i, width - len(row):] = torch.tensor(row, dtype=torch.long)
        attention[i, width - len(row):] = 1
    return input_ids, attention


def _to_sample(tokenizer, generated: list[int], eos_id: int, head: str = "") -> SampledSolution:
    finished = eos_id in generated
    if finished:
        generated = generated[:generated.index(eos_id)]
    text = head + tokenizer.decode(generated, skip_special_tokens=True)
    parsed = parse_solution_text(text)
    return SampledSolution(steps=parsed.steps, final_answer=parsed.final_answer,
                           truncated=not finished, text=text, num_tokens=len(generated))


@torch.inference_mode()
def sample_solutions(model, tokenizer, problems: Sequence[Problem], n: int, temperature: float,
                     top_p: float, max_new_tokens: int, seed: int, batch_size: int = 64,
                     prefixes: Sequence[Sequence[str]] | None = None,
                     desc: str = "sampling") -> list[list[SampledSolution]]:
    """n samples per problem (result[i][k] is sample k of problems[i]); temperature 0 = greedy.

    `prefixes[i]`, when given, are steps the solution already has: sampling continues after them
    (Monte-Carlo rollouts) and the returned steps include them. Each (problem, prefix) draws its
    own random stream. Runs on the model's current device; rows are sorted by prompt length.
    `desc` names the progress bar (one tick per batch).
    """
    _check_args(n, temperature, top_p, max_new_tokens, batch_size)
    if tokenizer.pad_token_id is None or tokenizer.eos_token_id is None:
        raise ValueError("sample_solutions needs a tokenizer with pad and eos tokens")
    if prefixes is not None and len(prefixes) != len(problems):
        raise ValueError(f"{len(prefixes)} prefixes for {len(problems)} problems")
    heads = [format_solution(prefix) + "\n" if prefix else "" for prefix in (prefixes or [()] * len(problems))]
    keys = [p.id if not head else f"{p.id}|{head}" for p, head in zip(problems, heads)]
    prompts = [tokenizer(format_prompt(p) + head)["input_ids"] for p, head in zip(problems, heads)]
    limit = _max_positions(model)
    for problem, prompt in zip(problems, prompts):
        if limit is not None and len(prompt) + max_new_tokens > limit:
            raise ValueError(
                f"problem {problem.id}: prompt of {len(prompt)} tokens + max_new_tokens="
                f"{max_new_tokens} exceeds the model's {limit} positions"
            )
    rows = sorted(((i, k) for i in range(len(problems)) for k in range(n)),
                  key=lambda row: len(prompts[row[0]]))
    eos_id = tokenizer.eos_token_id
    gen_config = GenerationConfig(
        max_new_tokens=max_new_tokens, do_sample=False, num_beams=1, use_cache=True,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=eos_id,
        bos_token_id=tokenizer.bos_token_id,
    )
    device = next(model.parameters()).device
    results: list[list[SampledSolution | None]] = [[None] * n for _ in problems]
    batches = [rows[start:start + batch_size] for start in range(0, len(rows), batch_size)]
    with decoding(model):
        for batch in progress(batches, desc, unit="batch"):
            input_ids, attention = _left_pad([prompts[i] for i, _ in batch], tokenizer.pad_token_id)
            processors = LogitsProcessorList()
            if temperature > 0:
                generators = [torch.Generator().manual_seed(sample_seed(seed, keys[i], k))
                              for i, k in batch]
                processors.append(GumbelSampler(generators, temperature, top_p))
            output = model.generate(
                input_ids=input_ids.to(device), attention_mask=attention.to(device),
                generation_config=gen_config, logits_processor=processors,
            )
            new_tokens = output[:, input_ids.shape[1]:].tolist()
            for (i, k), generated in zip(batch, new_tokens):
                results[i][k] = _to_sample(tokenizer, generated, eos_id, heads[i])
    return results  # type: ignore[return-value]
