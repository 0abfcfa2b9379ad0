"""Published PRM formats behind the project's scorer interface (`score`, `score_batch`).

- `MathShepherdAdapter` (peiyi9979/math-shepherd-mistral-7b-prm): a causal LM. The input is
  `"{question} Step 1: {s1} ки\\nStep 2: {s2} ки"`; at each step tag "ки" the model's
  next-token logits over the label tokens `+` / `-` are softmaxed and P(+) is the step score.
- `QwenPRMAdapter` (Qwen/Qwen2.5-Math-PRM-7B): a chat-formatted input whose assistant turn is
  the steps joined by `<extra_0>` (one after every step); the model has a 2-class head per
  token and the score is softmax(logits)[..., 1] at the `<extra_0>` positions.

Both score all steps in one forward pass per solution (batched, right-padded, like PRMScorer)
and offer `score_prefixwise` (one forward per prefix) as the reference it must equal.
Inputs are built the way the model cards build them; step texts that contain the step marker
are rejected, since the marker would add a bogus step.
"""

from __future__ import annotations

from typing import Sequence

import torch

from aprm.models.scorer import (
    SolutionTooLongError,
    EvalMode,
    check_finite,
    logits_at_positions,
    model_device,
)
from aprm.schema import Problem

MATH_SHEPHERD_STEP_TAG = "ки"
QWEN_STEP_TOKEN = "<extra_0>"
QWEN_SYSTEM_PROMPT = "Please reason step by step, and put your final answer within \\boxed{}."


def _single_token_id(tokenizer, token: str, what: str) -> int:
    token_id = tokenizer.convert_tokens_to_ids(token)
    if token_id is None or token_id == tokenizer.unk_token_id:
        raise ValueError(f"tokenizer has no single token for the {what} {token!r}")
    return int(token_id)


class _StepMarkerAdapter:
    """Shared machinery: encode -> (ids, marker positions) -> logits there -> probabilities."""

    marker_text: str

    def __init__(self, model, tokenizer, batch_size: int = 16, max_length: int | None = None):
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        window = int(model.config.max_position_embeddings)
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.max_length = min(window, max_length) if max_length else window
        pad = tokenizer.pad_token_id
        self.pad_id = int(pad if pad is not None else 0)

    # Format-specific parts -------------------------------------------------------------
    def format_text(self, problem: Problem, steps: Sequence[str]) -> str:
        raise NotImplementedError

    def _marker_id(self) -> int:
        raise NotImplementedError

    def _probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _encode_text(self, text: str) -> list[int]:
        return self.tokenizer(text)["input_ids"]

    # Shared ---------------------------------------------------------------------------
    def encode(self, problem: Problem, steps: Sequence[str]) -> tuple[list[int], list[int]]:
        """Token ids and the marker position after each step; checks one marker per step."""
        if isinstance(steps, str) or len(steps) == 0:
            raise ValueError(f"problem {problem.id!r}: empty solution (no steps)")
        for index, step in enumerate(steps):
            if not isinstance(step, str) or not step.strip():
                raise ValueError(f"problem {problem.id!r}: step {index} is empty: {step!r}")
            if self.marker_text in step:
                raise ValueError(
                    f"problem {problem.id!r}: step {index} contains the step marker "
                    f"{self.marker_text!r}")
        if self.marker_text in problem.question:
            raise ValueError(f"problem {problem.id!r}: question contains {self.marker_text!r}")
        ids = self._encode_text(self.format_text(problem, steps))
        marker = self._marker_id()
        positions = [i for i, token in enumerate(ids) if token == marker]
        if len(positions) != len(steps):
            raise ValueError(
                f"problem {problem.id!r}: found {len(positions)} step markers for "
                f"{len(steps)} steps (the tokenizer merges {self.marker_text!r} with its "
                "neighbours?)")
        if len(ids) > self.max_length:
            raise SolutionTooLongError(
                f"problem {problem.id!r}: {len(ids)} tokens exceed the window of "
                f"{self.max_length}")
        return ids, positions

    def score(self, problem: Problem, steps: Sequence[str]) -> list[float]:
        return self.score_batch([(problem, steps)])[0]

    def score_batch(self, items: Sequence[tuple[Problem, Sequence[str]]]) -> list[list[float]]:
        encoded = [self.encode(problem, steps) for problem, steps in items]
        logits = logits_at_positions(self.model, encoded, self.pad_id, self.batch_size)
        results = []
        for (problem, _), solution_logits in zip(items, logits):
            scores = self._probabilities(solution_logits).tolist()
            check_finite(scores, problem.id)
            results.append(scores)
        return results

    def score_prefixwise(self, problem: Problem, steps: Sequence[str]) -> list[float]:
        """Reference: one unpadded forward per prefix, read at its last marker."""
        scores = []
        device = model_device(self.model)
        with EvalMode(self.model), torch.inference_mode():
            for k in range(1, len(steps) + 1):
                ids, positions = self.encode(problem, steps[:k])
                logits = self.model(input_ids=torch.tensor([ids], device=device)).logits
                scores.append(float(self._probabilities(logits[0, positions[-1]].float().cpu())))
        check_finite(scores, problem.id)
        return scores


