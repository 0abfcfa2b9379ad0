"""The step oracle: judge one step against the problem, the steps before it and a reference.

Rules, in reading order (the earliest failing position in the step decides the reason):
- arithmetic: every equation (inline chains and `<<expr=result>>` annotations) holds exactly.
  Tolerances: a written decimal with d places may be the exact value rounded or truncated to d
  places (|exact - written| < 10^-d, so 2/3 = 0.67 holds, 2/3 = 0.6 does not); `≈` also allows
  1% relative error; a percent may be read as /100 or as a plain number, the same way on both
  sides ("5/20*100 = 25%"); "... = 50 cents" may be in dollars; when the step says it rounds
  or keeps a remainder ("whole", "remaining", "about", ...) a whole number within 1 of the exact
  value holds; running totals "5 + 3 = 8 + 2 = 10" hold; division by zero in an equation fails.
- grounding: every number the first computing side of an inline equation uses is available
  (grounding.py): given in the question, written in an earlier step, produced earlier in this
  step (results, intermediate results, numbers inside its math), or an allowed constant.
- progress (only with a reference): the value an equation computes must be one the reference
  solution writes or produces, the question gives, or the solution already has. Reference
  solutions take other valid routes, so this only fails a step when confident: (a) the step
  stands where a reference step stands (its prefix is the reference's first steps, as for rule
  perturbations and G's rewrites; at the first step, only when it keeps the reference step's
  wording) and shares a number with that step's equations, or (b) it
  combines exactly the numbers of a reference equation into another result. Otherwise the miss
  makes the step unknown (reason "progress"). In place of a reference step, combining that
  step's own numbers into another result fails even when the result occurs elsewhere.
- answer: a final-answer claim (`The answer is X`, `#### X`, `\\boxed{X}`) equals
  `problem.answer` when that is a number.
Verdict policy: any failure -> incorrect. Otherwise unknown when something could not be
checked (unreadable math such as variables, a bounds hit, non-ASCII digits, code-like text, an
empty or truncated step, a non-confident progress miss). Otherwise correct: prose with no
checkable claim is correct because nothing contradicts it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal, Sequence

from aprm.numbers import format_number
from aprm.oracle import answer as answers
from aprm.oracle.arith import PERCENT_MODES, ArithError, literal_value
from aprm.oracle.context import (MAX_PREFIX_STEPS, MAX_STEP_CHARS, Context, build_context,
                                 clip, operand_key)
from aprm.oracle.equations import Equation, Member, extract, literal_tokens, tolerance
from aprm.oracle.grounding import unit_constants
from aprm.oracle.lexer import DIGITWORD, NUM, OP, PCT, Token

APPROX_RELATIVE = Fraction(1, 100)
Label = Literal["correct", "incorrect", "unknown"]
_NON_ASCII_DIGIT = re.compile(r"(?![0-9])\d")
_CODE_LIKE = re.compile(r"__|\b(?:import|lambda|exec|eval|os\.system|subprocess)\b|"
                        r"[A-Za-z_]\w*\s*\(\s*['\"]")
_ROUNDING_CUES = re.compile(r"(?i)\b(?:remainder|remaining|remains|leftover|left over|round|"
                            r"rounded|rounding|whole|full|complete|nearest|approximately|about|"
                            r"roughly|almost|nearly|at most|at least|maximum|minimum)\b")
_PRIORITY = {"arithmetic": 0, "grounding": 1, "progress": 2, "answer": 3}
_MATH_NEIGHBOURS = frozenset({OP, "EQ", "APPROX", "REL"})


@dataclass(frozen=True)
class Verdict:
    label: Label
    reason: str  # ok | arithmetic | grounding | progress | answer | unparseable | bounds | empty
    detail: str = ""


@dataclass
class _Finding:
    position: int
    label: Label
    reason: str
    detail: str


def _values_equal(a: Member, b: Member, approx: bool, rounding_cue: bool) -> bool:
    for mode_index, mode in enumerate(PERCENT_MODES):
        x, y = a.values[mode_index], b.values[mode_index]
        slack = max(tolerance(a, mode), tolerance(b, mode))
        if approx:
            slack = max(slack, APPROX_RELATIVE * max(abs(x), abs(y)),
                        Fraction(1) if a.literal is not None or b.literal is not None else 0)
        for u in (x, x / 100) if a.in_cents else (x,):
            for v in (y, y / 100) if b.in_cents else (y,):
                if u == v or abs(u - v) < slack or (rounding_cue and _whole(a, u, b, v)):
                    return True
    return False


def _whole(a: Member, x: Fraction, b: Member, y: Fraction) -> bool:
    """'50 / 3 = 16 ... with 2 remaining': a written whole number within 1 of the exact value."""
    for exact, member, written in ((x, b, y), (y, a, x)):
        if member.literal is not None and written.denominator == 1 \
                and exact.denominator != 1 and abs(exact - written) < 1:
            return True
    return False


def _running_total(a: Member, b: Member) -> bool:
    """'5 + 3 = 8 + 2 = 10': b continues from a's value instead of restating it."""
    lits = literal_tokens(b)
    if not b.computed or not lits or b.tokens[0] is not lits[0]:
        return False
    try:
        return literal_value(lits[0]) in a.values
    except ArithError:
        return False


