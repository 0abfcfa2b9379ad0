"""Tokenizer for the arithmetic inside solution steps (plain text, GSM8K, LaTeX-ish model output).

One compiled regex of possessive/atomic alternatives scans the text left to right, so each
position costs O(token length) and no input can cause backtracking blow-ups. Tokens keep their
character span in the original text (the perturbations edit steps by span; "glued" checks
compare spans). Only ASCII digits form numbers: any other Unicode digit is an OTHER token.

Numbers: '1,234.5', '14{,}000', '17 000' (one space before each 3-digit group), '.25'; a number
glued to letters is a DIGITWORD ("2x", "7th"), except a unit of 2+ letters ("1400mg", split).
`$`, `£`, `€`, `¢` and LaTeX spacing are dropped; `\\times \\cdot × ·` are `*`;
`\\div ÷` are `/`; `− –` are `-`.

After scanning, `tokenize` rewrites a few context-dependent tokens:
- mixed numbers '3 1/2' and '5 and 2/3' become '(3 + 1/2)';
- `**` is power between operands, otherwise markdown bold and dropped;
- the words x/times/plus/minus/of/percent become operators between operands ("0.2 x 50",
  "1/3 of 18", "20 percent");
- unit words between a number and an operator are dropped ("8 pounds + 4 pounds", "5
  miles/hour * 3"), never multiplier words ("3 dozen") or single letters (variables).
"""

from __future__ import annotations

import re
from typing import NamedTuple

# Token kinds.
NUM, WORD, DIGITWORD, OP, LP, RP, PCT, EQ, APPROX, REL = (
    "NUM", "WORD", "DIGITWORD", "OP", "LP", "RP", "PCT", "EQ", "APPROX", "REL")
FRAC, BOXED, CMD, TEXT, DELIM, PUNCT, OTHER, ANNOT, STARSTAR = (
    "FRAC", "BOXED", "CMD", "TEXT", "DELIM", "PUNCT", "OTHER", "ANNOT", "STARSTAR")

ARITH_KINDS = frozenset({NUM, OP, LP, RP, PCT, FRAC})
OPERAND_END = frozenset({NUM, RP, PCT})
OPERAND_START = frozenset({NUM, LP, FRAC})

# Words that scale a number: never skipped as units, and a bare number next to one is a phrase.
MULTIPLIER_WORDS = frozenset({
    "dozen", "dozens", "hundred", "hundreds", "thousand", "thousands", "million", "millions",
    "billion", "billions", "half", "halves", "twice", "double", "triple", "thrice", "times",
    "squared", "cubed", "score", "third", "thirds", "quarter", "quarters", "fourth",
    "fourths", "fifth", "fifths", "tenth", "tenths", "percent", "pairs", "pair", "of",
})
MAX_UNIT_TOKENS = 4
# Function words never read as units ("9 because - 18/-2", "5 and - 3").
NOT_UNITS = frozenset("""a an the and or but so then because since as is are was were be been
that which who whom whose this these those it its he she they we you i his her their our your
to from for with by than in on at into onto if when while where what how each every all any
some no not more less fewer most least also only just about after before total makes make
gives give get gets got has have had equals equal left""".split())
_UNIT_WORD_RE = re.compile(r"[a-z][a-z'.-]*")

# thousands separators: ',' '{,}' '\,' or one space before a 3-digit group ("17 000")
_NUM_ATOM = (r"(?>(?:[0-9]{1,3}(?:(?:,|\{,\}|\\,)[0-9]{3}(?![0-9])|\x20[0-9]{3}(?![-0-9A-Za-z]))++"
             r"|[0-9]++)(?:\.[0-9]++)?|\.[0-9]++)")
_TOKEN_RE = re.compile(  # ordered by frequency in solution text; every branch is possessive
    r"\s*+(?:(?P<skip>[$\u00a3\u20ac\u00a5\u00a2]++"
    r"|\\(?:left|right|displaystyle|quad|qquad|[,;:! $])(?![A-Za-z]))"
    r"|(?P<word>[A-Za-z][A-Za-z']*+(?:-[A-Za-z][A-Za-z']*+)*+[A-Za-z0-9_]*+)"
    rf"|(?P<num>{_NUM_ATOM}(?:(?P<x>[xX])(?=[0-9(])|(?P<tail>[A-Za-z_][A-Za-z0-9_]*+))?)"
    r"|(?P<op>[-+/^]|\*(?!\*))"
    r"|(?P<eq>=)"
    r"|(?P<punct>[.,;:!?\"'`&#|~_@])"
    r"|(?P<lp>[(\[{])"
    r"|(?P<rp>[)\]}])"
    r"|(?P<pct>\\?%)"
    r"|(?P<annot><<[^<>]{0,300}>>)"
    r"|(?P<text>\\(?:text|mathrm|textbf|textit|mbox|mathbf|operatorname)\s*+\{[^{}]{0,200}\})"
    r"|(?P<frac>\\[dt]?frac(?![A-Za-z]))"
    r"|(?P<boxed>\\boxed(?![A-Za-z]))"
    r"|(?P<times>\\(?:times|cdot|ast)(?![A-Za-z])|[\u00d7\u2715\u2716\u00b7\u22c5\u2217])"
    r"|(?P<div>\\div(?![A-Za-z])|[\u00f7\u2215])"
    r"|(?P<minus>[\u2212\u2013])"
    r"|(?P<approx>\\approx(?![A-Za-z])|\u2248)"
    r"|(?P<rel>\\(?:neq|ne|leq?|geq?|lt|gt)(?![A-Za-z])|[\u2260\u2264\u2265<>])"
    r"|(?P<delim>\\[()\[\]])"
    r"|(?P<cmd>\\[A-Za-z]++|\\.)"
    r"|(?P<starstar>\*\*)"
    r"|(?P<other>.))",
    re.DOTALL,
)
_SIMPLE = {"annot": ANNOT, "word": WORD, "text": TEXT, "frac": FRAC, "boxed": BOXED,
           "approx": APPROX, "rel": REL, "delim": DELIM, "pct": PCT, "cmd": CMD,
           "starstar": STARSTAR, "op": OP, "eq": EQ, "lp": LP, "rp": RP, "punct": PUNCT,
           "other": OTHER}
