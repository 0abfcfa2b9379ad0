"""The symbolic step oracle: safe arithmetic, equation checks, grounding, progress, answers, and
adversarial inputs that must come back as a Verdict (never an exception)."""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import pytest

from aprm.oracle import MAX_STEP_CHARS, Verdict, evaluate, first_error, judge_step, label_steps
from aprm.oracle.arith import MAX_BITS
from aprm.schema import Problem

AVA = Problem(
    id="synthetic-ava",
    question="Ava has 23 stickers. She buys 15 more stickers. Then she gives away 7 stickers. "
             "How many stickers does Ava have now?",
    answer="31",
    reference_steps=("She buys 15 more, so 23 + 15 = 38.", "She gives away 7, so 38 - 7 = 31.",
                     "The answer is 31."),
    meta={"family": "id", "start": 23, "ops": [["+", 15], ["-", 7]], "values": [23, 38, 31]},
)
REF = list(AVA.reference_steps)
NATALIA = Problem(
    id="gsm8k-train-1",
    question="Natalia sold clips to 48 of her friends in April, and then she sold half as many "
             "clips in May. How many clips did Natalia sell altogether in April and May?",
    answer="72",
    reference_steps=("Natalia sold 48/2 = <<48/2=24>>24 clips in May.",
                     "Natalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May."),
)
WENG = Problem(id="gsm8k-train-2", answer="10",
               question="Weng earns $12 an hour for babysitting. Yesterday, she just did 50 "
                        "minutes of babysitting. How much did she earn?")


def judge(step: str, problem: Problem = AVA, prefix=(), reference=None) -> tuple[str, str]:
    verdict = judge_step(problem, list(prefix), step, reference=reference)
    return verdict.label, verdict.reason


# --- the arithmetic evaluator -------------------------------------------------------------

@pytest.mark.parametrize("text, value", [
    ("3 + 4 * 2", 11), ("(3 + 4) * 2", 14), ("2 ^ 3 ^ 2", 512), ("2**10", 1024),
    ("-2^2", -4), ("- - 5", 5), ("10 - 2 - 3", 5), ("12 / 4 / 3", 1), ("1,234.5 + 0.5", 1235),
    (".25 * 8", 2), ("20% * 50", 10), ("$3.5 * 4000", 14000), ("0.2 x 50", 10), ("3x4", 12),
    ("6 × 7", 42), ("84 ÷ 7", 12), ("5 − 3", 2), (r"3 \times (4 + 1)", 15), (r"4 \cdot 5", 20),
    (r"18 \div 3", 6), (r"\frac{3}{4} \times 8", 6), (r"\dfrac{1}{2} + \frac{1}{4}", "3/4"),
    (r"2\frac{1}{2} * 2", 5), ("3 1/2 * 2", 7), ("2(3 + 4)", 14), ("14{,}000 / 7", 2000),
    (r"\left( 2 + 3 \right) \times 4", 20), ("2^-1", "1/2"), ("17 000 / 5", 3400),
])
def test_evaluate_exact_values(text, value):
    result = evaluate(text)
    assert result.status == "ok", result
    assert result.value == Fraction(value)


@pytest.mark.parametrize("text, status", [
    ("1/0", "div0"), ("5 / (3 - 3)", "div0"), (r"\frac{1}{0}", "div0"), ("0^-1", "div0"),
    ("9**9**9**9", "bounds"), ("10^100000", "bounds"), ("2^5000", "bounds"),
    ("(" * 10_000 + "1" + ")" * 10_000, "bounds"), ("(" * 60 + "1" + ")" * 60, "bounds"),
    ("1" * 41 + " + 1", "bounds"), ("-" * 100 + "1", "bounds"),
    ("__import__('os').system('x')", "invalid"), ("٣ + ٤", "invalid"), ("3 + ٤", "invalid"),
    ("2 (3 + 4)", "invalid"), ("4^(1/2)", "invalid"), ("3 +", "invalid"), ("", "invalid"),
    ("x + 1", "invalid"), ("1e5", "invalid"), ("(1 + 2", "invalid"),
])
def test_evaluate_failures_are_statuses(text, status):
    assert evaluate(text).status == status


