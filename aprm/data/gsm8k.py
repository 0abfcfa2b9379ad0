"""GSM8K loader (openai/grade-school-math JSONL: {question, answer}).

The answer field is a rationale, one step per line, ending in `#### N`. Reference steps are the
lines before `####`, kept verbatim with their `<<expr=result>>` calculator annotations (the
oracle reads them); the annotations are also parsed into meta["annotations"], one list of
[expr, result] pairs per step. The gold answer is N with thousands commas removed, checked by
aprm.numbers.parse_number and stored in canonical form.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from aprm.data.errors import SkipLog
from aprm.data.paths import config_key
from aprm.data.records import Record, collect, iter_jsonl, require_file
from aprm.numbers import format_number, parse_number
from aprm.schema import Problem

ANSWER_MARKER = "####"
MAX_ANNOTATION_CHARS = 500  # real annotations are < 100 chars; bounds the regex work per match
_ANNOTATION_RE = re.compile(r"<<([^<>]{1,%d})>>" % MAX_ANNOTATION_CHARS)
CONFIG_KEYS = f"{config_key('gsm8k_train')} or {config_key('gsm8k_test')}"


def parse_annotations(step: str) -> list[list[str]]:
    """[[expr, result], ...] for each `<<expr=result>>` in `step` (ones without '=' left out)."""
    pairs = []
    for match in _ANNOTATION_RE.finditer(step):
        expr, sep, result = match.group(1).rpartition("=")
        if sep:
            pairs.append([expr.strip(), result.strip()])
    return pairs


def load_gsm8k(path: str | os.PathLike, *, split: str | None = None, on_error: str = "raise",
               skips: SkipLog | None = None) -> list[Problem]:
    """Problems from a GSM8K JSONL file; ids are 'gsm8k-<split>-<line number>'.

    `split` defaults to the file stem ('train' / 'test'). Bad rows raise DataError, or are
    counted into `skips` when on_error='skip'.
    """
    file = require_file(path, CONFIG_KEYS)
    split_name = split or Path(file).stem
    return collect(iter_jsonl(file), lambda record: _to_problem(record, split_name), on_error,
                   skips)


def _to_problem(record: Record, split: str) -> Problem:
    question = record.text("question").strip()
    rationale = record.text("answer")
    if rationale.count(ANSWER_MARKER) != 1:
        raise record.error("answer", f"expected exactly one '{ANSWER_MARKER}' line, found "
                                     f"{rationale.count(ANSWER_MARKER)}")
    body, _, final = rationale.partition(ANSWER_MARKER)
    final_text = final.strip().replace(",", "")
    value = parse_number(final_text)
    if value is None:
        raise record.error("answer", f"final answer after '{ANSWER_MARKER}' is not a number: "
                                     f"{final.strip()[:80]!r}")
    steps = tuple(line.strip() for line in body.splitlines() if line.strip())
    return Problem(
        id=f"gsm8k-{split}-{record.position}",
        question=question,
        answer=format_number(value),
        reference_steps=steps,
        meta={
            "source": "gsm8k",
            "split": split,
            "line": record.position,
            "annotations": [parse_annotations(step) for step in steps],
        },
    )