_WORD_OPS = {"x": "*", "times": "*", "plus": "+", "minus": "-"}
_ORDINAL_TAILS = frozenset({"st", "nd", "rd", "th"})


class Token(NamedTuple):
    kind: str
    text: str  # operator symbol for OP, lower-cased word for WORD/TEXT, raw text otherwise
    start: int
    end: int


def scan(text: str) -> list[Token]:
    """Raw tokens of `text` (whitespace, `$` and spacing commands dropped)."""
    tokens: list[Token] = []
    append = tokens.append
    for match in _TOKEN_RE.finditer(text.rstrip()):  # rstrip: each match eats leading space
        group = match.lastgroup
        if group == "skip":
            continue
        start, end = match.span(group)
        raw = match.group(group)
        if group == "num":
            tail = match.group("tail")
            if tail and len(tail) >= 2 and tail.isalpha() and tail.lower() not in _ORDINAL_TAILS:
                split = end - len(tail)  # "1400mg", "10pm": a number and a unit word
                append(Token(NUM, raw[:-len(tail)], start, split))
                append(Token(WORD, tail.lower(), split, end))
            elif tail:
                append(Token(DIGITWORD, raw.lower(), start, end))
            elif match.group("x"):  # "3x4": a number, then a multiplication sign
                append(Token(NUM, raw[:-1], start, end - 1))
                append(Token(OP, "*", end - 1, end))
            else:
                append(Token(NUM, raw, start, end))
        elif group == "times":
            append(Token(OP, "*", start, end))
        elif group == "div":
            append(Token(OP, "/", start, end))
        elif group == "minus":
            append(Token(OP, "-", start, end))
        elif group == "op":
            append(Token(OP, raw, start, end))
        elif group == "word":
            append(Token(WORD, raw.lower(), start, end))
        elif group == "text":
            inner = raw
            append(Token(TEXT, inner[inner.index("{") + 1:-1].strip().lower(), start, end))
        else:
            append(Token(_SIMPLE[group], raw, start, end))
    return tokens


def tokenize(text: str) -> list[Token]:
    """Tokens of `text` with the context rewrites described in the module docstring."""
    tokens = _rewrite_words(_mixed_numbers(scan(text)))
    return _drop_units(tokens)


def _is_int(tok: Token) -> bool:
    return tok.kind == NUM and "." not in tok.text


def _mixed_numbers(tokens: list[Token]) -> list[Token]:
    """'3 1/2' and '5 and 2/3' become '(3 + 1/2)' (zero-width parentheses and plus)."""
    out: list[Token] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        j = i + 2 if i + 1 < len(tokens) and tokens[i + 1].text == "and" else i + 1
        if _is_int(tok) and j + 2 < len(tokens) and _is_int(tokens[j]) \
                and tokens[j + 1].text == "/" and _is_int(tokens[j + 2]) \
                and tokens[j].start > tok.end and not (out and out[-1].kind == NUM) \
                and _fraction_below_one(tokens[j].text, tokens[j + 2].text):
            out += [Token(LP, "(", tok.start, tok.start), tok,
                    Token(OP, "+", tok.end, tok.end), tokens[j], tokens[j + 1], tokens[j + 2],
                    Token(RP, ")", tokens[j + 2].end, tokens[j + 2].end)]
            i = j + 3
            continue
        out.append(tok)
        i += 1
    return out


def _fraction_below_one(num: str, den: str) -> bool:
    num, den = num.replace(",", "").replace(" ", ""), den.replace(",", "").replace(" ", "")
    return len(num) <= 6 and len(den) <= 6 and 0 < int(num) < int(den)


def _kind(tokens: list[Token], index: int) -> str | None:
    return tokens[index].kind if 0 <= index < len(tokens) else None


