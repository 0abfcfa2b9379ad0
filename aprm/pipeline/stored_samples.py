"""Sampled solutions a user brings for best-of-N (`experiment=eval_prm`): a previous run's
`sample-solutions` artifact (samples.jsonl), or a JSONL file of one problem per line:

    {"problem": {"question": "...", "answer": "42", "id": "optional"},
     "samples": [{"steps": ["step one", "step two", "The answer is 42."],
                  "final_answer": "optional", "truncated": false}, ...]}

What a sample does not carry is derived as the pipeline derives it: `final_answer` from an answer
line (`The answer is X.`) or a last `\\boxed{X}`, `correct` from the problem's answer, and
`first_error` from the symbolic oracle. Steps are cleaned like generated text (one line each,
control characters and the PRM separator removed). A bad line is a DataError naming the file,
line and field.
"""

from __future__ import annotations

import os

from aprm.data.errors import DataError, SkipLog
from aprm.data.latex import last_boxed
from aprm.data.records import Record, collect, iter_jsonl, require_file
from aprm.models.text_format import answer_from_line, clean_line
from aprm.pipeline.samples_stage import label_sample
from aprm.schema import Problem

MAX_SAMPLES_PER_PROBLEM = 1024


def _sample(record: Record, index: int, raw: object, problem: Problem) -> dict:
    """A sample as the sampling stage labels it (`samples_stage.label_sample`), with the labels the
    user gave (`correct`, `first_error`) kept."""
    field = f"samples[{index}]"
    if not isinstance(raw, dict):
        raise record.error(field, f"expected an object, got {type(raw).__name__}")
    sample = Record(raw, record.path, record.where, record.position)
    steps = [step for step in (clean_line(s) for s in sample.text_list("steps")) if step] if "steps" in raw else []
    truncated = sample.boolean("truncated") if "truncated" in raw else False
    if raw.get("final_answer") is not None:
        final_answer = sample.text("final_answer")
    else:
        final_answer = next((a for a in (answer_from_line(s) for s in reversed(steps)) if a), None) \
            or (last_boxed(steps[-1]) if steps else None)
    if "correct" in raw and "first_error" in raw:  # a run's own sample file: no oracle pass again
        labeled = {"steps": steps, "final_answer": final_answer, "truncated": truncated}
    else:
        labeled = label_sample(problem, steps, final_answer, truncated)
    if "correct" in raw:
        labeled["correct"] = sample.boolean("correct")
    if "first_error" in raw:
        labeled["first_error"] = sample.integer("first_error")
        if not -1 <= labeled["first_error"] < max(len(steps), 1):
            raise record.error(f"{field}.first_error", f"{labeled['first_error']} is outside [-1, {len(steps) - 1}]")
    return labeled


def _row(record: Record) -> dict:
    raw_problem = record.get("problem")
    if not isinstance(raw_problem, dict):
        raise record.error("problem", f"expected an object, got {type(raw_problem).__name__}")
    fields = Record(raw_problem, record.path, record.where, record.position)
    ident = fields.text("id") if "id" in raw_problem else f"line-{record.position}"
    reference = fields.text_list("reference_steps") if raw_problem.get("reference_steps") else []
    answer = raw_problem.get("answer")
    if isinstance(answer, (int, float)) and not isinstance(answer, bool):
        answer = str(answer)  # a numeric answer written as a JSON number
    else:
        answer = fields.text("answer").strip()
    problem = Problem(id=ident, question=fields.text("question"), answer=answer,
                      reference_steps=tuple(reference), meta=dict(raw_problem.get("meta") or {}))
    samples = record.get("samples")
    if not isinstance(samples, list) or not samples:
        raise record.error("samples", "expected a non-empty list of samples")
    if len(samples) > MAX_SAMPLES_PER_PROBLEM:
        raise record.error("samples", f"more than {MAX_SAMPLES_PER_PROBLEM} samples")
    return {"problem": problem.to_dict(), "samples": [_sample(record, i, s, problem) for i, s in enumerate(samples)]}


def load_stored_samples(path: str | os.PathLike, on_error: str = "raise",
                        skips: SkipLog | None = None) -> list[dict]:
    """Rows in the sample-file format (`samples_stage.read_samples` reads them)."""
    file = require_file(path, "eval_prm.samples")
    rows = collect(iter_jsonl(file), _row, on_error, skips)
    sizes = {len(row["samples"]) for row in rows}
    if len(sizes) > 1:
        raise DataError(f"every problem needs the same number of samples for best-of-N, found {sorted(sizes)}",
                        path=str(file), field="samples")
    return rows
