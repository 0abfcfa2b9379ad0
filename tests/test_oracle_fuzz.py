"""Property tests of the oracle, its evaluator and aprm.numbers.parse_number (hypothesis).

Invariants: no exception escapes; results stay within bounds; random arithmetic evaluates to the
value computed independently from its syntax tree, in ASCII, LaTeX and Unicode spellings; the
verdict on an equation agrees with that value; verdicts do not change when spaces are added
around operators and '=' or before/after the step. About 10,200 generated inputs per run.
"""

from __future__ import annotations

from fractions import Fraction

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aprm.numbers import MAX_DIGITS, format_number, parse_number
from aprm.oracle import Verdict, evaluate, first_error, judge_step, label_steps
from aprm.oracle.arith import MAX_BITS, MAX_DEPTH
from aprm.schema import Problem

LABELS = {"correct", "incorrect", "unknown"}
REASONS = {"ok", "arithmetic", "grounding", "progress", "answer", "unparseable", "bounds",
           "empty"}
STATUSES = {"ok", "invalid", "bounds", "div0"}
PROBLEM = Problem("fuzz", "Ava has 23 stickers. She buys 15 more. Then she gives away 7.", "31")
INJECTIONS = ["__import__('os').system('x')", "eval('1+1')", "exec(\"import os\")",
              "lambda: 0", "${7*7}", "{{7*7}}", "'; DROP TABLE steps; --", "\x00\x1b[31m",
              "\\input{/etc/passwd}", "<<__import__('os')=1>>", "os.system('ls') = 0",
              "1 = 1; import sys", "\u202e1 + 1 = 2", "\\frac{\\frac{\\frac{1}{0}}{0}}{0}"]
CODE = {"__import__('os').system('x')", "eval('1+1')", "exec(\"import os\")", "lambda: 0",
        "<<__import__('os')=1>>", "os.system('ls') = 0", "1 = 1; import sys"}


