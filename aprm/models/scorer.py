"""Score every step of a solution with a PRM in ONE forward pass.

The PRM reads `[bos] question "\n" step_1 <step> ... step_n <step>` (see prm_data) and predicts
{incorrect, correct} at each `<step>`. Because the model attends causally, the logits at the
k-th separator depend only on the tokens up to it, i.e. on exactly the input a prefix-by-prefix
scorer would build for steps[:k]. So one forward pass per solution gives all step scores, and
solutions are batched with RIGHT padding (real tokens keep positions 0..n-1, pads come after
them and are never attended to by real tokens), which keeps the result exact.

Best-of-N scoring scores many samples of one question: with `share_prompt` (default) the
common `[bos] question "\n"` prefix runs once per question and its key/value cache is reused by
all of that question's solutions (same numbers, about half the work when the question is half
the tokens).

`score_prefixwise` is the slow way published model cards do it (one forward per prefix, read
the last separator); it exists for the equivalence test and the benchmark.

Policies (documented, tested):
- non-finite outputs (a diverged or corrupted model) raise `NonFiniteScoreError` naming the
  problem and step: a NaN score must never be ranked silently;
- a solution longer than the model's window raises `SolutionTooLongError`, or with
  `on_overflow="score_zero"` the steps that do not fit score 0.0 (unverifiable = not trusted)
  and `n_overflowed` counts those solutions.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Protocol, Sequence

import torch
from transformers import DynamicCache

from aprm.models.prm_data import EncodedSolution, encode_solution
from aprm.progress import progress
from aprm.schema import Problem

CORRECT_LABEL = 1
OVERFLOW_POLICIES = ("error", "score_zero")


class StepScorer(Protocol):
    """What evaluation needs from any PRM: P(correct) per step."""

    def score(self, problem: Problem, steps: Sequence[str]) -> list[float]: ...

    def score_batch(self, items: Sequence[tuple[Problem, Sequence[str]]]) -> list[list[float]]: ...


class NonFiniteScoreError(RuntimeError):
    """The model produced NaN/inf logits at a step separator."""


class SolutionTooLongError(ValueError):
    """A solution does not fit in the PRM's context window."""


def model_device(model) -> torch.device:
    return next(model.parameters()).device


class EvalMode:
    """Run the model in eval mode (no dropout) and restore its previous mode afterwards."""

    def __init__(self, model):
        self.model = model

    def __enter__(self):
        self.was_training = self.model.training
        self.model.eval()

    def __exit__(self, *exc):
        self.model.train(self.was_training)


