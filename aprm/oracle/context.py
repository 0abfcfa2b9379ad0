"""What a step may rely on: question numbers, what earlier steps wrote, the reference, the gold
answer. Built once per solution and grown step by step, so labeling n steps costs O(n)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache
from typing import Sequence

from aprm.oracle import answer as answers
from aprm.oracle.arith import ArithError, literal_value
from aprm.oracle.equations import extract
from aprm.oracle.grounding import ALWAYS_AVAILABLE, text_numbers

MAX_STEP_CHARS = 3_000  # longest real step in GSM8K/ProcessBench is under 1,500
MAX_QUESTION_CHARS = 8_000
MAX_PREFIX_CHARS = 64_000  # prefix text read for grounding; beyond it grounding is skipped
MAX_PREFIX_STEPS = 4_096
MAX_REFERENCE_STEPS = 256
SAME_WORDING = 0.6  # word-set Jaccard from which a first step counts as a rewrite of ref step 0
_WORD_RE = re.compile(r"[a-z]{2,}")


def clip(text: object, limit: int = MAX_STEP_CHARS) -> str:
    """`text` cut to `limit` characters at a space (so no number is cut in two)."""
    if not isinstance(text, str):
        return ""
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit)
    return text[:cut if cut > limit // 2 else limit]


def _norm(step: str) -> str:
    return " ".join(step.split())


@dataclass(frozen=True)
class Reference:
    """A reference solution as the progress rule reads it."""

    steps: tuple[str, ...]  # whitespace-normalised, to tell when a prefix follows it
    values: frozenset[Fraction]  # every number it writes or produces
    equations: tuple[tuple[int, tuple[Fraction, ...], Fraction], ...]  # (step, operands, result)
    step_operands: tuple[frozenset[Fraction], ...]  # numbers each step's equations combine
    step_words: tuple[frozenset[str], ...]  # each step's words (the wording, numbers aside)


def build_reference(reference: object) -> Reference | None:
    """None (reference-free), a list of reference steps, or one step as a string."""
    if reference is None:
        return None
    raw = [reference] if isinstance(reference, str) else list(reference)[:MAX_REFERENCE_STEPS]
    return _parsed_reference(tuple(clip(step) for step in raw if isinstance(step, str)))


# One problem's reference is read again for every sample, step and corruption judged against it;
# parsing it took 60% of the oracle's time in a cross-play stage (docs/LOG.md, 2026-12-05,
# session 17). A Reference is immutable, so a remembered one can be shared.
@lru_cache(maxsize=4096)
def _parsed_reference(steps: tuple[str, ...]) -> Reference:
    values: set[Fraction] = set()
    equations = []
    step_operands = []
    for index, step in enumerate(steps):
        values |= text_numbers(step)
        operands: set[Fraction] = set()
        step_operands.append(operands)
        for eq in extract(step).equations:
            ok = [m for m in eq.members if m.status == "ok"]
            computed = next((m for m in ok if m.computed), None)
            if computed is None or len(ok) < 2:
                continue
            values.update(m.values[0] for m in ok)
            values.update(computed.intermediates)
            equations.append((index, operand_key(computed), ok[-1].values[0]))
            operands.update(operand_key(computed))
    return Reference(tuple(_norm(s) for s in steps), frozenset(values), tuple(equations),
                     tuple(frozenset(ops) for ops in step_operands),
                     tuple(words(s) for s in steps))


def words(text: str) -> frozenset[str]:
    return frozenset(_WORD_RE.findall(text.lower()))


def similar_wording(a: frozenset[str], b: frozenset[str]) -> bool:
    """Jaccard similarity of the word sets at least SAME_WORDING."""
    return bool(a and b) and len(a & b) >= SAME_WORDING * len(a | b)


def operand_key(member) -> tuple[Fraction, ...]:
    """The sorted literal values a computing member uses."""
    out = []
    for tok in member.tokens:
        if tok.kind == "NUM":
            try:
                out.append(literal_value(tok))
            except ArithError:
                continue
    return tuple(sorted(out))


@dataclass
class Context:
    question_numbers: set[Fraction]  # given or derived from the question, constants included
    available: set[Fraction]  # question_numbers and every number an earlier step wrote
    written: set[Fraction]  # as available, without the constants (the progress rule's view)
    reference: Reference | None
    gold: Fraction | None
    prefix: list[str] = field(default_factory=list)  # normalised prefix steps (for alignment)
    prefix_chars: int = 0
    grounding_on: bool = True

    def aligned_step(self, step: str) -> int | None:
        """The index of the reference step this step stands in place of, or None.

        After a prefix equal to the reference's first k >= 1 steps, step k. At the first step,
        step 0 only when the wording is the reference step's own (a rewrite of it, as rule
        perturbations and G produce): an empty prefix alone is no evidence that a solution
        follows the reference."""
        ref = self.reference
        k = len(self.prefix)
        if ref is None or k >= len(ref.steps) or tuple(self.prefix) != ref.steps[:k]:
            return None
        if k == 0 and not similar_wording(words(step), ref.step_words[0]):
            return None
        return k

    def add_step(self, step: object) -> None:
        text = clip(step)
        if len(self.prefix) < MAX_PREFIX_STEPS:
            self.prefix.append(_norm(text))
        self.prefix_chars += len(text)
        if self.prefix_chars > MAX_PREFIX_CHARS:
            self.grounding_on = False  # too much text to track; grounding checks are skipped
            return
        numbers = text_numbers(text)
        self.available |= numbers
        self.written |= numbers


@lru_cache(maxsize=4096)
def _question_numbers(question: str) -> frozenset[Fraction]:
    """The numbers a question gives or implies (each of its solutions and steps asks again)."""
    return frozenset(text_numbers(question, derived=True))


def build_context(problem, prefix: Sequence[str] = (), reference=None) -> Context:
    question = clip(getattr(problem, "question", ""), MAX_QUESTION_CHARS)
    given = _question_numbers(question)
    question_numbers = set(given) | set(ALWAYS_AVAILABLE)
    ctx = Context(question_numbers, set(question_numbers), set(given), build_reference(reference),
                  answers.gold_value(getattr(problem, "answer", None)))
    for step in list(prefix)[:MAX_PREFIX_STEPS]:
        ctx.add_step(step)
    return ctx
