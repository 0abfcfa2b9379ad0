"""Safe exact evaluation of arithmetic expressions (recursive descent over lexer tokens).

Grammar (standard precedence, `^` right-associative and binding tighter than unary minus):
    expr    := term (("+" | "-") term)*
    term    := unary (("*" | "/") unary | <implicit: a "(" glued to the operand before>)*
    unary   := ("-" | "+") unary | power
    power   := postfix ("^" unary)?
    postfix := primary "%"*
    primary := NUMBER [frac] | "(" expr ")" | frac      (NUMBER frac: a mixed number)
    frac    := \\frac "{" expr "}" "{" expr "}"
Values are exact `fractions.Fraction`. Every input is bounded: characters, tokens, nesting depth
(checked, so 10,000 nested parentheses fail fast instead of hitting RecursionError), digits per
literal, bits per intermediate result, and exponents (integers only, result size checked before
computing). Failures come back as a status, never as an exception: "invalid" (not an
expression), "bounds" (too big or too deep), "div0" (division by zero).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Sequence

from aprm.numbers import MAX_DIGITS
from aprm.oracle.lexer import ARITH_KINDS, FRAC, LP, NUM, OP, PCT, RP, Token, tokenize

MAX_EXPR_CHARS = 2_000
MAX_EXPR_TOKENS = 400
MAX_DEPTH = 40  # parentheses, unary signs and powers, counted together
MAX_BITS = 4_096  # numerator + denominator bits of any intermediate value
PERCENT_MODES = ("divide", "ignore")  # "20%" as 0.2, or as the plain number 20


@dataclass(frozen=True)
class ArithResult:
    status: str  # "ok" | "invalid" | "bounds" | "div0"
    value: Fraction | None = None
    detail: str = ""
    intermediates: tuple[Fraction, ...] = ()  # every binary-operation result, in order

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class ArithError(Exception):
    def __init__(self, status: str, detail: str):
        super().__init__(detail)
        self.status = status
        self.detail = detail


def literal_value(tok: Token) -> Fraction:
    """Exact value of a NUM token ('1,234.5', '14{,}000', '.25'); raises ArithError('bounds')."""
    text = tok.text.replace("{,}", "").replace("\\,", "").replace(",", "").replace(" ", "")
    whole, _, frac = text.partition(".")
    if len(whole) + len(frac) > MAX_DIGITS:
        raise ArithError("bounds", f"literal with more than {MAX_DIGITS} digits")
    return Fraction(int((whole or "0") + frac), 10 ** len(frac))


def decimal_places(tok: Token) -> int:
    _, _, frac = tok.text.partition(".")
    return len(frac)


def _check_size(value: Fraction) -> Fraction:
    if value.numerator.bit_length() + value.denominator.bit_length() > MAX_BITS:
        raise ArithError("bounds", f"intermediate value over {MAX_BITS} bits")
    return value


class _Parser:
    def __init__(self, tokens: Sequence[Token], percent: str):
        self.tokens = tokens
        self.pos = 0
        self.depth = 0
        self.divide_percent = percent == "divide"
        self.intermediates: list[Fraction] = []

    def note(self, value: Fraction) -> Fraction:
        self.intermediates.append(value)
        return value

    def peek(self) -> Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> Token:
        tok = self.peek()
        if tok is None:
            raise ArithError("invalid", "expression ends early")
        self.pos += 1
        return tok

    def glued(self) -> bool:
        """True when the next token touches the previous one (no space between)."""
        return self.tokens[self.pos - 1].end == self.tokens[self.pos].start

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ArithError("bounds", f"nesting deeper than {MAX_DEPTH}")

    def is_op(self, symbols: str) -> bool:
        tok = self.peek()
        return tok is not None and tok.kind == OP and tok.text in symbols

    def expr(self) -> Fraction:
        value = self.term()
        while self.is_op("+-"):
            op = self.take().text
            rhs = self.term()
            value = self.note(_check_size(value + rhs if op == "+" else value - rhs))
        return value

    def term(self) -> Fraction:
        value = self.unary()
        while True:
            tok = self.peek()
            if tok is not None and tok.kind == OP and tok.text in "*/":
                self.pos += 1
                rhs = self.unary()
                if tok.text == "*":
                    value = self.note(_check_size(value * rhs))
                elif rhs == 0:
                    raise ArithError("div0", "division by zero")
                else:
                    value = self.note(_check_size(value / rhs))
            elif tok is not None and tok.kind == LP and self.glued():  # implicit: 2(3 + 4)
                value = self.note(_check_size(value * self.unary()))
            else:
                return value

    def unary(self) -> Fraction:
        if self.is_op("+-"):
            sign = self.take().text
            self.enter()
            value = self.unary()
            self.depth -= 1
            return -value if sign == "-" else value
        return self.power()

    def power(self) -> Fraction:
        base = self.postfix()
        if not self.is_op("^"):
            return base
        self.pos += 1
        self.enter()
        exponent = self.unary()
        self.depth -= 1
        return _power(base, exponent)

    def postfix(self) -> Fraction:
        value = self.primary()
        while (tok := self.peek()) is not None and tok.kind == PCT:
            self.pos += 1
            if self.divide_percent:
                value = value / 100
        return value

    def primary(self) -> Fraction:
        tok = self.take()
        if tok.kind == NUM:
            value = literal_value(tok)
            nxt = self.peek()
            if nxt is not None and nxt.kind == FRAC:  # mixed number: 2\frac{1}{2} = 2.5
                part = self.primary()
                if value.denominator != 1 or not 0 < part < 1:
                    raise ArithError("invalid", "number before \\frac is not a mixed number")
                return value + part
            return value
        if tok.kind == LP:
            return self.group()
        if tok.kind == FRAC:
            if self.take().kind != LP:
                raise ArithError("invalid", "\\frac without {numerator}")
            num = self.group()
            if self.take().kind != LP:
                raise ArithError("invalid", "\\frac without {denominator}")
            den = self.group()
            if den == 0:
                raise ArithError("div0", "division by zero")
            return _check_size(num / den)
        raise ArithError("invalid", f"unexpected {tok.text!r}")

    def group(self) -> Fraction:
        """The rest of a parenthesised group whose opening token was just taken."""
        self.enter()
        value = self.expr()
        if self.take().kind != RP:
            raise ArithError("invalid", "unbalanced parentheses")
        self.depth -= 1
        return value


def _power(base: Fraction, exponent: Fraction) -> Fraction:
    if exponent.denominator != 1:
        raise ArithError("invalid", "non-integer exponent")
    exp = exponent.numerator
    if base in (0, 1, -1):
        if base == 0 and exp < 0:
            raise ArithError("div0", "zero to a negative power")
        return base ** exp
    # |base| != 0, 1 needs at least |exp| * (bits - 1) bits for the power: refuse before computing
    least = abs(exp) * (max(abs(base.numerator).bit_length() - 1, 0)
                        + max(base.denominator.bit_length() - 1, 0))
    if abs(exp) > MAX_BITS or least > MAX_BITS:
        raise ArithError("bounds", f"power result over {MAX_BITS} bits")
    return _check_size(base ** exp)


def evaluate_tokens(tokens: Sequence[Token], percent: str = "divide") -> ArithResult:
    """Evaluate tokens that must form exactly one expression."""
    if not tokens:
        return ArithResult("invalid", None, "empty expression")
    if len(tokens) > MAX_EXPR_TOKENS:
        return ArithResult("bounds", None, f"more than {MAX_EXPR_TOKENS} tokens")
    if any(tok.kind not in ARITH_KINDS for tok in tokens):
        bad = next(tok for tok in tokens if tok.kind not in ARITH_KINDS)
        return ArithResult("invalid", None, f"not arithmetic: {bad.text[:20]!r}")
    parser = _Parser(tokens, percent)
    try:
        value = parser.expr()
        if parser.pos != len(tokens):
            return ArithResult("invalid", None, f"unexpected {tokens[parser.pos].text[:20]!r}")
        return ArithResult("ok", value, "", tuple(parser.intermediates))
    except ArithError as err:
        return ArithResult(err.status, None, err.detail)


def evaluate(text: str, percent: str = "divide") -> ArithResult:
    """Evaluate one arithmetic expression written as text: '3 \\times (4 + 1)', '20% * 50'."""
    if not isinstance(text, str):
        return ArithResult("invalid", None, "not a string")
    if len(text) > MAX_EXPR_CHARS:
        return ArithResult("bounds", None, f"longer than {MAX_EXPR_CHARS} characters")
    return evaluate_tokens(tokenize(text), percent)


def has_operator(tokens: Sequence[Token]) -> bool:
    """True when the tokens compute something: a binary operator or a fraction ('-3' does not)."""
    return any(tok.kind == FRAC
               or (tok.kind == OP and i > 0 and tokens[i - 1].kind in (NUM, RP, PCT))
               for i, tok in enumerate(tokens))