class MathShepherdAdapter(_StepMarkerAdapter):
    """Math-Shepherd: causal LM, P(+) among {+, -} at each "ки" tag."""

    def __init__(self, model, tokenizer, step_tag: str = MATH_SHEPHERD_STEP_TAG,
                 good_token: str = "+", bad_token: str = "-", batch_size: int = 16,
                 max_length: int | None = None):
        super().__init__(model, tokenizer, batch_size, max_length)
        self.marker_text = step_tag
        self.step_tag_id = _single_token_id(tokenizer, step_tag, "step tag")
        # As on the model card: the ids of "+" and "-" as they are tokenized after a space.
        candidates = tokenizer(f"{good_token} {bad_token}", add_special_tokens=False)["input_ids"]
        if len(candidates) != 2 or candidates[0] == candidates[1]:
            raise ValueError(
                f"label tokens {good_token!r}/{bad_token!r} must encode to two distinct tokens, "
                f"got ids {candidates}")
        self.candidate_ids = list(candidates)  # [good, bad]

    def format_text(self, problem: Problem, steps: Sequence[str]) -> str:
        output = "\n".join(f"Step {i}: {step} {self.marker_text}"
                           for i, step in enumerate(steps, start=1))
        return f"{problem.question} {output}"

    def _marker_id(self) -> int:
        return self.step_tag_id

    def _probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.softmax(logits[..., self.candidate_ids], dim=-1)[..., 0]


class QwenPRMAdapter(_StepMarkerAdapter):
    """Qwen2.5-Math-PRM: chat template, `<extra_0>` after each step, 2-class head (1 = good)."""

    def __init__(self, model, tokenizer, step_token: str = QWEN_STEP_TOKEN,
                 system_prompt: str = QWEN_SYSTEM_PROMPT, batch_size: int = 16,
                 max_length: int | None = None):
        super().__init__(model, tokenizer, batch_size, max_length)
        if not getattr(tokenizer, "chat_template", None):
            raise ValueError("QwenPRMAdapter needs a tokenizer with a chat template")
        self.marker_text = step_token
        self.step_token_id = _single_token_id(tokenizer, step_token, "step token")
        self.system_prompt = system_prompt

    def format_text(self, problem: Problem, steps: Sequence[str]) -> str:
        messages = [
            {"role": "system", "content": self.system_prompt},
            {"role": "user", "content": problem.question},
            {"role": "assistant", "content": self.marker_text.join(steps) + self.marker_text},
        ]
        return self.tokenizer.apply_chat_template(messages, tokenize=False,
                                                  add_generation_prompt=False)

    def _marker_id(self) -> int:
        return self.step_token_id

    def _probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.softmax(logits, dim=-1)[..., 1]