def test_evaluate_bounds_every_intermediate_value():
    ok = evaluate("2^4000")  # 4001 bits: within MAX_BITS
    assert ok.status == "ok" and ok.value == 2 ** 4000
    assert evaluate("2^4000 * 2^4000").status == "bounds"
    assert 4000 < MAX_BITS < 8001


def test_percent_reads_both_ways():
    assert evaluate("25%", percent="divide").value == Fraction(1, 4)
    assert evaluate("25%", percent="ignore").value == 25


# --- arithmetic rule ----------------------------------------------------------------------

def test_synthetic_step_correct_and_wrong_arithmetic():
    assert judge("She buys 15 more, so 23 + 15 = 38.") == ("correct", "ok")
    assert judge("She buys 15 more, so 23 + 15 = 39.") == ("incorrect", "arithmetic")
    assert judge("She buys 15 more, so 23 + 15 = 28.") == ("incorrect", "arithmetic")


def test_chains_are_checked_link_by_link():
    assert judge("So 23 + 15 = 38 = 38.") == ("correct", "ok")
    assert judge("So 23 + 15 = 38 = 39.") == ("incorrect", "arithmetic")
    assert judge("Running total: 23 + 15 = 38 - 7 = 31.") == ("correct", "ok")


def test_gsm8k_annotations_are_checked_exactly():
    prefix = [NATALIA.reference_steps[0]]
    assert judge(NATALIA.reference_steps[0], NATALIA) == ("correct", "ok")
    assert judge(NATALIA.reference_steps[1], NATALIA, prefix) == ("correct", "ok")
    assert judge("Natalia sold 48/2 = <<48/2=25>>25 clips.", NATALIA) == ("incorrect", "arithmetic")
    # the visible text is right, the calculator annotation is not
    assert judge("Natalia sold 48/2 = <<48/2=23>>24 clips.", NATALIA) == ("incorrect", "arithmetic")


def test_rounded_decimals_within_their_last_place():
    assert judge("Each share is 2/3 = 0.67 of a cookie.") == ("correct", "ok")
    assert judge("Each share is 2/3 = 0.66 of a cookie.") == ("correct", "ok")  # truncated
    assert judge("Each share is 2/3 = 0.7 of a cookie.") == ("correct", "ok")
    assert judge("Each share is 2/3 = 0.6 of a cookie.") == ("correct", "ok")  # truncated
    assert judge("Each share is 2/3 = 0.5 of a cookie.") == ("incorrect", "arithmetic")
    assert judge("Each share is 2/3 = 0.8 of a cookie.") == ("incorrect", "arithmetic")
    assert judge("Each share is 2/3 = 0.68 of a cookie.") == ("incorrect", "arithmetic")
    assert judge("Each share is 2/3 = 1 cookie.") == ("incorrect", "arithmetic")
    assert judge("Each of 3 friends gets 23/3 = 7 whole stickers.") == ("correct", "ok")
    assert judge("Each of 3 friends gets 23/3 = 7 stickers.") == ("incorrect", "arithmetic")
    assert judge("Each share is 2/3 ≈ 0.7 of a cookie.") == ("correct", "ok")


def test_percent_units_money_and_latex_forms():
    weng = [("Weng earns 12/60 = $<<12/60=0.2>>0.2 per minute.", ()),
            ("Working 50 minutes, she earned 0.2 x 50 = $<<0.2*50=10>>10.",
             ("Weng earns 12/60 = $0.2 per minute.",)),
            (r"She earns \(\frac{12}{60} \times 50 = 10\) dollars.", ()),
            (r"She earns $12 \cdot 50 / 60 = $10.", ()),
            ("In percent, 50/60*100 = 83.33%.", ()),
            ("12 dollars * 50 minutes / 60 minutes = 10 dollars", ())]
    for step, prefix in weng:
        assert judge(step, WENG, prefix) == ("correct", "ok"), step
    assert judge("She earned 0.2 x 50 = $11.", WENG, ("She earns 0.2 per minute.",)) == \
        ("incorrect", "arithmetic")


