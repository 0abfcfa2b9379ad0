"""Final-answer claims in a step: `The answer is X`, `#### X`, `\\boxed{X}`.

After a text marker, X is the first arithmetic run (so "$2,800.", "30 flamingos", "\\frac{3}{4}"
all read); a marker without a number close after it ("the answer is to add them") claims
nothing. A `\\boxed{}` must hold a number, optionally with unit words after it; anything else
("2\\sqrt{3}") is a claim we cannot read (value None).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Sequence

from aprm.numbers import parse_number
from aprm.oracle.arith import decimal_places, evaluate, evaluate_tokens
from aprm.oracle.equations import run_forward, trim_parens
from aprm.oracle.lexer import ARITH_KINDS, BOXED, NUM, OP, PCT, TEXT, WORD, Token, tokenize

_ANSWER_RE = re.compile(
    r"(?i)(?:####|(?:^|(?<=[\s.,;:(*]))(?:the\s+)?(?:final\s+)?answer\s*(?:is|:)|\\boxed\s*\{)")
_BOXED_NEXT_RE = re.compile(r"\s*(?:\$|\\\(|\\\[|:)*\s*\\boxed")
MAX_ANSWER_CHARS = 120
MAX_TOKENS_BEFORE_NUMBER = 4


@dataclass(frozen=True)
class AnswerClaim:
    value: Fraction | None  # None: a boxed answer we cannot read
    text: str
    start: int
    places: int = 0  # decimal places written (rounding slack)
    percent: bool = False


def _boxed_content(text: str, open_brace: int) -> str:
    depth, i = 0, open_brace
    limit = min(len(text), open_brace + MAX_ANSWER_CHARS)
    while i < limit:
        depth += text[i] == "{"
        depth -= text[i] == "}"
        if depth == 0:
            return text[open_brace + 1:i]
        i += 1
    return text[open_brace + 1:limit]


def _claim(run: Sequence[Token], text: str, start: int) -> AnswerClaim:
    result = evaluate_tokens(run, "divide")
    places = max((decimal_places(t) for t in run if t.kind == NUM), default=0)
    return AnswerClaim(result.value if result.ok else None, text[:40], start, places,
                       any(t.kind == PCT for t in run))


def _after_marker(rest: str, start: int) -> AnswerClaim | None:
    tokens = tokenize(rest)
    i = 0
    while i < len(tokens) and tokens[i].kind not in ARITH_KINDS:
        if tokens[i].kind == BOXED or i >= MAX_TOKENS_BEFORE_NUMBER:
            return None
        i += 1
    run = trim_parens(trim_parens(tokens[i:run_forward(tokens, i, len(tokens))], False), True)
    while run and run[-1].kind == OP:
        run = run[:-1]
    if not run:
        return None
    claim = _claim(run, rest.strip(), start)
    return claim if claim.value is not None else None


def claims(text: str) -> list[AnswerClaim]:
    """Every final-answer claim in a step, in order."""
    found: list[AnswerClaim] = []
    for match in _ANSWER_RE.finditer(text):
        if match.group(0).endswith("{"):
            content = _boxed_content(text, match.end() - 1)
            tokens = tokenize(content)
            while tokens and tokens[-1].kind in (WORD, TEXT):  # \boxed{30 \text{ dollars}}
                tokens.pop()
            claim = _claim(tokens, content.strip(), match.start())
            if claim.value is None and parse_number(content.strip()) is not None:
                claim = AnswerClaim(parse_number(content.strip()), content.strip()[:40],
                                    match.start(), claim.places, claim.percent)
            found.append(claim)
            continue
        rest = text[match.end():match.end() + MAX_ANSWER_CHARS]
        if _BOXED_NEXT_RE.match(rest):
            continue  # "The answer is \boxed{30}": the boxed claim is read on its own
        claim = _after_marker(rest, match.start())
        if claim is not None:
            found.append(claim)
    return found


def gold_value(answer: object) -> Fraction | None:
    """The problem's answer as a number, or None when it is not one (then no answer check)."""
    if not isinstance(answer, str) or not answer.strip() or len(answer) > MAX_ANSWER_CHARS:
        return None
    value = parse_number(answer)
    return value if value is not None else evaluate(answer).value


def matches(claim: AnswerClaim, gold: Fraction) -> bool:
    """Equal, equal with a written percent read as a plain number, or a rounding of gold."""
    if claim.value is None:
        return False
    candidates = [claim.value] + ([claim.value * 100] if claim.percent else [])
    slack = Fraction(1, 10 ** claim.places) if claim.places else Fraction(0)
    return any(value == gold or abs(value - gold) < slack for value in candidates)
