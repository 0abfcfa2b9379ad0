"""SVAMP loader (arkilpatel/SVAMP: one JSON array of {ID, Body, Question, Equation, Answer, Type}).

The question is Body + " " + Question; when Body ends without punctuation (about a third of the
rows, e.g. "... a discount of 25 dollars on each pack") a period is added so the two sentences
do not run together. The float Answer becomes exact canonical text (51.0 -> "51", 2.5 -> "2.5").
SVAMP has no worked solutions, so reference_steps is empty; the equation is kept in meta.
"""

from __future__ import annotations

import os
from fractions import Fraction

from aprm.data.errors import SkipLog
from aprm.data.paths import config_key
from aprm.data.records import Record, collect, iter_json_array, require_file
from aprm.numbers import format_number, parse_number
from aprm.schema import Problem

MAX_ANSWER_MAGNITUDE = 1e15  # beyond this a float no longer holds an exact integer


def load_svamp(path: str | os.PathLike, *, on_error: str = "raise",
               skips: SkipLog | None = None) -> list[Problem]:
    """Problems from SVAMP.json; ids are 'svamp-<ID>'."""
    file = require_file(path, config_key("svamp"))
    return collect(iter_json_array(file), _to_problem, on_error, skips)


def float_answer_text(value: float) -> str | None:
    """Exact canonical text of the float as the file writes it (its repr); None if unusable."""
    if abs(value) > MAX_ANSWER_MAGNITUDE:
        return None
    text = repr(float(value))
    # repr uses exponent form for tiny/huge values, which parse_number rejects by design
    parsed = parse_number(text) if "e" not in text else Fraction(text)
    return None if parsed is None else format_number(parsed)


def join_body_question(body: str, question: str) -> str:
    body, question = body.strip(), question.strip()
    if body and body[-1].isalnum():
        body += "."
    return f"{body} {question}"


def _to_problem(record: Record) -> Problem:
    ident = record.text("ID").strip()
    body = record.text("Body")
    question = record.text("Question")
    equation = record.text("Equation")
    kind = record.text("Type").strip()
    answer = float_answer_text(record.real("Answer"))
    if answer is None:
        raise record.error("Answer", f"not a usable number: {record.data['Answer']!r}")
    return Problem(
        id=f"svamp-{ident}",
        question=join_body_question(body, question),
        answer=answer,
        reference_steps=(),
        meta={"source": "svamp", "equation": equation.strip(), "type": kind, "svamp_id": ident},
    )
