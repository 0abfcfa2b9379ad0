"""MATH500 loader (openai/prm800k math_splits/test.jsonl: {problem, solution, answer, subject,
level, unique_id}).

The answer stays the LaTeX string from the file (the oracle compares it). Reference steps come
from the solution: [asy] diagram code is dropped (it is drawing code, not reasoning), then the
text is split at blank lines and at sentence ends outside math, one line per step.
"""

from __future__ import annotations

import os

from aprm.data.errors import SkipLog
from aprm.data.latex import split_sentences, strip_blocks
from aprm.data.paths import config_key
from aprm.data.records import Record, collect, iter_jsonl, require_file
from aprm.schema import Problem


def load_math500(path: str | os.PathLike, *, on_error: str = "raise",
                 skips: SkipLog | None = None) -> list[Problem]:
    """Problems from the MATH500 JSONL file; ids are 'math500-<unique_id>'."""
    file = require_file(path, config_key("math500"))
    return collect(iter_jsonl(file), _to_problem, on_error, skips)


def solution_steps(solution: str) -> tuple[str, ...]:
    return tuple(split_sentences(strip_blocks(solution, "[asy]", "[/asy]")))


def _to_problem(record: Record) -> Problem:
    unique_id = record.text("unique_id").strip()
    level = record.integer("level")
    if not 1 <= level <= 5:
        raise record.error("level", f"expected 1..5, got {level}")
    return Problem(
        id=f"math500-{unique_id}",
        question=record.text("problem").strip(),
        answer=record.text("answer").strip(),
        reference_steps=solution_steps(record.text("solution")),
        meta={"source": "math500", "subject": record.text("subject").strip(), "level": level,
              "unique_id": unique_id},
    )