def test_phrases_and_unit_statements_are_not_equations():
    for step in ("Half of 18 = 9 stickers.", "2 weeks = 14 days.", "3 dozen = 36 eggs.",
                 "It took 8:00 - 6:00 = 2 hours.", "Let x = the number of stickers."):
        assert judge(step) == ("correct", "ok"), step


def test_division_by_zero_in_an_equation_is_wrong():
    assert judge("Each gets 12 / 0 = 3 stickers.") == ("incorrect", "arithmetic")


# --- grounding rule -----------------------------------------------------------------------

def test_grounding_catches_a_number_nobody_gave():
    label, reason = judge("She buys 16 more, so 23 + 16 = 39.")
    assert (label, reason) == ("incorrect", "grounding")
    detail = judge_step(AVA, [], "She buys 16 more, so 23 + 16 = 39.").detail
    assert detail.startswith("16 ")


def test_grounding_accepts_earlier_results_words_and_constants():
    assert judge("She gives away 7, so 38 - 7 = 31.", prefix=REF[:1]) == ("correct", "ok")
    assert judge("She gives away 7, so 38 - 7 = 31.") == ("incorrect", "grounding")  # 38 unproduced
    twice = Problem("t", "Ann has twelve apples and a dozen pears for two weeks.", "24")
    assert judge("She has 12 + 12 = 24 fruits, 24 * 14 = 336 over 14 days.", twice) == \
        ("correct", "ok")
    hours = Problem("h", "Tom works 3 hours a day for half a year.", "0")
    assert judge("That is 3 * 60 = 180 minutes a day.", hours) == ("correct", "ok")
    assert judge("Half a year is 365 / 2 = 182.5 days.", hours) == ("correct", "ok")


def test_grounding_exempts_rewrites_later_in_a_chain():
    assert judge("In all 23 + 15 - 7 = 38 - 7 = 31.") == ("correct", "ok")


# --- progress rule ------------------------------------------------------------------------

def test_operator_swap_is_caught_only_with_the_reference():
    swapped = "She buys 15 more, so 23 - 15 = 8."
    assert judge(swapped) == ("correct", "ok")  # true equation, given numbers
    assert judge(swapped, reference=REF) == ("incorrect", "progress")
    assert judge(swapped, reference=REF[0]) == ("incorrect", "progress")  # one step as a string


def test_commutative_operand_swap_is_correct_in_both_modes():
    swapped = "She buys 15 more, so 15 + 23 = 38."
    assert judge(swapped) == ("correct", "ok")
    assert judge(swapped, reference=REF) == ("correct", "ok")
    backwards = "She gives away 7, so 7 - 38 = -31."
    assert judge(backwards, prefix=REF[:1], reference=REF) == ("incorrect", "progress")


def test_first_step_is_aligned_only_when_it_keeps_the_reference_wording():
    # 23 + 7 uses given numbers and is true, but the reference's first step makes 38 of them
    assert judge("She buys 15 more, so 23 + 7 = 30.", reference=REF) == ("incorrect", "progress")
    assert judge("Together that is 23 + 7 = 30.", reference=REF) == ("unknown", "progress")
    # same numbers as a reference equation, another result: wrong whatever the wording
    assert judge("The difference is 23 - 15 = 8.", reference=REF) == ("incorrect", "progress")


def test_progress_misses_off_the_reference_route_are_unknown_not_wrong():
    other_route = "The net change is 15 - 7 = 8 stickers."  # valid, but not the reference's
    assert judge(other_route, prefix=["She keeps track of her stickers."], reference=REF) == \
        ("unknown", "progress")


# --- answer rule --------------------------------------------------------------------------

@pytest.mark.parametrize("step, expected", [
    ("The answer is 31.", ("correct", "ok")), ("The answer is 32.", ("incorrect", "answer")),
    ("#### 31", ("correct", "ok")), ("#### 30", ("incorrect", "answer")),
    (r"The answer is \(\boxed{31}\).", ("correct", "ok")),
    (r"So she has $\boxed{29}$ stickers.", ("incorrect", "answer")),
    ("The answer is $31.00.", ("correct", "ok")),
    (r"\boxed{2\sqrt{3}}", ("unknown", "unparseable")),
    ("The answer is to count them again.", ("correct", "ok")),
])
def test_final_answer_claims(step, expected):
    assert judge(step) == expected