def _check_arithmetic(eq: Equation, out: list[_Finding], rounding_cue: bool) -> None:
    for i, (a, b) in enumerate(zip(eq.members, eq.members[1:])):
        statuses = {a.status, b.status}
        if "div0" in statuses and "none" not in statuses and "skip" not in statuses:
            out.append(_Finding(eq.start, "incorrect", "arithmetic",
                                f"division by zero in {a.text} = {b.text}"))
        elif statuses == {"ok"}:
            if not _values_equal(a, b, eq.approx[i], rounding_cue) and not _running_total(a, b):
                out.append(_Finding(eq.start, "incorrect", "arithmetic",
                                    f"{a.text} = {b.text}, but {a.text} = "
                                    f"{format_number(a.values[0])}"))
        elif "bounds" in statuses:
            out.append(_Finding(eq.start, "unknown", "bounds", a.detail or b.detail))
        elif "invalid" in statuses and statuses <= {"ok", "invalid"}:
            out.append(_Finding(eq.start, "unknown", "unparseable",
                                a.detail if a.status == "invalid" else b.detail))


def _math_numbers(tokens: Sequence[Token]) -> list[tuple[int, Fraction]]:
    """(position, value) of numbers written inside math: next to an operator or '=' ('31 + O',
    '14x = 84'); prose mentions ('she buys 16 more') are not among them."""
    out = []
    for i, tok in enumerate(tokens):
        near = (i > 0 and tokens[i - 1].kind in _MATH_NEIGHBOURS) or (
            i + 1 < len(tokens) and tokens[i + 1].kind in _MATH_NEIGHBOURS)
        if tok.kind == NUM and near:
            try:
                out.append((tok.start, literal_value(tok)))
            except ArithError:
                continue
        elif tok.kind == DIGITWORD and near:
            digits = tok.text[:len(tok.text) - len(tok.text.lstrip("0123456789"))]
            if 0 < len(digits) <= 12:
                out.append((tok.start, Fraction(int(digits))))
    return out


def _check_grounding(eq: Equation, ctx: Context, produced: set[Fraction],
                     out: list[_Finding]) -> None:
    """The first computing member must use available numbers; later members of a chain are
    rewrites of it ('(36/3) x 2 = 12 x 2 = 24'), checked by the arithmetic rule instead."""
    member = next((m for m in eq.members if m.status == "ok" and m.computed), None)
    if member is None:
        return
    tokens = member.tokens
    for i, tok in enumerate(tokens):
        if tok.kind != NUM:
            continue
        try:
            value = literal_value(tok)
        except ArithError:
            continue
        is_pct = i + 1 < len(tokens) and tokens[i + 1].kind == PCT
        options = {value, -value} | ({value / 100} if is_pct else set())
        if not options & (ctx.available | produced):
            out.append(_Finding(tok.start, "incorrect", "grounding",
                                f"{tok.text} is not given in the problem or produced earlier"))
            return


def _check_progress(eq: Equation, ctx: Context, produced: set[Fraction],
                    out: list[_Finding], aligned_to: int | None) -> None:
    ref = ctx.reference
    ok = [m for m in eq.members if m.status == "ok"]
    computed = next((m for m in ok if m.computed), None)
    if ref is None or computed is None or len(ok) < 2:
        return
    result = ok[-1].values[0]
    key = operand_key(computed)
    k = aligned_to
    if k is not None:  # in place of reference step k: its own numbers must give its results
        mine = [r for i, operands, r in ref.equations if i == k and operands == key]
        if mine and result not in mine:
            out.append(_Finding(eq.end, "incorrect", "progress",
                                f"{format_number(result)}: the reference step combines these "
                                f"numbers into {format_number(mine[0])}"))
            return
    if result in ref.values or result in ctx.written or result in produced:
        return
    same_inputs = any(operands == key for _, operands, _ in ref.equations)
    aligned = k is not None and bool(ref.step_operands[k] & set(key))
    if aligned or same_inputs:
        why = "in place of the reference step that uses these numbers" if aligned else \
            "the reference combines the same numbers into another result"
        out.append(_Finding(eq.end, "incorrect", "progress",
                            f"{format_number(result)} is not a value of the reference ({why})"))
    else:
        out.append(_Finding(eq.end, "unknown", "progress",
                            f"{format_number(result)} is not a value of the reference solution "
                            f"(another route?)"))


