"""Rule perturbations: what each rule changes, determinism, carrying on synthetic chains, and
what the oracle says about the result."""

from __future__ import annotations

import random
import re
from fractions import Fraction

import pytest

from aprm.data import generate_split
from aprm.oracle import evaluate, first_error, label_steps
from aprm.perturb import (PERTURBATIONS, carry_error, dropped_step, number_change, operand_swap,
                          operator_swap, perturb_solution)
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
STEPS = list(AVA.reference_steps)
EQ = re.compile(r"so (\d+) ([-+*/]) (\d+) = (-?\d+)\.$")


def parts(step: str) -> tuple[int, str, int, int]:
    match = EQ.search(step)
    assert match, step
    return int(match.group(1)), match.group(2), int(match.group(3)), int(match.group(4))


def holds(step: str) -> bool:
    a, op, b, c = parts(step)
    return evaluate(f"{a} {op} {b}").value == c


@pytest.mark.parametrize("seed", range(20))
def test_number_change_moves_one_operand_and_recomputes(seed):
    new = number_change(STEPS[0], random.Random(seed))
    a, op, b, c = parts(new)
    assert op == "+" and holds(new) and new.startswith("She buys 15 more, so ")
    assert (a == 23) != (b == 15) and 0 < abs((a - 23) + (b - 15)) <= 9


@pytest.mark.parametrize("seed", range(20))
def test_operator_swap_changes_the_operator_and_recomputes(seed):
    new = operator_swap(STEPS[1], random.Random(seed))
    a, op, b, c = parts(new)
    assert (a, b) == (38, 7) and op != "-" and holds(new) and c != 31


def test_operand_swap_and_carry_error():
    assert operand_swap(STEPS[0], random.Random(0)) == "She buys 15 more, so 15 + 23 = 38."
    assert operand_swap(STEPS[1], random.Random(0)) == "She gives away 7, so 7 - 38 = -31."
    seen = {parts(carry_error(STEPS[0], random.Random(seed)))[3] for seed in range(40)}
    assert seen == {28, 48, 37, 39}  # 38 with its tens or units digit moved by one


def test_rules_do_not_apply_without_an_equation():
    for rule in (number_change, operator_swap, operand_swap, carry_error):
        assert rule("The answer is 31.", random.Random(0)) is None
        assert rule("Let's think step by step.", random.Random(0)) is None
    assert dropped_step(["She buys 15 more, so 23 + 15 = 38."], random.Random(0)) is None


def test_dropped_step_leaves_a_later_step_using_an_unproduced_value():
    new_steps, index = dropped_step(STEPS, random.Random(0), AVA.question)
    assert new_steps == STEPS[1:] and index == 0
    # a value the question already gives is not "unproduced": nothing to drop there
    given = Problem("g", "Ava has 23 stickers and 38 marbles.", "31")
    assert dropped_step(STEPS, random.Random(0), given.question) is None


def test_gsm8k_annotation_is_rewritten_with_the_text():
    step = "Natalia sold 48/2 = <<48/2=24>>24 clips in May."
    assert operator_swap(step, random.Random(0)) in {
        "Natalia sold 48*2 = <<48*2=96>>96 clips in May.",
        "Natalia sold 48+2 = <<48+2=50>>50 clips in May.",
        "Natalia sold 48-2 = <<48-2=46>>46 clips in May."}
    changed = carry_error(step, random.Random(1))
    result = re.search(r"<<48/2=(\d+)>>(\d+) clips", changed)
    assert result and result.group(1) == result.group(2) != "24"


def test_perturb_solution_is_deterministic_and_validates_kind():
    problems = generate_split("test-id", 5, 0)
    for kind in PERTURBATIONS:
        for problem in problems:
            steps = list(problem.reference_steps)
            assert perturb_solution(problem, steps, kind, random.Random(7)) == \
                perturb_solution(problem, steps, kind, random.Random(7))
    with pytest.raises(ValueError, match="unknown perturbation"):
        perturb_solution(AVA, STEPS, "typo", random.Random(0))


def test_synthetic_perturbation_carries_the_new_value_forward():
    new_steps, index = perturb_solution(AVA, STEPS, "carry_error", random.Random(3))
    assert new_steps[:index] == STEPS[:index]
    if index == 0:
        wrong = parts(new_steps[0])[3]
        a, op, b, c = parts(new_steps[1])
        assert (a, op, b) == (wrong, "-", 7) and c == wrong - 7 and holds(new_steps[1])
        assert new_steps[2] == f"The answer is {c}."
    assert first_error(AVA, new_steps) == index
    assert label_steps(AVA, new_steps)[index].reason == "arithmetic"


@pytest.mark.parametrize("split", ["test-id", "test-long", "test-big", "test-div"])
def test_oracle_agrees_on_rule_perturbations_of_synthetic_problems(split):
    """carry_error is always an arithmetic error at the corrupted step; a commutative operand
    swap is never an error; with the reference, an operator swap is caught where it happens."""
    rng = random.Random(11)
    for problem in generate_split(split, 15, 1):
        steps, reference = list(problem.reference_steps), list(problem.reference_steps)
        new_steps, index = perturb_solution(problem, steps, "carry_error", rng)
        assert first_error(problem, new_steps) == index
        result = perturb_solution(problem, steps, "operand_swap", rng)
        if result is not None:
            swapped, at = result
            _, op, _, _ = parts(swapped[at])
            expected = -1 if op in "+*" else at
            assert first_error(problem, swapped, reference) == expected, swapped
        swapped, at = perturb_solution(problem, steps, "operator_swap", rng)
        assert first_error(problem, swapped, reference) in (at, -1)
        assert all(holds(s) for s in swapped[at:-1] if EQ.search(s))


def test_carried_values_stay_exact_integers():
    for problem in generate_split("test-div", 20, 2):
        for kind in ("number_change", "operator_swap", "carry_error"):
            result = perturb_solution(problem, list(problem.reference_steps), kind,
                                      random.Random(5))
            assert result is not None
            for step in result[0]:
                for number in re.findall(r"-?\d+(?:\.\d+)?", step):
                    assert Fraction(number).denominator == 1, (kind, step)
