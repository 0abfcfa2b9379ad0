"""Which numbers a step may use: the ones given in the problem or produced earlier.

A number is "available" when it is written in the question or an earlier step, as digits or
as words ("twelve", "twenty-five", "half", "a dozen", "two-thirds", "one and a half", "¾"), or
follows from one in a single conventional move (question text only, `derived=True`):
- percents: 20% -> 0.2, 80, 0.8, 1.2, 120;
- fractions: 2/5 -> 0.4, 3, 3/5; mixed numbers "4 1/2" -> 4.5;
- units: "2 weeks" -> 14 and 2/7, "30 minutes" -> 0.5 (UNIT_CONSTANTS), "$2.50" -> 250 (cents);
- list sizes: a sentence listing items ("breakfast, lunch and dinner") gives the counts 2..n.
Common constants (ALWAYS_AVAILABLE) and the conversion constants of unit words that appear
(UNIT_CONSTANTS: "hour" -> 60) are available too. These allowances exist because human-written
GSM8K steps use them constantly; bench/oracle_eval.py measures the false alarms that remain.
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Sequence

from aprm.oracle.arith import ArithError, literal_value
from aprm.oracle.lexer import ANNOT, DIGITWORD, NUM, OTHER, PCT, TEXT, WORD, Token, scan

ALWAYS_AVAILABLE = frozenset(Fraction(n) for n in (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 100))

_CARDINALS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen".split())}
_CARDINALS.update({w: 10 * (i + 2) for i, w in enumerate(
    "twenty thirty forty fifty sixty seventy eighty ninety".split())})
_ORDINALS = {"half": 2, "halves": 2, "third": 3, "thirds": 3, "quarter": 4, "quarters": 4,
             "fourth": 4, "fourths": 4, "fifth": 5, "fifths": 5, "sixth": 6, "sixths": 6,
             "seventh": 7, "sevenths": 7, "eighth": 8, "eighths": 8, "ninth": 9, "ninths": 9,
             "tenth": 10, "tenths": 10}
_MULTIPLES = {"once": 1, "single": 1, "twice": 2, "double": 2, "doubled": 2, "pair": 2,
              "pairs": 2, "couple": 2, "both": 2, "twins": 2, "triple": 3, "tripled": 3,
              "thrice": 3, "triplets": 3, "quadruple": 4, "quadruples": 4, "quadrupled": 4,
              "dozen": 12, "dozens": 12, "score": 20, "gross": 144, "hundred": 100,
              "hundreds": 100, "thousand": 1000, "thousands": 1000, "million": 10**6,
              "millions": 10**6, "billion": 10**9, "percent": 100}
_SCALES = {"hundred": 100, "thousand": 1000, "million": 10**6, "billion": 10**9, "dozen": 12,
           "dozens": 12}
_VULGAR = {"½": (1, 2), "⅓": (1, 3), "⅔": (2, 3), "¼": (1, 4), "¾": (3, 4), "⅕": (1, 5),
           "⅖": (2, 5), "⅗": (3, 5), "⅘": (4, 5), "⅙": (1, 6), "⅚": (5, 6), "⅛": (1, 8),
           "⅜": (3, 8), "⅝": (5, 8), "⅞": (7, 8)}
_LIST_SENTENCE = re.compile(r"[^.?!;\n]{1,400}")
MAX_LIST_ITEMS = 12

# Unit words -> constants a conversion through that unit uses.
UNIT_CONSTANTS: dict[str, tuple[Fraction, ...]] = {}
for _words, _values in (
    ("week weeks weekly", (7,)),
    ("weekend weekends", (2,)),
    ("weekday weekdays", (5,)),
    ("day days daily", (24, 7)),
    ("hour hours hourly hr hrs", (60,)),
    ("minute minutes min mins second seconds", (60,)),
    ("month months monthly", (12, 30, 31, 28, 4)),
    ("year years yearly annual annually", (12, 52, 365)),
    ("decade decades", (10,)),
    ("century centuries", (100,)),
    ("dime dimes", (10, Fraction(1, 10))),
    ("nickel nickels", (5, Fraction(1, 20))),
    ("quarter quarters", (25, Fraction(1, 4))),
    ("penny pennies", (100, Fraction(1, 100))),
    ("cent cents dollar dollars", (100,)),
    ("foot feet inch inches", (12,)),
    ("yard yards", (3, 36)),
    ("mile miles", (5280,)),
    ("pound pounds lb lbs ounce ounces", (16,)),
    ("gallon gallons", (4, 8, 16, 128)),
    ("quart quarts pint pints cup cups", (2, 4)),
    ("liter liters litre litres milliliter milliliters ml kilogram kilograms kg gram grams "
     "kilometer kilometers km meter meters metre metres", (1000, 100)),
    ("centimeter centimeters cm", (100,)),
    ("watt watts kilowatt kilowatts kw kwh", (1000,)),
    ("ton tons", (2000,)),
    ("january march may july august october december", (31, 30, 28)),
    ("april june september november", (30, 31)),
    ("february", (28, 29)),
    ("monday tuesday wednesday thursday friday saturday sunday", (7,)),
):
    for _word in _words.split():
        UNIT_CONSTANTS[_word] = tuple(Fraction(v) for v in _values)


def _words(tokens: Sequence[Token]) -> list[Token]:
    """Hyphenated words split into parts ('two-thirds'), possessives trimmed ("five's")."""
    out: list[Token] = []
    for tok in tokens:
        if tok.kind != WORD:
            out.append(tok)
            continue
        for part in tok.text.split("-"):
            if part.endswith("'s") or part.endswith("s'"):
                part = part[:-2]
            if part:
                out.append(Token(WORD, part, tok.start, tok.end))
    return out


def _text_at(tokens: Sequence[Token], i: int) -> str | None:
    return tokens[i].text if 0 <= i < len(tokens) else None


def _after_number(tokens: Sequence[Token], i: int, value: Fraction, out: set[Fraction],
                  derived: bool) -> None:
    """Values a number at index i states with the word after it: 20%, 2 dozen, 5 cents."""
    if i + 1 >= len(tokens):
        return
    nxt = tokens[i + 1]
    if nxt.kind == PCT or nxt.text in ("percent", "percentage"):
        out.add(value / 100)
        if derived:
            out.update({100 - value, (100 - value) / 100, 1 + value / 100, 100 + value})
    elif nxt.text in _SCALES:
        out.add(value * _SCALES[nxt.text])
    elif nxt.text in ("cent", "cents"):
        out.add(value / 100)
    elif nxt.text in _ORDINALS and value.denominator == 1:  # two thirds, three quarters
        den = _ORDINALS[nxt.text]
        out.update({value / den, (den - value) / den, Fraction(den)})
    if derived and nxt.text in UNIT_CONSTANTS:  # "2 weeks" -> 14 (days), "30 minutes" -> 0.5
        for constant in UNIT_CONSTANTS[nxt.text]:
            out.update({value * constant, value / constant})


def _and_a_half(tokens: Sequence[Token], i: int, out: set[Fraction]) -> None:
    """'4 and a half', 'two and half', 'a pound and a half' at the 'half' at index i."""
    j = i - 1
    if _text_at(tokens, j) in ("a", "one"):
        j -= 1
    if _text_at(tokens, j) != "and":
        return
    for k in range(j - 1, max(j - 4, -1), -1):
        tok = tokens[k]
        base = None
        if tok.kind == NUM:
            try:
                base = literal_value(tok)
            except ArithError:
                return
        elif tok.text in _CARDINALS:
            base = Fraction(_CARDINALS[tok.text])
        elif tok.text in ("a", "an"):
            base = Fraction(1)
        if base is not None:
            out.add(base + Fraction(1, 2))
            return


def _word_values(tokens: Sequence[Token], i: int, out: set[Fraction], derived: bool) -> None:
    """Numbers a word at index i states ("twenty five", "two thirds", "one and a half")."""
    word = tokens[i].text
    if word == "half":
        _and_a_half(tokens, i, out)
        if derived:  # "half an hour" -> 30
            skip = 1 if _text_at(tokens, i + 1) in ("a", "an") else 0
            _after_number(tokens, i + skip, Fraction(1, 2), out, derived)
    if word in _CARDINALS:
        value = _CARDINALS[word]
        end = i
        if value >= 20 and 0 < _CARDINALS.get(_text_at(tokens, i + 1) or "", 0) < 10:
            value += _CARDINALS[tokens[i + 1].text]  # twenty five
            end = i + 1
        out.add(Fraction(value))
        _after_number(tokens, end, Fraction(value), out, derived)
    if word in _ORDINALS:
        out.update({Fraction(_ORDINALS[word]), Fraction(1, _ORDINALS[word])})
    if word in _MULTIPLES:
        out.add(Fraction(_MULTIPLES[word]))
    out.update(UNIT_CONSTANTS.get(word, ()))


def _number_values(tokens: Sequence[Token], i: int, out: set[Fraction], derived: bool) -> None:
    try:
        value = literal_value(tokens[i])
    except ArithError:
        return
    out.add(value)
    _after_number(tokens, i, value, out, derived)
    if derived and "." in tokens[i].text and len(tokens[i].text.partition(".")[2]) == 2:
        out.add(value * 100)  # $2.50 -> 250 cents
    if i + 2 < len(tokens) and tokens[i + 1].text == "/" and tokens[i + 2].kind == NUM:
        try:
            den = literal_value(tokens[i + 2])
        except ArithError:
            return
        if den and derived:
            out.update({value / den, den - value, (den - value) / den})
    if i + 3 < len(tokens) and value.denominator == 1 and tokens[i + 1].kind == NUM \
            and tokens[i + 2].text == "/" and tokens[i + 3].kind == NUM:
        try:  # "4 1/2"
            num, den = literal_value(tokens[i + 1]), literal_value(tokens[i + 3])
        except ArithError:
            return
        if 0 < num < den:
            out.add(value + num / den)


def numbers_in(tokens: Sequence[Token], derived: bool) -> set[Fraction]:
    """Every number the tokens state; with `derived`, also the one-move derivations."""
    out: set[Fraction] = set()
    tokens = _words(tokens)
    for i, tok in enumerate(tokens):
        if tok.kind == NUM:
            _number_values(tokens, i, out, derived)
        elif tok.kind == WORD:
            _word_values(tokens, i, out, derived)
        elif tok.kind == DIGITWORD:  # ordinals and glued units: "10th", "3rd", "2L"
            digits = tok.text[:len(tok.text) - len(tok.text.lstrip("0123456789"))]
            if 0 < len(digits) <= 12 and int(digits):
                out.update({Fraction(int(digits)), Fraction(1, int(digits))})
        elif tok.kind == TEXT:  # \text{ hours}
            for part in tok.text.split():
                out.update(UNIT_CONSTANTS.get(part, ()))
        elif tok.kind == OTHER and tok.text in _VULGAR:
            num, den = _VULGAR[tok.text]
            out.update({Fraction(num, den), Fraction(num), Fraction(den)})
        elif tok.kind == ANNOT:
            out.update(numbers_in(scan(tok.text[2:-2]), derived=False))
    return out


def list_sizes(text: str) -> set[Fraction]:
    """2..n for each sentence that lists n items ('Mike, Rita and Anita' -> 2, 3)."""
    out: set[Fraction] = set()
    for sentence in _LIST_SENTENCE.findall(text):
        if " and " in sentence or " or " in sentence:
            items = min(sentence.count(",") + 2, MAX_LIST_ITEMS)
            out.update(Fraction(n) for n in range(2, items + 1))
    return out


def text_numbers(text: str, derived: bool = False) -> set[Fraction]:
    numbers = numbers_in(scan(text), derived)
    return numbers | list_sizes(text) if derived else numbers


def unit_constants(text: str) -> set[Fraction]:
    """Conversion constants of the unit words in `text` ("There are 60 minutes in an hour")."""
    out: set[Fraction] = set()
    for tok in scan(text):
        if tok.kind == WORD:
            for part in tok.text.split("-"):
                out.update(UNIT_CONSTANTS.get(part, ()))
    return out