def _check_answer(text: str, ctx: Context, out: list[_Finding]) -> None:
    for claim in answers.claims(text):
        if claim.value is None:
            out.append(_Finding(claim.start, "unknown", "unparseable",
                                f"final answer {claim.text!r} is not a number"))
        elif ctx.gold is not None and not answers.matches(claim, ctx.gold):
            out.append(_Finding(claim.start, "incorrect", "answer",
                                f"final answer {claim.text!r} != {format_number(ctx.gold)}"))


def _findings(text: str, ctx: Context) -> tuple[list[_Finding], bool, int]:
    """Every finding in the step text, whether extraction hit its bounds, equations checked."""
    findings: list[_Finding] = []
    extraction = extract(text)
    inline = [eq for eq in extraction.equations if eq.source == "inline"]
    last = max((eq.start for eq in inline), default=-1)
    math_numbers = _math_numbers([t for t in extraction.tokens if t.start < last])
    constants = unit_constants(text)  # "There are 60 minutes in an hour, so 2 * 60"
    produced: set[Fraction] = set()
    rounding_cue = bool(_ROUNDING_CUES.search(text))
    aligned_to = ctx.aligned_step(text) if ctx.reference is not None else None
    checked = 0
    for eq in sorted(extraction.equations, key=lambda e: (e.start, e.source != "annotation")):
        _check_arithmetic(eq, findings, rounding_cue)
        checked += sum(m.status == "ok" for m in eq.members) >= 2
        if eq.source == "inline":
            produced.update(v for pos, v in math_numbers if pos < eq.start)
            if ctx.grounding_on:
                _check_grounding(eq, ctx, produced | constants, findings)
            _check_progress(eq, ctx, produced, findings, aligned_to)
        for member in eq.members:
            if member.status == "ok":
                produced.update(member.values)
                produced.update(member.intermediates)
    for member in extraction.loose:
        findings.append(_Finding(member.tokens[0].start, "unknown", member.status,
                                 f"{member.text[:40]}: {member.detail}"))
    _check_answer(text, ctx, findings)
    return findings, extraction.capped, checked


def judge_in_context(ctx: Context, step: object) -> Verdict:
    """Verdict on `step` as the next step after the steps already added to `ctx`."""
    if not isinstance(step, str):
        return Verdict("unknown", "unparseable", "step is not text")
    if not step.strip():
        return Verdict("unknown", "empty", "empty step")
    text = clip(step)
    findings, capped, checked = _findings(text, ctx)
    wrong = [f for f in findings if f.label == "incorrect"]
    if wrong:
        first = min(wrong, key=lambda f: (f.position, _PRIORITY[f.reason]))
        return Verdict("incorrect", first.reason, first.detail)
    if len(text) < len(step):
        return Verdict("unknown", "bounds", f"step longer than {MAX_STEP_CHARS} characters; "
                                            f"only its start was checked")
    if capped:
        return Verdict("unknown", "bounds", "too many equations; only the first were checked")
    if findings:
        first = min(findings, key=lambda f: f.position)
        reason = first.reason if first.reason in ("bounds", "progress") else "unparseable"
        return Verdict("unknown", reason, first.detail)
    if _NON_ASCII_DIGIT.search(text):
        return Verdict("unknown", "unparseable", "non-ASCII digits are not read as numbers")
    if _CODE_LIKE.search(text):
        return Verdict("unknown", "unparseable", "code-like text")
    return Verdict("correct", "ok", f"{checked} equation(s) checked" if checked
                   else "nothing checkable")


def judge_step(problem, prefix: Sequence[str], step: str, reference=None) -> Verdict:
    """Verdict on `step` given the problem and the steps before it (see module docstring).

    `reference`: None (reference-free), the full reference step list (recommended: the
    progress rule needs the whole chain), or one reference step as a string (a one-step list).
    """
    ctx = build_context(problem, list(prefix)[:MAX_PREFIX_STEPS], reference)
    return judge_in_context(ctx, step)


def label_steps(problem, steps: Sequence[str], reference=None) -> list[Verdict]:
    """A verdict for every step, each judged with the steps before it as prefix."""
    ctx = build_context(problem, (), reference)
    verdicts = []
    for step in steps:
        verdicts.append(judge_in_context(ctx, step))
        ctx.add_step(step)
    return verdicts


def first_error(problem, steps: Sequence[str], reference=None) -> int:
    """Index of the first step judged incorrect, or -1 (unknown steps do not count)."""
    ctx = build_context(problem, (), reference)
    for index, step in enumerate(steps):
        if judge_in_context(ctx, step).label == "incorrect":
            return index
        ctx.add_step(step)
    return -1