def test_no_gold_answer_means_no_answer_check():
    unknown_gold = dataclasses.replace(AVA, answer="")
    assert judge("The answer is 32.", unknown_gold) == ("correct", "ok")


# --- policy, solution-level API -----------------------------------------------------------

def test_prose_without_claims_is_correct_and_variables_are_unknown():
    assert judge_step(AVA, [], "Let's think step by step.") == \
        Verdict("correct", "ok", "nothing checkable")
    assert judge("So 2x + 3 = 11.") == ("unknown", "unparseable")


def test_first_error_and_label_steps():
    assert first_error(AVA, REF) == -1
    wrong = [REF[0], "She gives away 7, so 38 - 7 = 32.", "The answer is 32."]
    assert first_error(AVA, wrong) == 1
    verdicts = label_steps(AVA, wrong)
    assert [v.label for v in verdicts] == ["correct", "incorrect", "incorrect"]
    assert [v.reason for v in verdicts] == ["ok", "arithmetic", "answer"]
    assert first_error(AVA, ["", REF[0], "So 2 + 2 = 5."]) == 2  # unknown steps do not count


def test_verdict_is_frozen():
    verdict = judge_step(AVA, [], REF[0])
    with pytest.raises(dataclasses.FrozenInstanceError):
        verdict.label = "incorrect"  # type: ignore[misc]


# --- adversarial strings ------------------------------------------------------------------

ADVERSARIAL = [
    ("__import__('os').system('x')", "unknown", "unparseable"),
    ("__import__('os').system('x') = 0", "unknown", "unparseable"),
    ("9**9**9**9", "unknown", "bounds"),
    ("So 9**9**9**9 = 5.", "unknown", "bounds"),
    ("10^100000", "unknown", "bounds"),
    ("10^100000 = 1", "unknown", "bounds"),
    ("(" * 10_000 + "1" + ")" * 10_000, "unknown", "bounds"),
    ("(" * 10_000 + "1" + ")" * 10_000 + " = 1", "unknown", "bounds"),
    ("1/0", "unknown", "unparseable"),
    ("1/0 = 5", "incorrect", "arithmetic"),
    ("", "unknown", "empty"),
    ("   \n\t ", "unknown", "empty"),
    ("٣ + ٤ = ٧", "unknown", "unparseable"),
    ("She has ٣٨ stickers.", "unknown", "unparseable"),
    ("3 + 4 = ٧", "unknown", "unparseable"),
    ("1" * 1_000_000, "unknown", "bounds"),
    ("So 2 + 2 = 5. " + "a" * 1_000_000, "incorrect", "arithmetic"),
    ("2 + 2 = 4 " * 200, "unknown", "bounds"),
    ("<<1+1=2>>" * 1000, "unknown", "bounds"),
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("step, label, reason", ADVERSARIAL,
                         ids=[f"adv{i}" for i in range(len(ADVERSARIAL))])
def test_adversarial_steps_return_verdicts(step, label, reason):
    verdict = judge_step(AVA, REF[:1], step, reference=REF)
    assert (verdict.label, verdict.reason) == (label, reason), verdict


@pytest.mark.timeout(60)
def test_huge_context_is_bounded():
    huge = Problem("big", "Ava has 23 stickers. " + "x" * 2_000_000, "31")
    prefix = ["She counts " + "1 + " * 50_000 + "1."] * 3
    verdict = judge_step(huge, prefix, "She buys 15 more, so 23 + 15 = 38.", reference=prefix)
    assert verdict.label in ("correct", "unknown", "incorrect")
    assert isinstance(judge_step(AVA, [], None), Verdict)  # type: ignore[arg-type]
    assert len(judge_step(AVA, [], "x" * (10 * MAX_STEP_CHARS)).detail) < 200
