"""The one prompt/solution text format, shared by solver SFT, sampling and anything that
re-tokenizes a solution (PRM, generator).

    Question: <question>\n
    Answer:\n
    <step 1>\n<step 2>\n...\nThe answer is X.

A raw model output is parsed back by splitting lines (every Unicode line break, as
`str.splitlines` does: `\r`, `\x0b`, `\x0c`, `\x1c`-`\x1e`, `\x85`, `\u2028`, `\u2029` too) and
dropping control characters and the PRM's step separator text, so any text a model writes parses into steps that `format_solution`
accepts; the final answer comes from the last line of the form `The answer is X.`.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Iterable

from aprm.schema import Problem, Solution

PROMPT_PREFIX = "Question: "
ANSWER_HEADER = "\nAnswer:\n"
ANSWER_PREFIX = "The answer is "
# The PRM's step separator (registered by `aprm.models.tokenizer` as a special token). A step
# that held it would be read as two steps and shift every label, so parsed steps never do.
STEP_TOKEN = "<step>"
MAX_PARSE_CHARS = 20_000  # sampled outputs are a few hundred chars; bounds work on junk input
_ANSWER_RE = re.compile(r"^The answer is\s+(.*)$")


def format_prompt(problem: Problem) -> str:
    """The text the solver is conditioned on (ends with a newline: the first step starts a line)."""
    question = " ".join(problem.question.split())  # the format needs the question on one line
    return f"{PROMPT_PREFIX}{question}{ANSWER_HEADER}"


def has_line_break(text: str) -> bool:
    """True when `text` holds any line boundary `str.splitlines` splits on."""
    return bool(text) and text.splitlines() != [text]


def clean_line(line: str) -> str:
    """One parsed line as a step: control characters (tab, NUL, ESC, ...) and the separator text
    become spaces, ends stripped. The tokenizer and oracle then never see text no step of the
    domain holds."""
    line = "".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in line)
    return line.replace(STEP_TOKEN, " ").strip()


def format_solution(steps: Iterable[str]) -> str:
    """Steps joined by newlines; a step must be a single line."""
    steps = [str(step) for step in steps]
    for index, step in enumerate(steps):
        if has_line_break(step):
            raise ValueError(f"solution step {index} contains a line break: {step[:80]!r}")
    return "\n".join(steps)


def answer_from_line(line: str) -> str | None:
    """X from a line `The answer is X.` (trailing period optional), else None.

    X must hold a letter or digit: "The answer is ." states no answer.
    """
    match = _ANSWER_RE.match(line.strip())
    if not match:
        return None
    answer = match.group(1).strip()
    answer = answer[:-1].rstrip() if answer.endswith(".") else answer
    return answer if any(ch.isalnum() for ch in answer) else None


def parse_solution_text(text: str) -> Solution:
    """Steps = the non-blank lines, cleaned (`clean_line`); final_answer from the last answer
    line, or None.

    Lines after an answer line are kept as steps: what the model wrote is what the PRM scores.
    """
    text = text[:MAX_PARSE_CHARS]
    steps = tuple(step for step in map(clean_line, text.splitlines()) if step)
    final_answer = None
    for step in reversed(steps):
        final_answer = answer_from_line(step)
        if final_answer is not None:
            break
    return Solution(steps=steps, final_answer=final_answer)