def fast(n: int):
    return settings(max_examples=n, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def valid(verdict: Verdict) -> bool:
    return isinstance(verdict, Verdict) and verdict.label in LABELS and verdict.reason in REASONS


# --- random arithmetic with an independent value ------------------------------------------

numbers = st.one_of(
    st.integers(0, 9999).map(lambda n: (Fraction(n), f"{n:,}" if n >= 1000 and n % 2 else str(n))),
    st.tuples(st.integers(0, 999), st.integers(1, 99)).map(
        lambda p: (Fraction(f"{p[0]}.{p[1]:02d}"), f"{p[0]}.{p[1]:02d}")),
)


def _binary(children):
    return st.tuples(st.sampled_from("+-*/"), children, children)


trees = st.recursive(numbers, lambda kids: st.one_of(_binary(kids),
                                                     st.tuples(st.just("neg"), kids)),
                     max_leaves=6)
top_trees = _binary(trees)  # a computation at the top, never a bare number
SPELLINGS = {
    "ascii": {"+": "+", "-": "-", "*": "*", "/": "/"},
    "latex": {"+": "+", "-": "-", "*": r"\times", "/": r"\div"},
    "unicode": {"+": "+", "-": "\u2212", "*": "\u00d7", "/": "\u00f7"},
    "words": {"+": "+", "-": "-", "*": "x", "/": "/"},
}


def value_of(tree) -> Fraction | None:
    """Exact value from the tree itself (None: division by zero)."""
    if isinstance(tree[0], Fraction):
        return tree[0]
    if tree[0] == "neg":
        inner = value_of(tree[1])
        return None if inner is None else -inner
    op, left, right = tree
    a, b = value_of(left), value_of(right)
    if a is None or b is None or (op == "/" and b == 0):
        return None
    return {"+": a + b, "-": a - b, "*": a * b, "/": a / b if op == "/" and b else None}[op]


def render(tree, spelling: str, pad: list[str], top: bool = True) -> str:
    """Text of the tree; sub-expressions in parentheses; `pad` supplies the spaces around each
    operator (consumed in order, cycled). A word operator "x" always gets spaces: glued to a
    number it reads as a variable ("2x-3"), which is a different text, not a spacing change."""
    if isinstance(tree[0], Fraction):
        return tree[1]
    if tree[0] == "neg":
        return "-(" + render(tree[1], spelling, pad, False) + ")"
    op, left, right = tree
    space = pad.pop(0) if pad else " "
    pad.append(space)
    if spelling == "latex" and op == "/":
        text = (r"\frac{" + render(left, spelling, pad, True) + "}{"
                + render(right, spelling, pad, True) + "}")
    else:
        if SPELLINGS[spelling][op] == "x":  # a glued x is algebra ("2x-3"), so keep a space
            space = space or " "
        text = (render(left, spelling, pad, False) + space + SPELLINGS[spelling][op] + space
                + render(right, spelling, pad, False))
    return text if top else "(" + text + ")"


def literals(tree) -> list[str]:
    if isinstance(tree[0], Fraction):
        return [tree[1]]
    return [text for child in tree[1:] for text in literals(child)]


@fast(1800)
@given(top_trees, st.sampled_from(sorted(SPELLINGS)))
def test_expressions_evaluate_to_their_tree_value(tree, spelling):
    expected = value_of(tree)
    result = evaluate(render(tree, spelling, [" "]))
    if expected is None:
        assert result.status == "div0"
    else:
        assert result.status == "ok" and result.value == expected


spaces = st.lists(st.sampled_from(["", " ", "  ", "\t", " \u00a0"]), min_size=1, max_size=4)


@fast(1500)
@given(top_trees, st.sampled_from(sorted(SPELLINGS)), st.integers(-3, 3), spaces, spaces,
       st.sampled_from(["", " ", "\n  ", "\t"]), st.sampled_from(["stickers.", ".", "in all."]))
def test_verdict_agrees_with_truth_and_ignores_spacing(tree, spelling, error, pad_a, pad_b,
                                                       edge, tail):
    value = value_of(tree)
    written = "7" if value is None else format_number(value + error)
    question = "The numbers are " + ", ".join(literals(tree)) + "."
    problem = Problem("p", question, "")
    step = f"So the total is {render(tree, spelling, list(pad_a))} = {written} {tail}"
    spaced = (edge + f"So the total is {render(tree, spelling, list(pad_b))}{pad_b[0]}="
              f"{pad_b[-1]}{written} {tail}" + edge)
    verdict, again = judge_step(problem, [], step), judge_step(problem, [], spaced)
    assert (verdict.label, verdict.reason) == (again.label, again.reason), (step, spaced)
    truth = ("correct", "ok") if value is not None and error == 0 else ("incorrect", "arithmetic")
    assert (verdict.label, verdict.reason) == truth, (step, verdict)


# --- hostile inputs -----------------------------------------------------------------------

@fast(2500)
@given(st.text(max_size=300))
def test_random_unicode_never_raises(text):
    assert valid(judge_step(PROBLEM, [text], text, reference=[text]))
    result = evaluate(text)
    assert result.status in STATUSES
    assert result.status != "ok" or result.value.numerator.bit_length() <= MAX_BITS
    number = parse_number(text)
    assert number is None or isinstance(number, Fraction)


@fast(200)
@given(st.one_of(st.integers(0, 2 * MAX_DEPTH), st.integers(0, 12_000)),
       st.sampled_from(["()", "[]", "{}"]), st.booleans())
def test_deep_nesting_is_bounded(depth, brackets, equation):
    text = brackets[0] * depth + "1" + brackets[1] * depth
    result = evaluate(text)
    assert result.status == ("ok" if depth <= MAX_DEPTH else "bounds")
    verdict = judge_step(PROBLEM, [], text + (" = 1" if equation else ""))
    assert valid(verdict) and verdict.label != "incorrect"


@fast(700)
@given(st.integers(10 ** 20, 10 ** 300), st.sampled_from(["", "-", "$"]))
def test_giant_literals_are_refused_not_computed(n, sign):
    text = f"{sign}{n}"
    digits = len(str(n))
    for result in (evaluate(text + " + 1"), evaluate(text)):
        assert result.status == ("ok" if digits <= MAX_DIGITS else "bounds")
    assert (parse_number(text) is None) == (digits > MAX_DIGITS)
    assert valid(judge_step(PROBLEM, [], f"So {text} * {text} = 1."))


@fast(800)
@given(st.lists(st.integers(0, 12), min_size=2, max_size=6), st.sampled_from(["^", "**"]))
def test_exponent_towers(parts, op):
    text = op.join(str(p) for p in parts)
    result = evaluate(text)
    expected, too_big = parts[-1], False
    for base in reversed(parts[:-1]):  # right-associative; any step over MAX_BITS is refused
        if base > 1 and expected * (base.bit_length() - 1) > MAX_BITS:
            too_big = True  # at least that many bits: never computed
            break
        expected = base ** expected
        too_big = expected.bit_length() + 1 > MAX_BITS
        if too_big:
            break
    assert result.status == ("bounds" if too_big else "ok"), text
    assert too_big or result.value == expected
    assert valid(judge_step(PROBLEM, [], f"So {text} = 5."))


@fast(800)
@given(st.integers(0, 10 ** 12), st.lists(st.sampled_from([",", ", ", " ", "{,}", "\\,", ".",
                                                            "'", "_"]), max_size=4),
       st.integers(0, 5))
def test_mixed_separators(n, separators, position):
    digits = str(n)
    text = digits
    for sep in separators:
        cut = min(position, len(text))
        text = text[:cut] + sep + text[cut:]
    canonical = f"{n:,}"
    assert parse_number(canonical) == n and evaluate(canonical).value == n
    number = parse_number(text)
    assert number is None or isinstance(number, Fraction)
    assert evaluate(text).status in STATUSES
    assert valid(judge_step(PROBLEM, [], f"She has {text} + 1 = {n + 1} stickers."))


@fast(500)
@given(st.sampled_from(INJECTIONS), st.text(max_size=40), st.sampled_from(["", " = 5", " + 1"]))
def test_injection_strings(injection, noise, tail):
    step = noise + injection + tail
    verdict = judge_step(PROBLEM, [injection], step, reference=[injection])
    assert valid(verdict)
    result = evaluate(injection)  # plain arithmetic in braces ("${7*7}") is just arithmetic
    assert result.status != "ok" or result.value == 49
    if injection in CODE and not noise and not tail:
        assert (verdict.label, verdict.reason) == ("unknown", "unparseable")


steps = st.one_of(
    st.sampled_from(["She buys 15 more, so 23 + 15 = 38.", "So 38 - 7 = 31.",
                     "So 38 - 7 = 32.", "The answer is 31.", "The answer is 30.", "",
                     "Let x = 3.", "So 2x = 6.", "1/0"]),
    st.text(max_size=60))


@fast(400)
@given(st.lists(steps, max_size=8), st.booleans())
def test_first_error_is_the_first_incorrect_label(solution, with_reference):
    reference = None
    if with_reference:
        reference = ["She buys 15 more, so 23 + 15 = 38.", "So 38 - 7 = 31."]
    verdicts = label_steps(PROBLEM, solution, reference=reference)
    assert len(verdicts) == len(solution) and all(valid(v) for v in verdicts)
    expected = next((i for i, v in enumerate(verdicts) if v.label == "incorrect"), -1)
    assert first_error(PROBLEM, solution, reference=reference) == expected


@fast(1000)
@given(st.fractions(min_value=-10 ** 9, max_value=10 ** 9, max_denominator=1)
       | st.decimals(min_value=-10 ** 6, max_value=10 ** 6, places=3).map(Fraction),
       st.sampled_from(["plain", "commas", "dollar", "percent"]))
def test_parse_number_reads_what_format_number_writes(value, style):
    text = format_number(value)
    if style == "commas" and value.denominator == 1:
        text = f"{value.numerator:,}"
    elif style == "dollar" and value >= 0:
        text = "$" + text
    elif style == "percent":
        assert parse_number(text + "%") == value / 100
    assert parse_number(text) == value
    assert parse_number(text.replace("0", "\u0660")) in (None, value)  # Arabic-Indic zero
    if "0" in text:
        assert parse_number(text.replace("0", "\u0660")) is None
