"""Bounded parsing of numeric literals from untrusted text into exact Fractions.

Shared by the data loaders (answers) and the oracle (operands). Never calls eval or sympify;
every input is length-checked first so the work any text can cause is bounded.
"""

from __future__ import annotations

import re
from fractions import Fraction

MAX_DIGITS = 40  # longest literal (digits, either side of the point) we accept as a number

_NUMBER_RE = re.compile(
    r"""^\s*
    (?P<sign>[-+\u2212])?\s*
    \$?\s*
    (?P<int>\d{1,3}(?:,\d{3})+|\d+)?
    (?:\.(?P<frac>\d+))?
    \s*(?P<pct>%)?\s*$""",
    re.VERBOSE,
)
_FRACTION_RE = re.compile(r"^\s*([-+\u2212]?\s*\d+)\s*/\s*(\d+)\s*$")


def parse_number(text: str) -> Fraction | None:
    """Parse '1,234', '-3.5', '$12', '50%', '3/4' (ASCII digits only) to a Fraction.

    Returns None for anything else, including literals longer than MAX_DIGITS digits and
    zero denominators. Non-ASCII digits are rejected rather than guessed at.
    """
    if not isinstance(text, str) or len(text) > 4 * MAX_DIGITS or not text.isascii() and not _only_minus(text):
        return None
    frac = _FRACTION_RE.match(text)
    if frac:
        num, den = frac.group(1).replace(" ", "").replace("\u2212", "-"), frac.group(2)
        if len(num) > MAX_DIGITS or len(den) > MAX_DIGITS or int(den) == 0:
            return None
        return Fraction(int(num), int(den))
    match = _NUMBER_RE.match(text)
    if not match or (match.group("int") is None and match.group("frac") is None):
        return None
    int_part = (match.group("int") or "0").replace(",", "")
    frac_part = match.group("frac") or ""
    if len(int_part) + len(frac_part) > MAX_DIGITS:
        return None
    value = Fraction(int(int_part + frac_part), 10 ** len(frac_part))
    if match.group("sign") in ("-", "\u2212"):
        value = -value
    if match.group("pct"):
        value /= 100
    return value


def _only_minus(text: str) -> bool:
    """Allow the unicode minus sign but no other non-ASCII character."""
    return text.replace("\u2212", "-").isascii()


def format_number(value: Fraction) -> str:
    """Canonical text for an exact number: '31', '-2.5', or '1/3' when not a finite decimal."""
    if value.denominator == 1:
        return str(value.numerator)
    den = value.denominator
    while den % 2 == 0:
        den //= 2
    while den % 5 == 0:
        den //= 5
    if den != 1:
        return f"{value.numerator}/{value.denominator}"
    sign = "-" if value < 0 else ""
    value = abs(value)
    whole, rest = divmod(value.numerator, value.denominator)
    digits = ""
    while rest:
        rest *= 10
        digit, rest = divmod(rest, value.denominator)
        digits += str(digit)
    return f"{sign}{whole}.{digits}"
