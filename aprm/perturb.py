"""Fixed rule perturbations of reference steps: the negatives the static PRM and G's warm start use.

Each rule edits one equation `A op B = C` of a step (inline, and the matching GSM8K calculator
annotation `<<A op B=C>>` when the step has one) and returns the new text, or None when the step
has no equation it applies to. All choices come from the `random.Random` passed in.
- number_change: one operand of the left side becomes another number (±1..9); the result is
  recomputed, so the equation stays true but uses a number nobody gave (grounding error).
- operator_swap: one operator becomes another of + - * /; the result is recomputed (a true
  equation on the wrong route: only the reference, or the final answer, reveals it).
- operand_swap: the two operands around one operator trade places; the result is recomputed. On
  + and * this is no error at all, and the oracle must say so.
- carry_error: one digit of the result moves by one (38 -> 28 or 48; 5 -> 4 or 6), the slip of a
  carry: the equation is false (arithmetic error).
- dropped_step (works on the step list): a step whose result a later step uses is removed, so
  that later step uses a value nobody produced (grounding error); only applies when the value
  is not written anywhere else before it.

`perturb_solution` picks the step, applies the rule and returns (new_steps, index of the first
corrupted step). Recomputed results must be finite decimals with at most MAX_DECIMALS places,
and integers for synthetic problems (meta with "values" and "ops"), whose values are integers.
There a changed result is carried into the later steps: each later `A op B = C` is rewritten
from the new running value, and so is `The answer is C.`, so the solution stays consistent
after its one wrong step, as a solver's would. Carrying stops (later steps left as they were)
where the chain would leave the non-negative integers (an inexact division, a negative count).
Other problems are not carried: their later steps keep their text.
"""

from __future__ import annotations

import random
import re
from fractions import Fraction
from typing import Sequence

from aprm.numbers import format_number
from aprm.oracle.arith import ArithError, evaluate_tokens, literal_value
from aprm.oracle.equations import Equation, Member, extract
from aprm.oracle.grounding import text_numbers
from aprm.oracle.lexer import NUM, OP, OPERAND_END, Token

PERTURBATIONS = ("number_change", "operator_swap", "operand_swap", "dropped_step", "carry_error")
MAX_DECIMALS = 2  # recomputed results must be finite decimals with at most this many places
_OPS = ("+", "-", "*", "/")
_ANSWER_RE = re.compile(r"(?i)(the answer is\s*)(-?[0-9][0-9,]*(?:\.[0-9]+)?)")


def _target_equations(step: str) -> list[tuple[Equation, list[Equation]]]:
    """Inline `lhs = result` equations (lhs computes, result is a bare number) with the
    annotations that restate them (same operand values in the same order)."""
    extraction = extract(step)
    annotations = [eq for eq in extraction.equations if eq.source == "annotation"
                   and _simple(eq)]
    targets = []
    for eq in extraction.equations:
        if eq.source != "inline" or not _simple(eq):
            continue
        operands = _operand_values(eq.members[0])
        twins = [a for a in annotations if _operand_values(a.members[0]) == operands]
        targets.append((eq, twins))
    return targets


def _simple(eq: Equation) -> bool:
    if len(eq.members) != 2 or any(m.status != "ok" for m in eq.members):
        return False
    lhs, rhs = eq.members
    kinds = {tok.kind for tok in lhs.tokens}
    return lhs.computed and rhs.literal is not None and kinds <= {NUM, OP, "LP", "RP"} \
        and all(tok.kind == NUM or tok.text == "-" for tok in rhs.tokens)


def _operand_values(member: Member) -> list[Fraction]:
    out = []
    for tok in member.tokens:
        if tok.kind == NUM:
            try:
                out.append(literal_value(tok))
            except ArithError:
                return []
    return out


def _binary_ops(tokens: Sequence[Token]) -> list[int]:
    """Indices of binary + - * / operators (a unary minus follows no operand)."""
    return [i for i in range(1, len(tokens)) if tokens[i].kind == OP
            and tokens[i].text in _OPS and tokens[i - 1].kind in OPERAND_END]


def _value(tokens: Sequence[Token]) -> Fraction | None:
    result = evaluate_tokens(tokens)
    return result.value if result.ok else None


def _nice(value: Fraction | None, allow_negative: bool, integers: bool = False) -> bool:
    """A result we can write: a finite decimal (an integer when `integers`)."""
    if value is None or (value < 0 and not allow_negative):
        return False
    if integers:
        return value.denominator == 1
    return (value * 10 ** MAX_DECIMALS).denominator == 1


def _apply(step: str, edits: list[tuple[int, int, str]]) -> str:
    for start, end, text in sorted(edits, reverse=True):
        step = step[:start] + text + step[end:]
    return step