def right_padded_batch(sequences: Sequence[Sequence[int]], pad_id: int, device) -> tuple:
    """(input_ids, attention_mask) with every sequence starting at position 0."""
    width = max(len(seq) for seq in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        ids[row, : len(seq)] = torch.as_tensor(list(seq), dtype=torch.long)
        mask[row, : len(seq)] = 1
    return ids.to(device), mask.to(device)


def _gather(logits: torch.Tensor, row: int, positions: Sequence[int]) -> torch.Tensor:
    index = torch.as_tensor(list(positions), dtype=torch.long, device=logits.device)
    return logits[row].index_select(0, index).float().cpu()


RowReader = Callable[[torch.Tensor, int], Any]  # (one row's logits, item index) -> that item's result


def logits_at_positions(
    model, sequences: Sequence[tuple[Sequence[int], Sequence[int]]], pad_id: int,
    batch_size: int, read: RowReader | None = None,
) -> list:
    """For each (input_ids, positions): the model's logits at those positions, (n_pos, C), or
    what `read(row_logits, index)` makes of the row's logits (on the model's device).

    Sequences are batched longest-first (similar lengths share a batch: less padding) with
    right padding; results come back in input order, as float32 on the CPU.
    """
    order = sorted(range(len(sequences)), key=lambda i: -len(sequences[i][0]))
    results: list[torch.Tensor | None] = [None] * len(sequences)
    device = model_device(model)
    with EvalMode(model), torch.inference_mode():
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            ids, mask = right_padded_batch([sequences[i][0] for i in chunk], pad_id, device)
            logits = model(input_ids=ids, attention_mask=mask).logits
            for row, index in enumerate(chunk):
                results[index] = (read(logits[row], index) if read
                                  else _gather(logits, row, sequences[index][1]))
    return results


def logits_with_shared_prompt(
    model, prompt_ids: Sequence[int],
    continuations: Sequence[tuple[Sequence[int], Sequence[int]]], pad_id: int, batch_size: int,
    read: RowReader | None = None,
) -> list:
    """`logits_at_positions` for sequences `prompt_ids + continuation` (positions and `read`'s
    row counted within the continuation): the shared prompt runs once and its key/value cache is
    reused by every continuation batch, so N samples of one problem pay for the question once."""
    device = model_device(model)
    prompt_length = len(prompt_ids)
    order = sorted(range(len(continuations)), key=lambda i: -len(continuations[i][0]))
    results: list[torch.Tensor | None] = [None] * len(continuations)
    with EvalMode(model), torch.inference_mode():
        prompt = torch.as_tensor([list(prompt_ids)], dtype=torch.long, device=device)
        prompt_cache = model.base_model(input_ids=prompt, use_cache=True).past_key_values
        prompt_kv = [(layer.keys, layer.values) for layer in prompt_cache.layers]
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            ids, mask = right_padded_batch([continuations[i][0] for i in chunk], pad_id, device)
            rows = len(chunk)
            # A fresh cache per batch: the forward appends the continuation's keys to it.
            cache = DynamicCache(ddp_cache_data=[
                (k.expand(rows, -1, -1, -1).contiguous(), v.expand(rows, -1, -1, -1).contiguous())
                for k, v in prompt_kv])
            prompt_mask = torch.ones((rows, prompt_length), dtype=mask.dtype, device=device)
            logits = model(input_ids=ids, attention_mask=torch.cat([prompt_mask, mask], dim=1),
                           past_key_values=cache, use_cache=True).logits
            for row, index in enumerate(chunk):
                results[index] = (read(logits[row], index) if read
                                  else _gather(logits, row, continuations[index][1]))
    return results


def check_finite(scores: Sequence[float], problem_id: str) -> None:
    for index, value in enumerate(scores):
        if not math.isfinite(value):
            raise NonFiniteScoreError(
                f"PRM produced a non-finite score ({value}) for problem {problem_id!r} step "
                f"{index}: the model weights or inputs are broken"
            )


class PRMScorer:
    """P(correct) for each step, from a 2-label token-classification PRM."""

    def __init__(self, model, tokenizer, batch_size: int = 32, max_length: int | None = None,
                 on_overflow: str = "error", share_prompt: bool = True):
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if on_overflow not in OVERFLOW_POLICIES:
            raise ValueError(f"on_overflow must be one of {OVERFLOW_POLICIES}, got {on_overflow!r}")
        window = int(model.config.max_position_embeddings)
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.max_length = min(window, max_length) if max_length else window
        self.on_overflow = on_overflow
        self.share_prompt = share_prompt
        self.n_overflowed = 0
        pad = tokenizer.pad_token_id
        self.pad_id = int(pad if pad is not None else 0)  # pads are masked: any id works

    def _encode(self, problem: Problem, steps: Sequence[str]) -> EncodedSolution:
        encoded = encode_solution(self.tokenizer, problem.question, steps, self.max_length,
                                  sample=f"problem {problem.id!r}")
        if encoded.truncated:
            if self.on_overflow == "error":
                raise SolutionTooLongError(
                    f"problem {problem.id!r}: only {encoded.n_kept} of {len(steps)} steps fit in "
                    f"the PRM window of {self.max_length} tokens"
                )
            self.n_overflowed += 1
        return encoded

    def _probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.softmax(logits.float(), dim=-1)[..., CORRECT_LABEL]

    def score(self, problem: Problem, steps: Sequence[str]) -> list[float]:
        return self.score_batch([(problem, steps)])[0]

    def score_batch(self, items: Sequence[tuple[Problem, Sequence[str]]],
                    desc: str | None = None) -> list[list[float]]:
        """One forward pass per solution, `batch_size` solutions per forward, input order kept.

        With `share_prompt`, solutions of the same question (best-of-N samples) run their
        common prompt once (see `logits_with_shared_prompt`); single ones batch together.
        `desc`, when given, shows a progress bar (one tick per question's batches).
        """
        encoded = [self._encode(problem, steps) for problem, steps in items]
        logits: list[torch.Tensor] = [torch.empty((0, 2))] * len(items)
        groups: dict[tuple[int, ...], list[int]] = {}
        for index, solution in enumerate(encoded):
            if solution.n_kept:  # nothing fits: every step scores 0.0 (overflow policy)
                prompt = tuple(solution.input_ids[: solution.prompt_length])
                groups.setdefault(prompt, []).append(index)
        singles = []
        questions = groups.items() if desc is None else progress(groups.items(), desc, len(groups), "question")
        for prompt, members in questions:
            if not self.share_prompt or len(members) < 2:
                singles.extend(members)
                continue
            cut = len(prompt)
            shared = logits_with_shared_prompt(
                self.model, prompt,
                [(encoded[i].input_ids[cut:], [p - cut for p in encoded[i].separator_positions])
                 for i in members], self.pad_id, self.batch_size)
            for index, solution_logits in zip(members, shared):
                logits[index] = solution_logits
        plain = logits_at_positions(
            self.model, [(encoded[i].input_ids, encoded[i].separator_positions) for i in singles],
            self.pad_id, self.batch_size)
        for index, solution_logits in zip(singles, plain):
            logits[index] = solution_logits
        results = []
        for (problem, steps), solution_logits in zip(items, logits):
            scores = self._probabilities(solution_logits).tolist()
            check_finite(scores, problem.id)
            results.append(scores + [0.0] * (len(steps) - len(scores)))  # overflow policy
        return results

    def score_prefixwise(self, problem: Problem, steps: Sequence[str]) -> list[float]:
        """Reference: one unpadded forward per prefix steps[:k], read its last separator."""
        scores: list[float] = []
        device = model_device(self.model)
        with EvalMode(self.model), torch.inference_mode():
            for k in range(1, len(steps) + 1):
                encoded = self._encode(problem, steps[:k])
                if encoded.n_kept < k:
                    scores.extend([0.0] * (len(steps) - len(scores)))
                    break
                ids = torch.as_tensor([encoded.input_ids], dtype=torch.long, device=device)
                logits = self.model(input_ids=ids).logits
                last_separator = encoded.separator_positions[-1]
                scores.append(float(self._probabilities(logits[0, last_separator])))
        check_finite(scores, problem.id)
        return scores
