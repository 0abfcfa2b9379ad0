"""The one schema every data source, model and stage speaks.

A step is one line of text; solutions never contain newlines inside a step. Answers are kept as
text (numbers for arithmetic sources, LaTeX for MATH500) and compared by the oracle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping


@dataclass(frozen=True)
class Problem:
    id: str
    question: str
    answer: str
    reference_steps: tuple[str, ...] = ()
    meta: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "question": self.question,
            "answer": self.answer,
            "reference_steps": list(self.reference_steps),
            "meta": dict(self.meta),
        }

    @classmethod
    def from_dict(cls, row: Mapping[str, Any]) -> "Problem":
        return cls(
            id=str(row["id"]),
            question=str(row["question"]),
            answer=str(row["answer"]),
            reference_steps=tuple(row.get("reference_steps", ())),
            meta=dict(row.get("meta", {})),
        )


@dataclass(frozen=True)
class Solution:
    steps: tuple[str, ...]
    final_answer: str | None = None

    def to_dict(self) -> dict:
        return {"steps": list(self.steps), "final_answer": self.final_answer}

    @classmethod
    def from_dict(cls, row: Mapping[str, Any]) -> "Solution":
        return cls(steps=tuple(row["steps"]), final_answer=row.get("final_answer"))


@dataclass(frozen=True)
class LabeledSolution:
    """A solution with a step-level label: index of the first wrong step, or -1 if none."""

    problem: Problem
    solution: Solution
    first_error: int

    def to_dict(self) -> dict:
        return {
            "problem": self.problem.to_dict(),
            "solution": self.solution.to_dict(),
            "first_error": self.first_error,
        }

    @classmethod
    def from_dict(cls, row: Mapping[str, Any]) -> "LabeledSolution":
        return cls(
            problem=Problem.from_dict(row["problem"]),
            solution=Solution.from_dict(row["solution"]),
            first_error=int(row["first_error"]),
        )
