"""Light, linear-time handling of LaTeX-bearing solution text (MATH500, ProcessBench).

No LaTeX is parsed or evaluated: a single scan tracks whether we are inside math ($..$, $$..$$,
\\(..\\), \\[..\\], \\begin..\\end) so that sentence boundaries are only taken in prose, and a
brace counter pulls out the last \\boxed{...}.
"""

from __future__ import annotations

import re

_SENTENCE_END = ".?!"
_BEGIN, _END = "\\begin{", "\\end{"
_BLANK_LINE_RE = re.compile(r"\n[ \t]*\n")


def single_line(text: str) -> str:
    """Collapse all whitespace (newlines included) to single spaces: a step is one line."""
    return " ".join(text.split())


def strip_blocks(text: str, start: str, end: str) -> str:
    """Remove every `start ... end` block (e.g. [asy] code); an unclosed one runs to the end."""
    out, pos = [], 0
    while True:
        begin = text.find(start, pos)
        if begin < 0:
            out.append(text[pos:])
            return "".join(out)
        out.append(text[pos:begin])
        finish = text.find(end, begin + len(start))
        if finish < 0:
            return "".join(out)
        out.append(" ")
        pos = finish + len(end)


def split_sentences(text: str) -> list[str]:
    """Split prose into sentences at '.', '?' or '!' (or such a mark just before a closing '$')
    followed by whitespace and a capital letter, never inside math; blank lines always split.
    Each piece is returned as a single line; empty pieces are dropped."""
    pieces: list[str] = []
    for paragraph in _BLANK_LINE_RE.split(text):
        pieces.extend(_split_paragraph(paragraph))
    return [line for line in (single_line(p) for p in pieces) if line]


def _split_paragraph(text: str) -> list[str]:
    cuts = []
    dollars = 0        # 0 prose, 1 inside $..$, 2 inside $$..$$
    brackets = 0       # depth of \( \[ pairs
    environments = 0   # depth of \begin{..} \end{..}
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "\\":
            if text.startswith(_BEGIN, i):
                environments += 1
            elif text.startswith(_END, i):
                environments = max(environments - 1, 0)
            elif i + 1 < n and text[i + 1] in "([":
                brackets += 1
            elif i + 1 < n and text[i + 1] in ")]":
                brackets = max(brackets - 1, 0)
            i += 2  # a backslash escapes the next character ('\$' is not math)
            continue
        if ch == "$":
            width = 2 if text.startswith("$$", i) else 1
            closing = dollars == width
            dollars = 0 if closing else (width if dollars == 0 else dollars)
            i += width
            if closing and text[i - width - 1:i - width] in tuple(_SENTENCE_END) and \
                    _capital_follows(text, i):
                cuts.append(i)
            continue
        in_math = dollars or brackets or environments
        if not in_math and ch in _SENTENCE_END and _capital_follows(text, i + 1):
            cuts.append(i + 1)
        i += 1
    bounds = [0, *cuts, n]
    return [text[a:b] for a, b in zip(bounds, bounds[1:])]


def _capital_follows(text: str, pos: int) -> bool:
    """True when text[pos:] is whitespace followed by an uppercase letter."""
    if pos >= len(text) or not text[pos].isspace():
        return False
    rest = text[pos:pos + 64].lstrip()
    return bool(rest) and rest[0].isupper()


def last_boxed(text: str) -> str | None:
    """Content of the last \\boxed{...} (or \\fbox{...}) in `text`, or None if absent/unbalanced."""
    start = max(text.rfind("\\boxed{"), text.rfind("\\fbox{"))
    if start < 0:
        return None
    i = text.index("{", start) + 1
    depth, begin = 1, i
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return text[begin:i].strip()
        i += 1
    return None