def _edit_equation(step: str, eq: Equation, twins: list[Equation], lhs_edit, result: str
                   ) -> str:
    """Apply `lhs_edit(member) -> [(start, end, text)]` to the equation and its annotations,
    and write `result` as their right side."""
    edits: list[tuple[int, int, str]] = []
    for target in [eq, *twins]:
        lhs, rhs = target.members
        edits += lhs_edit(lhs)
        edits.append((rhs.tokens[0].start, rhs.tokens[-1].end, result))
    return _apply(step, edits)


def _replaced(tokens: Sequence[Token], index: int, text: str) -> list[Token]:
    toks = list(tokens)
    tok = toks[index]
    toks[index] = Token(tok.kind, text, tok.start, tok.end)
    return toks


def _pick(rng: random.Random, step: str):
    targets = _target_equations(step)
    return targets[rng.randrange(len(targets))] if targets else None


def number_change(step: str, rng: random.Random, integers: bool = False) -> str | None:
    picked = _pick(rng, step)
    if picked is None:
        return None
    eq, twins = picked
    lhs = eq.members[0]
    nums = [i for i, tok in enumerate(lhs.tokens) if tok.kind == NUM and "." not in tok.text]
    if not nums:
        return None
    index = nums[rng.randrange(len(nums))]
    old = literal_value(lhs.tokens[index])
    deltas = [d for d in range(-9, 10) if d and old + d > 0]
    rng.shuffle(deltas)
    position = sum(1 for tok in lhs.tokens[:index] if tok.kind == NUM)  # same number in twins
    for delta in deltas:
        new = format_number(old + delta)
        value = _value(_replaced(lhs.tokens, index, new))
        if _nice(value, allow_negative=False, integers=integers):
            def edit(member: Member, new=new) -> list[tuple[int, int, str]]:
                tok = [t for t in member.tokens if t.kind == NUM][position]
                return [(tok.start, tok.end, new)]
            return _edit_equation(step, eq, twins, edit, format_number(value))
    return None


def operator_swap(step: str, rng: random.Random, integers: bool = False) -> str | None:
    picked = _pick(rng, step)
    if picked is None:
        return None
    eq, twins = picked
    lhs = eq.members[0]
    ops = _binary_ops(lhs.tokens)
    if not ops:
        return None
    index = ops[rng.randrange(len(ops))]
    position = ops.index(index)
    choices = [op for op in _OPS if op != lhs.tokens[index].text]
    rng.shuffle(choices)
    old_value = lhs.values[0]
    for op in choices:
        value = _value(_replaced(lhs.tokens, index, op))
        if value != old_value and _nice(value, allow_negative=False, integers=integers):
            def edit(member: Member, op=op) -> list[tuple[int, int, str]]:
                tok = member.tokens[_binary_ops(member.tokens)[position]]
                return [(tok.start, tok.end, f" {op} " if tok.end > tok.start + 1 else op)]
            return _edit_equation(step, eq, twins, edit, format_number(value))
    return None


def operand_swap(step: str, rng: random.Random, integers: bool = False) -> str | None:
    picked = _pick(rng, step)
    if picked is None:
        return None
    eq, twins = picked
    lhs = eq.members[0]
    ops = [i for i in _binary_ops(lhs.tokens)
           if i + 1 < len(lhs.tokens) and lhs.tokens[i - 1].kind == NUM
           and lhs.tokens[i + 1].kind == NUM]
    if not ops:
        return None
    index = ops[rng.randrange(len(ops))]
    position = _binary_ops(lhs.tokens).index(index)
    toks = list(lhs.tokens)
    toks[index - 1], toks[index + 1] = toks[index + 1], toks[index - 1]
    value = _value(toks)
    if not _nice(value, allow_negative=True, integers=integers):
        return None

    def edit(member: Member) -> list[tuple[int, int, str]]:
        i = _binary_ops(member.tokens)[position]
        left, right = member.tokens[i - 1], member.tokens[i + 1]
        return [(left.start, left.end, right.text), (right.start, right.end, left.text)]
    return _edit_equation(step, eq, twins, edit, format_number(value))


def carry_error(step: str, rng: random.Random, integers: bool = False) -> str | None:
    picked = _pick(rng, step)
    if picked is None:
        return None
    eq, twins = picked
    result = eq.members[1].values[0]
    if result.denominator != 1 or result < 0:
        return None
    digits = str(result.numerator)
    options = []
    for place in range(len(digits)):
        digit = int(digits[len(digits) - 1 - place])
        for sign in (-1, 1):
            new = result + sign * 10 ** place
            if 0 <= digit + sign <= 9 and new >= 0 and not (
                    place == len(digits) - 1 and digit + sign == 0 and place > 0):
                options.append(new)
    if not options:
        return None
    new = options[rng.randrange(len(options))]
    return _edit_equation(step, eq, twins, lambda member: [], format_number(Fraction(new)))


