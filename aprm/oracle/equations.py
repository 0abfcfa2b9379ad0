"""Find the equations a step asserts and the arithmetic expressions on each side.

Two sources:
- inline text: every `=` (and `≈`) links the arithmetic run that ends just before it to the run
  that starts just after it; consecutive links whose middle segment is pure arithmetic form a
  chain `a = b = c`. A run is the maximal stretch of number/operator/parenthesis tokens; prose
  around it ("Total cost = Cost per gallon * ...") simply yields no member.
- GSM8K calculator annotations `<<expr=result>>`: parsed on their own (and skipped in the inline
  text, where "48/2 = <<48/2=24>>24" then reads "48/2 = 24").

A member is "ok" (evaluated), "none" (no arithmetic there), "skip" (a phrase the number belongs
to: "half of 18", "3 dozen", "2 weeks = 14 days"), or a failure status from the evaluator plus
"invalid" when the side touches math we do not read (variables "2x + 3", "5²", "\\sqrt{16}").
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Sequence

from aprm.oracle.arith import PERCENT_MODES, decimal_places, evaluate_tokens, has_operator
from aprm.oracle.lexer import (ANNOT, APPROX, ARITH_KINDS, CMD, DELIM, DIGITWORD, EQ, LP,
                               MULTIPLIER_WORDS, NOT_UNITS, NUM, OP, OPERAND_END, OTHER, PCT,
                               PUNCT, RP, TEXT, WORD, Token, is_unit_word, tokenize)

_RHS_MODIFIERS = MULTIPLIER_WORDS - {"of", "times", "pair", "pairs", "third", "fourth",
                                     "fifth", "tenth"}
# a number right after one of these belongs to a phrase ("half of 18", "1/4 of an item x 100")
_LHS_MODIFIERS = MULTIPLIER_WORDS | {"x", "times", "by", "plus", "minus", "per"}
_CENTS = frozenset({"cent", "cents"})
_MATH_NEIGHBOURS = frozenset({DIGITWORD, CMD, OTHER})
MAX_LINKS = 64  # '=' signs read per step (real steps have < 20); more -> the step is "bounds"
MAX_ANNOTATIONS = 32
MAX_LOOSE_RUNS = 64
_LINKS = frozenset({EQ, APPROX})


@dataclass(frozen=True)
class Member:
    tokens: tuple[Token, ...]
    status: str  # "ok" | "none" | "skip" | "invalid" | "bounds" | "div0"
    values: tuple[Fraction, ...] = ()  # one per PERCENT_MODES entry when ok
    detail: str = ""
    in_cents: bool = False  # "$1 / 2 = 50 cents": also compare value / 100
    intermediates: tuple[Fraction, ...] = ()  # results of its operations ("90" in 200 + 0.45*200)

    @property
    def computed(self) -> bool:
        """A member that computes something (has an operator), not a bare literal."""
        return has_operator(self.tokens)

    @property
    def literal(self) -> Token | None:
        """The number token of a bare member ('24', '-3', '0.67', '20%')."""
        nums = [tok for tok in self.tokens if tok.kind == NUM]
        return nums[0] if len(nums) == 1 and not self.computed else None

    @property
    def text(self) -> str:
        return " ".join(tok.text for tok in self.tokens)


@dataclass(frozen=True)
class Equation:
    members: tuple[Member, ...]
    approx: tuple[bool, ...]  # per link between members: written with ≈
    source: str  # "inline" | "annotation"
    start: int  # character span in the step text
    end: int


def _glued(a: Token, b: Token) -> bool:
    return a.end == b.start


def _run_breaks(prev: Token, nxt: Token) -> bool:
    """Adjacent arithmetic tokens that are not one expression: '3 4', '8 (5 + 3)'."""
    return prev.kind in OPERAND_END and nxt.kind in (NUM, LP) and not _glued(prev, nxt)


def _run_back(tokens: Sequence[Token], end: int, floor: int) -> int:
    """Start index of the arithmetic run ending at index `end` (inclusive), not below `floor`."""
    i = end
    while i - 1 >= floor and tokens[i - 1].kind in ARITH_KINDS \
            and not _run_breaks(tokens[i - 1], tokens[i]):
        i -= 1
    return i


def run_forward(tokens: Sequence[Token], start: int, ceiling: int) -> int:
    """End index (exclusive) of the arithmetic run starting at `start`, not past `ceiling`."""
    i = start
    while i < ceiling and tokens[i].kind in ARITH_KINDS \
            and (i == start or not _run_breaks(tokens[i - 1], tokens[i])):
        i += 1
    return i


def trim_parens(run: list[Token], left_side: bool) -> list[Token]:
    """Drop unmatched parentheses at the outer end of a run ('(5 + 3 = 8)')."""
    opens = sum(tok.kind in (LP,) for tok in run)
    closes = sum(tok.kind == RP for tok in run)
    if left_side:
        while run and (run[0].kind == RP or (run[0].kind == LP and opens > closes)):
            opens -= run[0].kind == LP
            closes -= run[0].kind == RP
            run = run[1:]
    else:
        while run and (run[-1].kind == LP or (run[-1].kind == RP and closes > opens)):
            opens -= run[-1].kind == LP
            closes -= run[-1].kind == RP
            run = run[:-1]
    return run


def _evaluate(run: Sequence[Token]) -> Member:
    results = [evaluate_tokens(run, mode) for mode in PERCENT_MODES]
    failed = next((r for r in results if not r.ok), None)
    if failed is not None:
        return Member(tuple(run), failed.status, (), failed.detail)
    return Member(tuple(run), "ok", tuple(r.value for r in results),
                  intermediates=results[0].intermediates)


def _joins_numbers(tokens: Sequence[Token], punct: int, other: int) -> bool:
    """The run is one part of a time, ratio or list: '8:00', '$7,980 : $420', '13,15&19'."""
    tok = tokens[punct]
    if tok.kind != PUNCT or tok.text not in ":,&":
        return False
    if not 0 <= other < len(tokens) or tokens[other].kind not in (NUM, DIGITWORD):
        return False
    if tok.text == ",":  # a spaced comma separates clauses; only '3,2' joins numbers
        return _glued(tokens[other], tok) or _glued(tok, tokens[other])
    return True


def _left_member(tokens: Sequence[Token], link: int, floor: int) -> Member:
    end = link - 1
    if end < floor:
        return Member((), "none")
    last = tokens[end]
    if last.kind in _MATH_NEIGHBOURS or (last.kind == OP and last.text == "^"):
        return Member((last,), "invalid", (), f"unreadable math before '=': {last.text[:20]!r}")
    if is_unit_word(last):  # "8 pounds + 4 pounds = ...": a unit right before '='
        i = end
        while i - 1 >= floor and end - i < 4 and (is_unit_word(tokens[i - 1])
                                                   or tokens[i - 1].text == "/"):
            i -= 1
        if i - 1 < floor or tokens[i - 1].kind not in OPERAND_END:
            return Member((), "none")
        start = _run_back(tokens, i - 1, floor)
        run = list(tokens[start:i])
        if not has_operator(run):
            return Member(tuple(run), "skip", (), "unit statement")
        end = i - 1
    elif last.kind not in ARITH_KINDS:
        return Member((), "none")
    start = _run_back(tokens, end, floor)
    run = trim_parens(list(tokens[start:end + 1]), left_side=True)
    if not run:
        return Member((), "none")
    outer = tokens[start - 1] if start - 1 >= 0 else None
    first = run[0]
    if outer is not None:
        if outer.kind in ARITH_KINDS:  # cut from more math: "(1/2) 18 = 9", "1/2 (68) + 10"
            return Member(tuple(run), "skip", (), f"run on from {outer.text[:20]!r}")
        if outer.kind == WORD and outer.text in _LHS_MODIFIERS:
            return Member(tuple(run), "skip", (), f"phrase '{outer.text} ...'")
        if outer.kind in _MATH_NEIGHBOURS:
            return Member(tuple(run), "invalid", (), f"next to {outer.text[:20]!r}")
        if _glued(outer, tokens[start]) and outer.kind in (WORD, DIGITWORD):
            return Member(tuple(run), "invalid", (), f"glued to {outer.text[:20]!r}")
        if _joins_numbers(tokens, start - 1, start - 2):
            return Member(tuple(run), "skip", (), "part of a time, ratio or list")
        if outer.kind in (WORD, TEXT) and not has_operator(run):
            return Member(tuple(run), "skip", (), f"'{outer.text[:20]} {run[0].text}' is a "
                                                  f"phrase")
    if first.kind == OP and first.text != "-":
        return Member(tuple(run), "invalid", (), f"starts with {first.text!r}")
    if first.kind == OP and outer is not None and (outer.kind in (DIGITWORD, TEXT) or (
            outer.kind == WORD and (len(outer.text) == 1 or outer.text not in NOT_UNITS))):
        return Member(tuple(run), "invalid", (), f"'{outer.text[:20]} - ...'")  # "x - 3"
    if first.kind == PCT:
        return Member(tuple(run), "invalid", (), "starts with %")
    return _evaluate(run)


def _right_member(tokens: Sequence[Token], link: int, ceiling: int) -> Member:
    start = link + 1
    if start >= ceiling:
        return Member((), "none")
    first = tokens[start]
    if first.kind in _MATH_NEIGHBOURS:
        return Member((first,), "invalid", (), f"unreadable math after '=': {first.text[:20]!r}")
    end = run_forward(tokens, start, ceiling)
    run = trim_parens(list(tokens[start:end]), left_side=False)
    if not run:
        return Member((), "none")
    outer = tokens[end] if end < len(tokens) else None
    if run[-1].kind == OP:
        return Member(tuple(run), "invalid", (), f"ends with {run[-1].text!r}")
    if outer is not None:
        if outer.kind == NUM:  # "= 3 400" read as two numbers
            return Member(tuple(run), "skip", (), f"run on into {outer.text[:20]!r}")
        if outer.kind == WORD and (outer.text in _RHS_MODIFIERS or _and_a_half(tokens, end)):
            return Member(tuple(run), "skip", (), f"phrase '... {outer.text}'")
        if _glued(tokens[end - 1], outer) and (outer.kind in _MATH_NEIGHBOURS or outer.kind
                                               == WORD and tokens[end - 1].kind == RP):
            return Member(tuple(run), "invalid", (), f"glued to {outer.text[:20]!r}")
        if _joins_numbers(tokens, end, end + 1):
            return Member(tuple(run), "skip", (), "part of a time, ratio or list")
        if outer.kind == WORD and outer.text in _CENTS and not has_operator(run):
            member = _evaluate(run)
            return Member(member.tokens, member.status, member.values, member.detail, True,
                          member.intermediates)
    return _evaluate(run)


def _and_a_half(tokens: Sequence[Token], index: int) -> bool:
    if tokens[index].text != "and":
        return False
    window = tokens[index + 1:index + 3]
    return any(tok.text in ("half", "quarter", "third") for tok in window)


def chains(tokens: Sequence[Token], source: str = "inline", offset: int = 0) -> list[Equation]:
    """Every equation chain in a token list (ANNOT tokens must already be removed); only the
    first MAX_LINKS links are read."""
    links = [i for i, tok in enumerate(tokens) if tok.kind in _LINKS][:MAX_LINKS]
    equations: list[Equation] = []
    k = 0
    while k < len(links):
        first = links[k]
        floor = links[k - 1] + 1 if k else 0
        members = [_left_member(tokens, first, floor)]
        approx = [tokens[first].kind == APPROX]
        # extend the chain while the segment to the next link is wholly arithmetic
        while k + 1 < len(links) and links[k + 1] > links[k] + 1 \
                and run_forward(tokens, links[k] + 1, links[k + 1]) == links[k + 1]:
            segment = trim_parens(list(tokens[links[k] + 1:links[k + 1]]), left_side=False)
            members.append(_evaluate(segment) if segment else Member((), "none"))
            approx.append(tokens[links[k + 1]].kind == APPROX)
            k += 1
        ceiling = links[k + 1] if k + 1 < len(links) else len(tokens)
        members.append(_right_member(tokens, links[k], ceiling))
        spanned = [tok for m in members for tok in m.tokens] or [tokens[first]]
        equations.append(Equation(tuple(members), tuple(approx), source,
                                  offset + min(t.start for t in spanned),
                                  offset + max(t.end for t in spanned)))
        k += 1
    return equations


def _shift(tok: Token, offset: int) -> Token:
    return Token(tok.kind, tok.text, tok.start + offset, tok.end + offset)


@dataclass(frozen=True)
class Extraction:
    tokens: list[Token]  # the step's tokens, annotations removed
    equations: list[Equation]  # annotations and inline chains
    capped: bool  # more links or annotations than the bounds allow: some were not read
    loose: list[Member]  # computing expressions outside equations that failed to evaluate


def extract(text: str) -> Extraction:
    """The equations of a step text, plus failing expressions outside them ('1/0')."""
    tokens = tokenize(text)
    equations: list[Equation] = []
    inline: list[Token] = []
    annotations = 0
    for tok in tokens:
        if tok.kind == ANNOT:
            annotations += 1
            if annotations <= MAX_ANNOTATIONS:
                inner_offset = tok.start + 2
                inner = [_shift(t, inner_offset) for t in tokenize(tok.text[2:-2])]
                equations.extend(chains(inner, "annotation"))
        else:
            inline.append(tok)
    inline = _join_displays(inline)
    equations.extend(chains(inline, "inline"))
    links = sum(tok.kind in _LINKS for tok in inline)
    capped = links > MAX_LINKS or annotations > MAX_ANNOTATIONS
    return Extraction(inline, equations, capped, _loose_failures(inline, equations))


def _join_displays(tokens: list[Token]) -> list[Token]:
    """Drop display delimiters before a display that starts with '=': '\\[ a = b \\] \\[ = c \\]'
    is one chain a = b = c."""
    keep = [True] * len(tokens)
    following = None  # kind of the next non-delimiter token, scanning backwards
    for i in range(len(tokens) - 1, -1, -1):
        if tokens[i].kind == DELIM:
            keep[i] = following != EQ
        else:
            following = tokens[i].kind
    return [tok for tok, kept in zip(tokens, keep) if kept]


def _loose_failures(tokens: Sequence[Token], equations: Sequence[Equation]) -> list[Member]:
    spans = [(eq.start, eq.end) for eq in equations if eq.source == "inline"]
    failures: list[Member] = []
    i, runs = 0, 0
    while i < len(tokens) and runs < MAX_LOOSE_RUNS:
        if tokens[i].kind not in ARITH_KINDS:
            i += 1
            continue
        end = run_forward(tokens, i, len(tokens))
        run = tokens[i:end]
        inside = any(s <= run[0].start < e for s, e in spans)
        if not inside and has_operator(run):
            runs += 1
            result = evaluate_tokens(run)
            if result.status in ("div0", "bounds"):
                failures.append(Member(tuple(run), result.status, (), result.detail))
        i = end
    return failures


def literal_tokens(member: Member) -> list[Token]:
    return [tok for tok in member.tokens if tok.kind == NUM]


def tolerance(member: Member, mode: str) -> Fraction:
    """Rounding slack a bare written decimal earns: 10^-d for d decimal places, else 0.

    '0.67' matches 2/3 (|2/3 - 0.67| < 0.01): the writer rounded or truncated to d places. In
    percent "divide" mode '33.3%' earns 0.1% = 0.001.
    """
    lit = member.literal
    if lit is None or not decimal_places(lit):
        return Fraction(0)
    slack = Fraction(1, 10 ** decimal_places(lit))
    if mode == "divide" and any(tok.kind == PCT for tok in member.tokens):
        slack /= 100
    return slack