def _rewrite_words(tokens: list[Token]) -> list[Token]:
    out: list[Token] = []
    skip_by = False
    for i, tok in enumerate(tokens):
        if skip_by:
            skip_by = False
            continue
        prev_kind = out[-1].kind if out else None
        next_kind = _kind(tokens, i + 1)
        if next_kind == OP and tokens[i + 1].text == "-" and _kind(tokens, i + 2) in OPERAND_START:
            next_kind = NUM  # "3 x -2": the operand after is signed
        between = prev_kind in OPERAND_END and next_kind in OPERAND_START
        if not between and tok.kind == WORD and tok.text in _WORD_OPS \
                and next_kind in OPERAND_START:  # "17 bags x $18": look past the unit
            between = _after_unit(out)
        if tok.kind == STARSTAR:
            if between or (prev_kind in OPERAND_END and next_kind == OP
                           and tokens[i + 1].text == "-"):
                out.append(Token(OP, "^", tok.start, tok.end))
            continue  # markdown bold
        if tok.kind == WORD:
            word = tok.text
            if word in _WORD_OPS and between and not (word == "x" and out
                                                      and out[-1].end == tok.start):
                # a glued "(3/2)x" is a variable; "3x4" was split by the scanner already
                out.append(Token(OP, _WORD_OPS[word], tok.start, tok.end))
                continue
            if word == "of" and between and _ends_fraction(out):
                out.append(Token(OP, "*", tok.start, tok.end))
                continue
            if word == "percent" and prev_kind == NUM:
                out.append(Token(PCT, "%", tok.start, tok.end))
                continue
            if word in ("divided", "multiplied") and prev_kind in OPERAND_END \
                    and next_kind == WORD and tokens[i + 1].text == "by" \
                    and _kind(tokens, i + 2) in OPERAND_START:
                out.append(Token(OP, "/" if word == "divided" else "*", tok.start,
                                 tokens[i + 1].end))
                skip_by = True
                continue
        out.append(tok)
    return out


def _after_unit(out: list[Token]) -> bool:
    """True when `out` ends with an operand followed by 1..MAX_UNIT_TOKENS unit words."""
    i = len(out) - 1
    while i >= 0 and len(out) - 1 - i < MAX_UNIT_TOKENS and (
            is_unit_word(out[i]) or out[i].kind == OP and out[i].text == "/"):
        i -= 1
    return i < len(out) - 1 and i >= 0 and out[i].kind in OPERAND_END \
        and is_unit_word(out[i + 1])


def _ends_fraction(out: list[Token]) -> bool:
    """True when `out` ends with a percent, `a/b`, or a `\\frac{..}{..}` group."""
    last = out[-1]
    if last.kind == PCT:
        return True
    if last.kind == NUM and len(out) >= 3 and out[-2].kind == OP and out[-2].text == "/" \
            and out[-3].kind == NUM:
        return True
    if last.kind == RP:
        depth, i = 0, len(out) - 1
        while i >= 0:  # walk back over the two brace groups of a \frac
            kind = out[i].kind
            depth += kind == RP
            depth -= kind == LP
            if depth == 0 and kind == LP:
                return i >= 1 and out[i - 1].kind == RP and _frac_before(out, i - 1)
            i -= 1
    return False


def _frac_before(out: list[Token], rp_index: int) -> bool:
    depth, i = 0, rp_index
    while i >= 0:
        kind = out[i].kind
        depth += kind == RP
        depth -= kind == LP
        if depth == 0 and kind == LP:
            return i >= 1 and out[i - 1].kind == FRAC
        i -= 1
    return False


def is_unit_word(tok: Token) -> bool:
    """A word that can name a unit: alphabetic, longer than one letter (single letters are
    variables), not a multiplier ("dozen") and not a function word ("because")."""
    if tok.kind == TEXT:
        return bool(tok.text) and tok.text not in MULTIPLIER_WORDS
    return tok.kind == WORD and len(tok.text) > 1 and tok.text not in MULTIPLIER_WORDS \
        and tok.text not in NOT_UNITS and _UNIT_WORD_RE.fullmatch(tok.text) is not None


def unit_span(tokens: list[Token], start: int) -> int:
    """End index of a unit phrase beginning at `start` (words, `/ word`), or `start` if none."""
    i = start
    while i < len(tokens) and i - start < MAX_UNIT_TOKENS:
        if is_unit_word(tokens[i]):
            i += 1
        elif tokens[i].text == "of" and i > start and i + 1 < len(tokens) \
                and is_unit_word(tokens[i + 1]):  # "5 rows of potatoes * 30"
            i += 2
        elif tokens[i].kind == OP and tokens[i].text == "/" and i + 1 < len(tokens) \
                and is_unit_word(tokens[i + 1]):
            i += 2
        else:
            break
    return i


def _drop_units(tokens: list[Token]) -> list[Token]:
    """Drop unit phrases after an operand when an operator follows, and rates (`/ hour`)."""
    out: list[Token] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        out.append(tok)
        i += 1
        if tok.kind in OPERAND_END and i < len(tokens):
            end = unit_span(tokens, i)
            if end > i:
                follower = _kind(tokens, end)
                is_rate = tokens[i].kind == OP
                if is_rate or follower in (OP, RP):
                    i = end
    return out