STEP_RULES = {"number_change": number_change, "operator_swap": operator_swap,
              "operand_swap": operand_swap, "carry_error": carry_error}


def step_result(step: str) -> Fraction | None:
    """The value the step's last `lhs = result` equation computes (its written result)."""
    targets = _target_equations(step)
    return targets[-1][0].members[1].values[0] if targets else None


def _lhs_numbers(step: str) -> set[Fraction]:
    out: set[Fraction] = set()
    for eq in extract(step).equations:
        if eq.source == "inline" and eq.members[0].status == "ok" and eq.members[0].computed:
            out.update(_operand_values(eq.members[0]))
    return out


def dropped_step(steps: Sequence[str], rng: random.Random, question: str = ""
                 ) -> tuple[list[str], int] | None:
    """Remove a step whose result a later step uses and nothing else before provides."""
    given = text_numbers(question, derived=True)
    candidates = []
    for k, step in enumerate(steps):
        value = step_result(step)
        if value is None or value in given:
            continue
        if any(value in text_numbers(earlier) for earlier in steps[:k]):
            continue
        for j in range(k + 1, len(steps)):
            if value in _lhs_numbers(steps[j]):
                candidates.append((k, j))
                break
            if value in text_numbers(steps[j]):
                break  # restated before use: dropping k leaves no unproduced value
    if not candidates:
        return None
    k, j = candidates[rng.randrange(len(candidates))]
    return [s for i, s in enumerate(steps) if i != k], j - 1


def _is_synthetic(problem, steps: Sequence[str]) -> bool:
    meta = getattr(problem, "meta", None) or {}
    values, ops = meta.get("values"), meta.get("ops")
    return isinstance(values, list) and isinstance(ops, list) and len(values) == len(ops) + 1 \
        and len(steps) == len(ops) + 1


def _carry(steps: list[str], index: int, old: Fraction, new: Fraction) -> list[str]:
    """Rewrite the steps after `index` from the new running value (synthetic chains)."""
    running_old, running_new = old, new
    out = list(steps)
    for j in range(index + 1, len(out)):
        targets = _target_equations(out[j])
        if not targets:
            match = _ANSWER_RE.search(out[j])
            if match and Fraction(match.group(2).replace(",", "")) == running_old:
                out[j] = (out[j][:match.start(2)] + format_number(running_new)
                          + out[j][match.end(2):])
            continue
        eq, twins = targets[0]
        lhs = eq.members[0]
        nums = [i for i, tok in enumerate(lhs.tokens) if tok.kind == NUM]
        if not nums or literal_value(lhs.tokens[nums[0]]) != running_old:
            return out  # the step does not continue the chain: stop carrying
        value = _value(_replaced(lhs.tokens, nums[0], format_number(running_new)))
        if value is None or value < 0 or value.denominator != 1:
            return out  # an inexact division (or a negative count): stop carrying
        text = format_number(running_new)
        out[j] = _edit_equation(out[j], eq, twins, lambda member, t=text: [
            (member.tokens[0].start, member.tokens[0].end, t)], format_number(value))
        running_old, running_new = eq.members[1].values[0], value
    return out


def perturb_solution(problem, steps: Sequence[str], kind: str, rng: random.Random
                     ) -> tuple[list[str], int] | None:
    """Corrupt one step of `steps` with rule `kind` (see module docstring).

    Returns (new_steps, index of the first corrupted step), or None when the rule applies to
    no step. Deterministic given the state of `rng`.
    """
    if kind not in PERTURBATIONS:
        raise ValueError(f"unknown perturbation {kind!r}; known: {', '.join(PERTURBATIONS)}")
    steps = [step if isinstance(step, str) else "" for step in steps]
    if kind == "dropped_step":
        return dropped_step(steps, rng, getattr(problem, "question", "") or "")
    rule = STEP_RULES[kind]
    synthetic = _is_synthetic(problem, steps)
    order = list(range(len(steps)))
    rng.shuffle(order)
    for index in order:
        new_step = rule(steps[index], rng, integers=synthetic)
        if new_step is None or new_step == steps[index]:
            continue
        new_steps = list(steps)
        new_steps[index] = new_step
        if synthetic:
            old, new = step_result(steps[index]), step_result(new_step)
            if old is not None and new is not None and old != new:
                new_steps = _carry(new_steps, index, old, new)
        return new_steps, index
    return None
