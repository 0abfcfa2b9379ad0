"""The evaluation input: N scored solver samples per problem, for one (method, suite).

Other stages produce these as plain dicts; `load_problem_samples` checks them and names the
exact field of a bad one (e.g. `problems[3].samples[1].step_scores[2]`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from aprm.numbers import format_number, parse_number


@dataclass(frozen=True)
class Sample:
    """One sampled solution as a method scored it.

    step_scores: the method's P(step correct) per step, each in [0, 1]; NaN marks a step the
    scorer could not score (JSON `null` is read as NaN). Empty for an invalid sample.
    """

    correct: bool
    final_answer: str | None = None
    step_scores: tuple[float, ...] = ()
    valid: bool = True
    truncated: bool = False

    def to_dict(self) -> dict:
        return {
            "correct": self.correct,
            "final_answer": self.final_answer,
            "step_scores": [None if math.isnan(s) else s for s in self.step_scores],
            "valid": self.valid,
            "truncated": self.truncated,
        }

    @classmethod
    def from_dict(cls, row: Mapping[str, Any], where: str = "sample") -> "Sample":
        if not isinstance(row, Mapping):
            raise ValueError(f"{where}: expected an object, got {type(row).__name__}")
        for key in ("correct", "valid", "truncated"):
            if key in row and not isinstance(row[key], bool):
                raise ValueError(f"{where}.{key}: expected true/false, got {row[key]!r}")
        if "correct" not in row:
            raise ValueError(f"{where}.correct: missing")
        answer = row.get("final_answer")
        if answer is not None and not isinstance(answer, str):
            raise ValueError(f"{where}.final_answer: expected a string or null, got {answer!r}")
        return cls(
            correct=row["correct"],
            final_answer=answer,
            step_scores=_scores(row.get("step_scores", ()), f"{where}.step_scores"),
            valid=row.get("valid", True),
            truncated=row.get("truncated", False),
        )


def _scores(values: Any, where: str) -> tuple[float, ...]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise ValueError(f"{where}: expected a list of numbers, got {type(values).__name__}")
    out = []
    for i, value in enumerate(values):
        if value is None:
            out.append(math.nan)
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{where}[{i}]: expected a number or null, got {value!r}")
        value = float(value)
        if math.isfinite(value) and not 0.0 <= value <= 1.0:
            raise ValueError(f"{where}[{i}]: a step score is a probability in [0, 1], got {value}")
        out.append(value)
    return tuple(out)


@dataclass(frozen=True)
class ProblemSamples:
    """All N samples drawn for one problem, in sampling order."""

    problem_id: str
    samples: tuple[Sample, ...]

    def to_dict(self) -> dict:
        return {"problem_id": self.problem_id, "samples": [s.to_dict() for s in self.samples]}

    @classmethod
    def from_dict(cls, row: Mapping[str, Any], where: str = "problem") -> "ProblemSamples":
        if not isinstance(row, Mapping):
            raise ValueError(f"{where}: expected an object, got {type(row).__name__}")
        pid = row.get("problem_id")
        if not isinstance(pid, str) or not pid:
            raise ValueError(f"{where}.problem_id: expected a non-empty string, got {pid!r}")
        samples = row.get("samples")
        if not isinstance(samples, Sequence) or isinstance(samples, (str, bytes)) or not samples:
            raise ValueError(f"{where}.samples: expected a non-empty list of samples")
        return cls(pid, tuple(Sample.from_dict(s, f"{where}.samples[{j}]")
                              for j, s in enumerate(samples)))


def load_problem_samples(
        rows: Iterable[Mapping[str, Any] | ProblemSamples]) -> list[ProblemSamples]:
    """Check plain rows (or pass ProblemSamples through); problem ids must be unique."""
    problems: list[ProblemSamples] = []
    seen: set[str] = set()
    for i, row in enumerate(rows):
        problem = (row if isinstance(row, ProblemSamples)
                   else ProblemSamples.from_dict(row, f"problems[{i}]"))
        if problem.problem_id in seen:
            raise ValueError(f"problems[{i}].problem_id: duplicate id {problem.problem_id!r}")
        seen.add(problem.problem_id)
        problems.append(problem)
    return problems


def sample_count(problems: Sequence[ProblemSamples]) -> int:
    """N, the samples per problem; every problem must have the same N (paired comparisons)."""
    if not problems:
        raise ValueError("problems: expected at least one problem")
    n_max = len(problems[0].samples)
    for i, problem in enumerate(problems):
        if len(problem.samples) != n_max:
            raise ValueError(
                f"problems[{i}] (id {problem.problem_id!r}): has {len(problem.samples)} samples, "
                f"problems[0] has {n_max}; every problem needs the same N")
    return n_max


def answer_key(final_answer: str | None) -> str | None:
    """Grouping key for votes: numbers compare by value ('1,000' == '1000.0'), other text
    (LaTeX answers) by its whitespace-free form."""
    if final_answer is None:
        return None
    value = parse_number(final_answer)
    if value is not None:
        return format_number(value)
    key = "".join(final_answer.split())
    return key or None
