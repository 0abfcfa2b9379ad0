"""PRM inputs: (problem, steps, step labels) -> token ids with a label on each step separator.

Layout of one solution (token ids, built piece by piece so a prefix of the steps always encodes
to a prefix of the ids; that is what makes single-pass scoring equal prefix-by-prefix scoring):

    [bos] question "\n"  step_1 <step>  step_2 <step> ... step_n <step>

`labels` holds the class (1 = correct, 0 = incorrect) on each `<step>` position and -100
(ignored by the loss) everywhere else; `soft_labels` holds P(correct) there and NaN elsewhere.
Labels are built as python ints from whatever the caller passed (bools included), so -100 can
never be cast to True; `to_hf_dataset` declares integer features for the same reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence

import torch

from aprm.models.tokenizer import STEP_TOKEN
from aprm.schema import Problem

IGNORE_INDEX = -100


@dataclass(frozen=True)
class EncodedSolution:
    """Token ids of one solution; `separator_positions[i]` is the `<step>` after kept step i."""

    input_ids: list[int]
    separator_positions: list[int]
    n_steps: int  # steps the caller passed
    truncated: bool  # trailing steps were dropped to fit max_length
    prompt_length: int  # leading tokens of [bos] question "\n", identical for one question

    @property
    def n_kept(self) -> int:
        return len(self.separator_positions)


@dataclass(frozen=True)
class PRMExample:
    input_ids: list[int]
    labels: list[int]
    soft_labels: list[float]
    sample: str  # who this came from, for error messages and logs
    truncated: bool


def step_separator_id(tokenizer) -> int:
    """Id of the `<step>` token; a tokenizer without it (an HF one not extended) is an error."""
    token_id = tokenizer.convert_tokens_to_ids(STEP_TOKEN)
    if token_id is None or token_id == tokenizer.unk_token_id:
        raise ValueError(
            f"tokenizer has no {STEP_TOKEN!r} token: add it as a special token "
            "(tokenizer.add_special_tokens) and resize the model embeddings"
        )
    return int(token_id)


def _check_steps(steps: Sequence[str], sample: str) -> None:
    if isinstance(steps, str):
        raise ValueError(f"{sample}: steps must be a list of strings, got one string")
    if len(steps) == 0:
        raise ValueError(f"{sample}: empty solution (no steps)")
    for index, step in enumerate(steps):
        if not isinstance(step, str) or not step.strip():
            raise ValueError(f"{sample}: step {index} is empty or not a string: {step!r}")
        if STEP_TOKEN in step:
            # The tokenizer would turn it into a real separator and shift every label.
            raise ValueError(f"{sample}: step {index} contains the separator text {STEP_TOKEN!r}")


def encode_solution(
    tokenizer,
    question: str,
    steps: Sequence[str],
    max_length: int,
    sample: str = "solution",
) -> EncodedSolution:
    """Encode question + steps; drop whole trailing steps that do not fit in `max_length`.

    `n_kept` can be 0 when the question plus the first step alone is too long.
    """
    _check_steps(steps, sample)
    if STEP_TOKEN in question:
        raise ValueError(f"{sample}: question contains the separator text {STEP_TOKEN!r}")
    if max_length < 2:
        raise ValueError(f"max_length must be >= 2, got {max_length}")
    separator = step_separator_id(tokenizer)
    pieces = tokenizer([question + "\n", *steps], add_special_tokens=False)["input_ids"]
    ids: list[int] = [] if tokenizer.bos_token_id is None else [int(tokenizer.bos_token_id)]
    ids.extend(pieces[0])
    prompt_length = len(ids)
    positions: list[int] = []
    for step_ids in pieces[1:]:
        if len(ids) + len(step_ids) + 1 > max_length:
            break
        ids.extend(step_ids)
        positions.append(len(ids))
        ids.append(separator)
    if not positions:
        ids = ids[:max_length]  # nothing to label; keep the ids bounded all the same
        prompt_length = min(prompt_length, max_length)
    return EncodedSolution(ids, positions, len(steps), truncated=len(positions) < len(steps),
                           prompt_length=prompt_length)


def _hard_label(value, sample: str, index: int) -> int:
    # bool is a subclass of int: True/False become 1/0 here, explicitly, as python ints.
    if isinstance(value, (bool, int)) and int(value) in (0, 1):
        return int(value)
    if isinstance(value, float) and value in (0.0, 1.0):
        return int(value)
    raise ValueError(f"{sample}: label of step {index} must be 0/1 (or a bool), got {value!r}")


def _soft_label(value, sample: str, index: int) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{sample}: soft label of step {index} must be a float, got {value!r}")
    target = float(value)
    if not (math.isfinite(target) and 0.0 <= target <= 1.0):
        raise ValueError(f"{sample}: soft label of step {index} must be in [0, 1], got {value!r}")
    return target


def build_example(
    tokenizer,
    problem: Problem,
    steps: Sequence[str],
    step_labels: Sequence,
    max_length: int,
    soft: bool = False,
    sample: str | None = None,
) -> PRMExample | None:
    """One training example, or None when not even the first step fits (counted by the caller)."""
    sample = sample or f"problem {problem.id!r}"
    if len(step_labels) != len(steps):
        raise ValueError(f"{sample}: {len(steps)} steps but {len(step_labels)} step labels")
    if soft:
        targets = [_soft_label(v, sample, i) for i, v in enumerate(step_labels)]
    else:
        targets = [float(_hard_label(v, sample, i)) for i, v in enumerate(step_labels)]
    encoded = encode_solution(tokenizer, problem.question, steps, max_length, sample)
    if encoded.n_kept == 0:
        return None
    labels = [IGNORE_INDEX] * len(encoded.input_ids)
    soft_labels = [math.nan] * len(encoded.input_ids)
    for position, target in zip(encoded.separator_positions, targets):
        labels[position] = 1 if target >= 0.5 else 0
        soft_labels[position] = target
    return PRMExample(encoded.input_ids, labels, soft_labels, sample, encoded.truncated)


@dataclass(frozen=True)
class EncodeStats:
    n_items: int
    n_examples: int
    n_truncated: int  # kept, with trailing steps dropped
    n_dropped: int  # not even the first step fit: left out
    n_steps_labeled: int
    n_correct_steps: float  # sum of targets (soft: expected count)


def build_examples(
    tokenizer,
    items: Iterable[tuple[Problem, Sequence[str], Sequence]],
    max_length: int,
    soft: bool = False,
) -> tuple[list[PRMExample], EncodeStats]:
    """Encode `(problem, steps, labels)` items; truncation is counted, never an error."""
    examples: list[PRMExample] = []
    n_items = n_dropped = n_steps = 0
    n_correct = 0.0
    for index, (problem, steps, step_labels) in enumerate(items):
        n_items += 1
        sample = f"item {index} (problem {problem.id!r})"
        example = build_example(tokenizer, problem, steps, step_labels, max_length, soft, sample)
        if example is None:
            n_dropped += 1
            continue
        examples.append(example)
        for label, target in zip(example.labels, example.soft_labels):
            if label != IGNORE_INDEX:
                n_steps += 1
                n_correct += target
    stats = EncodeStats(
        n_items=n_items,
        n_examples=len(examples),
        n_truncated=sum(e.truncated for e in examples),
        n_dropped=n_dropped,
        n_steps_labeled=n_steps,
        n_correct_steps=n_correct,
    )
    return examples, stats


def collate(examples: Sequence[PRMExample], pad_token_id: int) -> dict[str, torch.Tensor]:
    """Right-pad a batch: pad ids, attention 0, label -100, soft label NaN on padding."""
    width = max(len(e.input_ids) for e in examples)
    batch = len(examples)
    input_ids = torch.full((batch, width), pad_token_id, dtype=torch.long)
    attention = torch.zeros((batch, width), dtype=torch.long)
    labels = torch.full((batch, width), IGNORE_INDEX, dtype=torch.long)
    soft = torch.full((batch, width), math.nan, dtype=torch.float32)
    for row, example in enumerate(examples):
        n = len(example.input_ids)
        input_ids[row, :n] = torch.tensor(example.input_ids, dtype=torch.long)
        attention[row, :n] = 1
        labels[row, :n] = torch.tensor(example.labels, dtype=torch.long)
        soft[row, :n] = torch.tensor(example.soft_labels, dtype=torch.float32)
    return {"input_ids": input_ids, "attention_mask": attention, "labels": labels,
            "soft_labels": soft}


class PRMCollator:
    """Picklable collator for `transformers.Trainer` (examples come from a plain list)."""

    def __init__(self, pad_token_id: int):
        self.pad_token_id = int(pad_token_id)

    def __call__(self, examples: Sequence[PRMExample]) -> dict[str, torch.Tensor]:
        return collate(examples, self.pad_token_id)


def to_hf_dataset(examples: Sequence[PRMExample]):
    """A `datasets.Dataset` with declared integer label features (bool inference would turn
    -100 into True after `map`). Training itself uses the plain list; this is for caching."""
    from datasets import Dataset, Features, Sequence as HFSequence, Value

    features = Features({
        "input_ids": HFSequence(Value("int32")),
        "labels": HFSequence(Value("int64")),
        "soft_labels": HFSequence(Value("float32")),
        "sample": Value("string"),
        "truncated": Value("bool"),
    })
    rows = {
        "input_ids": [e.input_ids for e in examples],
        "labels": [e.labels for e in examples],
        "soft_labels": [e.soft_labels for e in examples],
        "sample": [e.sample for e in examples],
        "truncated": [e.truncated for e in examples],
    }
    return Dataset.from_dict(rows, features=features)
