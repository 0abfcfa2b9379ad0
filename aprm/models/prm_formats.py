"""Any PRM as a step scorer, by format: one this project saved (`native`), or a published one in
the Math-Shepherd or Qwen2.5-Math-PRM format (aprm.models.adapters), from a local folder or a
Hugging Face hub id. A folder that does not hold the format asked for is an error naming
`model.prm_format`, checked before any weight is loaded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from aprm.models.adapters import MATH_SHEPHERD_STEP_TAG, QWEN_STEP_TOKEN, MathShepherdAdapter, QwenPRMAdapter
from aprm.models.references import PRM_FORMATS
from aprm.schema import Problem

class PRMFormatError(ValueError):
    """The model at model.prm is not in the format model.prm_format names."""


def _mismatch(ref: str, prm_format: str, why: str) -> PRMFormatError:
    return PRMFormatError(f"model.prm_format={prm_format}: {ref} {why}; set model.prm_format to the "
                          f"model's format (one of {', '.join(PRM_FORMATS)})")


def _architectures(ref: str) -> list[str]:
    from transformers import AutoConfig

    return list(AutoConfig.from_pretrained(ref).architectures or [])


def _tokenizer(ref: str):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(ref)


def _single_token(tokenizer, token: str) -> bool:
    ids = tokenizer.convert_tokens_to_ids(token)
    return ids is not None and ids != tokenizer.unk_token_id


class ScoreZeroUnencodable:
    """A published-format adapter that never stops an evaluation on a solution it cannot read:
    one too long for its window, or with a step holding its step marker (text is untrusted),
    scores 0.0 at every step (unverifiable = not trusted, PRMScorer's `score_zero`);
    `n_overflowed` counts those solutions."""

    def __init__(self, adapter):
        self.adapter = adapter
        self.n_overflowed = 0

    def score(self, problem: Problem, steps: Sequence[str]) -> list[float]:
        return self.score_batch([(problem, steps)])[0]

    def score_batch(self, items: Sequence[tuple[Problem, Sequence[str]]], desc: str | None = None) -> list[list[float]]:
        readable, out = [], [None] * len(items)
        for index, (problem, steps) in enumerate(items):
            try:
                self.adapter.encode(problem, steps)
                readable.append(index)
            except ValueError:  # SolutionTooLongError included
                self.n_overflowed += 1
                out[index] = [0.0] * len(steps)
        for index, scores in zip(readable, self.adapter.score_batch([items[i] for i in readable])):
            out[index] = scores
        return out


def check_format(ref: str, prm_format: str):
    """Raise PRMFormatError unless `ref` holds a PRM in `prm_format` (reads the config and the
    tokenizer, no weights); return the tokenizer of a published format (None for native)."""
    if prm_format not in PRM_FORMATS:
        raise PRMFormatError(f"model.prm_format: {prm_format!r} is not one of {', '.join(PRM_FORMATS)}")
    if prm_format == "native":
        return _check_native(ref)
    architectures = _architectures(ref)
    tokenizer = _tokenizer(ref)
    if prm_format == "math_shepherd":
        if not any(a.endswith("ForCausalLM") for a in architectures):
            raise _mismatch(ref, prm_format, f"is a {architectures or 'model of unknown architecture'}, "
                                             "not a causal LM")
        if not _single_token(tokenizer, MATH_SHEPHERD_STEP_TAG):
            raise _mismatch(ref, prm_format, f"has no single token for the step tag {MATH_SHEPHERD_STEP_TAG!r}")
        return tokenizer
    if not any(a.endswith("ForTokenClassification") for a in architectures):
        raise _mismatch(ref, prm_format, f"is a {architectures or 'model of unknown architecture'}, "
                                         "not a token-classification model with a 2-label head")
    if not _single_token(tokenizer, QWEN_STEP_TOKEN) or not getattr(tokenizer, "chat_template", None):
        raise _mismatch(ref, prm_format, f"has no single token for {QWEN_STEP_TOKEN!r} or no chat template")
    return tokenizer


def _check_native(ref: str) -> None:
    from aprm.models.likelihood import is_likelihood_dir
    from aprm.models.surprise_head import is_head_dir
    from aprm.models.tokenizer import STEP_TOKEN

    folder = Path(ref)
    if is_likelihood_dir(folder) or is_head_dir(folder):
        return
    config = folder / "config.json"
    if not config.is_file():
        raise _mismatch(ref, "native", "is no folder of a PRM saved by aprm (no surprise_head.json, "
                                       "likelihood config or config.json)")
    architectures = json.loads(config.read_text()).get("architectures") or []
    if not any(a.endswith("ForTokenClassification") for a in architectures):
        raise _mismatch(ref, "native", f"is a {architectures}, not aprm's token-classification PRM")
    tokenizer = _tokenizer(ref)
    if not _single_token(tokenizer, STEP_TOKEN):
        raise _mismatch(ref, "native", f"has no {STEP_TOKEN!r} token: not a PRM trained by aprm")
    if _single_token(tokenizer, QWEN_STEP_TOKEN) and getattr(tokenizer, "chat_template", None):
        raise _mismatch(ref, "native", f"has a chat template and the {QWEN_STEP_TOKEN!r} token: "
                                       "a qwen_prm-format PRM, not one trained by aprm")


def load_scorer(ref: str, prm_format: str, batch_size: int):
    """The StepScorer of the PRM at `ref` (a folder, or a hub id) in `prm_format`."""
    from aprm.models.loading import MODEL_INIT_LOCK
    from aprm.models.sampling import pick_device

    tokenizer = check_format(ref, prm_format)
    if prm_format == "native":
        from aprm.pipeline.evaluate_stage import load_step_scorer

        return load_step_scorer(ref, batch_size)
    if prm_format == "math_shepherd":
        from transformers import AutoModelForCausalLM

        with MODEL_INIT_LOCK:  # evaluations run on threads; from_pretrained is not thread-safe
            model = AutoModelForCausalLM.from_pretrained(ref).to(pick_device())
        return ScoreZeroUnencodable(MathShepherdAdapter(model, tokenizer, batch_size=batch_size))
    from transformers import AutoModelForTokenClassification

    with MODEL_INIT_LOCK:
        model = AutoModelForTokenClassification.from_pretrained(ref).to(pick_device())
    return ScoreZeroUnencodable(QwenPRMAdapter(model, tokenizer, batch_size=batch_size))
