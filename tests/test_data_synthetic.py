"""The synthetic domain: determinism, sizes, disjoint splits, family ranges, the step contract."""

from __future__ import annotations

import json
import re

import pytest

from aprm.data import FAMILIES, SPLIT_BUCKETS, Splits, build_splits, generate_split
from aprm.data.templates import SET_A, SET_B

STEP_RE = re.compile(r"^(?P<clause>[^=\n]+), so (?P<a>\d+) (?P<op>[-+*/]) (?P<b>\d+) = (?P<c>\d+)\.$")
ANSWER_RE = re.compile(r"^The answer is (?P<c>\d+)\.$")
# checked independently of the generator's own arithmetic
EXACT = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
         "/": lambda a, b: a // b if a % b == 0 else None}
ALL_FAMILIES = ["id", "long", "big", "unseen", "div"]
CFG = {"source": "synthetic", "train_size": 300, "val_size": 80, "test_size": 80,
       "suites": ALL_FAMILIES, "on_error": "raise", "paths": {}}


@pytest.fixture(scope="module")
def splits() -> Splits:
    return build_splits(CFG, seed=7)


def all_sets(s: Splits) -> dict[str, list]:
    return {"train": s.train, "val": s.val, **{f"suite:{k}": v for k, v in s.suites.items()}}


def chain_of(problem) -> tuple:
    return problem.meta["start"], tuple(tuple(op) for op in problem.meta["ops"])


def test_same_seed_same_splits_and_different_seed_differs(splits):
    again = build_splits(CFG, seed=7)
    assert again.to_dict() == splits.to_dict()
    other = build_splits(CFG, seed=8)
    assert [p.question for p in other.train] != [p.question for p in splits.train]
    assert {p.question for p in other.suites["long"]} != {p.question for p in splits.suites["long"]}


def test_sizes_and_prefix_and_independence_from_other_sizes(splits):
    assert len(splits.train) == 300 and len(splits.val) == 80
    assert {k: len(v) for k, v in splits.suites.items()} == {f: 80 for f in ALL_FAMILIES}
    small = build_splits(dict(CFG, train_size=20, val_size=80, test_size=10), seed=7)
    # a split depends only on (seed, split): other sizes change nothing, a smaller size is a prefix
    assert [p.to_dict() for p in small.val] == [p.to_dict() for p in splits.val]
    assert [p.to_dict() for p in small.train] == [p.to_dict() for p in splits.train[:20]]
    assert [p.to_dict() for p in small.suites["div"]] == [p.to_dict() for p in splits.suites["div"][:10]]
    assert generate_split("train", 0, seed=7) == []


def test_suite_sizes_set_a_suites_size_and_keep_its_first_problems(splits):
    sized = build_splits(dict(CFG, suite_sizes={"long": 12, "div": 80}), seed=7)
    assert {k: len(v) for k, v in sized.suites.items()} == {f: 12 if f == "long" else 80 for f in ALL_FAMILIES}
    assert [p.to_dict() for p in sized.suites["long"]] == [p.to_dict() for p in splits.suites["long"][:12]]
    assert [p.to_dict() for p in sized.suites["id"]] == [p.to_dict() for p in splits.suites["id"]]
    with pytest.raises(ValueError, match=r"data.suite_sizes: \['gsm8k'\] not in data.suites"):
        build_splits(dict(CFG, suite_sizes={"gsm8k": 5}), seed=7)
    with pytest.raises(ValueError, match=r"data.suite_sizes.long must be a non-negative integer, got 'ten'"):
        build_splits(dict(CFG, suite_sizes={"long": "ten"}), seed=7)


def test_no_problem_shared_between_any_two_splits(splits):
    sets = all_sets(splits)
    seen_questions: dict[str, str] = {}
    seen_chains: dict[tuple, str] = {}
    for name, problems in sets.items():
        for p in problems:
            assert seen_questions.setdefault(p.question, name) == name, p.question
            assert seen_chains.setdefault(chain_of(p), name) == name, chain_of(p)
            assert len({q.id for q in problems}) == len(problems)
    # within a split no repeats either
    for name, problems in sets.items():
        assert len({p.question for p in problems}) == len(problems), name
        assert len({chain_of(p) for p in problems}) == len(problems), name


def test_train_of_one_seed_never_meets_tests_of_another():
    train = generate_split("train", 400, seed=1)
    tests = [p for split in SPLIT_BUCKETS if split.startswith("test-")
             for p in generate_split(split, 60, seed=2)]
    assert not {chain_of(p) for p in train} & {chain_of(p) for p in tests}


@pytest.mark.parametrize("family", ALL_FAMILIES)
def test_family_obeys_its_ranges_and_op_counts(splits, family):
    spec = FAMILIES[family]
    problems = splits.suites[family]
    if family == "id":
        problems = problems + splits.train + splits.val
    op_counts = set()
    for p in problems:
        meta = p.meta
        assert meta["family"] == family and meta["template"] == spec.template_set
        ops = meta["ops"]
        op_counts.add(len(ops))
        assert spec.op_count[0] <= len(ops) <= spec.op_count[1]
        assert spec.start[0] <= meta["start"] <= spec.start[1]
        for op, operand in ops:
            assert op in spec.ops
            bounds = spec.addend if op in "+-" else spec.factor if op == "*" else spec.divisor
            assert bounds[0] <= operand <= bounds[1], (op, operand)
        assert all(isinstance(v, int) and 1 <= v <= spec.value_cap for v in meta["values"])
        if family == "div":
            assert any(op == "/" for op, _ in ops)
        else:
            assert all(op != "/" for op, _ in ops)
    assert op_counts == set(range(spec.op_count[0], spec.op_count[1] + 1))


def test_expected_value_caps():
    assert FAMILIES["id"].value_cap == 999 and FAMILIES["big"].start == (100, 9999)
    assert FAMILIES["long"].op_count == (5, 8) and FAMILIES["id"].op_count == (2, 4)


def test_steps_follow_the_contract_and_every_equation_is_right(splits):
    for problems in all_sets(splits).values():
        for p in problems:
            values, ops = p.meta["values"], p.meta["ops"]
            assert len(p.reference_steps) == len(ops) + 1
            for k, step in enumerate(p.reference_steps[:-1]):
                assert step.count("=") == 1 and "\n" not in step
                m = STEP_RE.match(step)
                assert m, step
                a, b, c = int(m["a"]), int(m["b"]), int(m["c"])
                assert EXACT[m["op"]](a, b) == c, step
                assert [m["op"], b] == ops[k] and a == values[k] and c == values[k + 1]
            last = ANSWER_RE.match(p.reference_steps[-1])
            assert last and last["c"] == p.answer == str(values[-1])
            assert p.meta["start"] == values[0]


def test_question_states_every_number_and_uses_its_template_set(splits):
    a_nouns = {plural for _, plural in SET_A.objects}
    b_nouns = {plural for _, plural in SET_B.objects}
    for family, problems in splits.suites.items():
        nouns, other = (b_nouns, a_nouns) if family == "unseen" else (a_nouns, b_nouns)
        for p in problems:
            numbers = [int(x) for x in re.findall(r"\d+", p.question)]
            assert numbers == [p.meta["start"]] + [operand for _, operand in p.meta["ops"]]
            assert p.question.endswith("?") and p.question.isascii()
            assert any(f" {noun}" in p.question for noun in nouns)
            assert not any(re.search(rf"\b{noun}\b", p.question) for noun in other), p.question


def test_unseen_wording_is_held_out(splits):
    a_step_starts = {t.step.split("{n}")[0] for ts in SET_A.ops.values() for t in ts}
    b_step_starts = {t.step.split("{n}")[0] for ts in SET_B.ops.values() for t in ts}
    assert not a_step_starts & b_step_starts
    assert not set(SET_A.intros) & set(SET_B.intros)
    assert not set(SET_A.questions) & set(SET_B.questions)
    assert all(len(SET_A.ops[op]) >= 6 for op in "+-*/")
    assert all(len(SET_B.ops[op]) >= 4 for op in "+-*")


def test_splits_round_trip_through_json(splits):
    again = Splits.from_dict(json.loads(json.dumps(splits.to_dict())))
    assert again == splits


def test_bad_config_is_rejected_with_the_key_named():
    with pytest.raises(ValueError, match="data.source"):
        build_splits(dict(CFG, source="mnist"), seed=0)
    with pytest.raises(ValueError, match="unknown suite 'huge'"):
        build_splits(dict(CFG, suites=["huge"]), seed=0)
    with pytest.raises(ValueError, match="data.train_size"):
        build_splits(dict(CFG, train_size=-1), seed=0)
    with pytest.raises(ValueError, match="data.test_size"):
        build_splits(dict(CFG, test_size=None), seed=0)
    with pytest.raises(ValueError, match="on_error"):
        build_splits(dict(CFG, on_error="ignore"), seed=0)
    with pytest.raises(ValueError, match="unknown synthetic split"):
        generate_split("test-hard", 5, seed=0)


def test_suite_seed_pins_test_suites_across_run_seeds():
    cfg = dict(CFG, train_size=5, val_size=5, test_size=20, suites=["id", "big"], suite_seed=0)
    first, second = build_splits(cfg, seed=1), build_splits(cfg, seed=2)
    assert first.suites == second.suites
    assert first.train != second.train


def test_family_overrides_change_train_val_and_the_named_suite_only():
    easy = {"id": {"op_count": [1, 2], "start": [1, 20], "addend": [1, 9], "factor": [2, 3], "value_cap": 60},
            "long": {"op_count": [5, 5]}}
    changed = build_splits(dict(CFG, families=easy), seed=7)
    plain = build_splits(CFG, seed=7)
    for problem in changed.train + changed.val + changed.suites["id"]:
        ops = problem.meta["ops"]
        assert 1 <= len(ops) <= 2 and 1 <= problem.meta["start"] <= 20
        assert all(1 <= n <= 9 if op in "+-" else 2 <= n <= 3 for op, n in ops)
        assert max(problem.meta["values"]) <= 60
    assert {len(p.meta["ops"]) for p in changed.suites["long"]} == {5}
    # families not overridden draw exactly the problems they draw without overrides
    for family in ("big", "unseen", "div"):
        assert [p.to_dict() for p in changed.suites[family]] == [p.to_dict() for p in plain.suites[family]]
    # an override that repeats the default spec changes nothing
    same = build_splits(dict(CFG, families={"id": {"op_count": [2, 4], "ops": ["+", "-", "*"]}}), seed=7)
    assert same.to_dict() == plain.to_dict()


@pytest.mark.parametrize("families, named", [
    ({"idd": {}}, "data.families.idd: unknown family"),
    ({"id": {"ops_count": [1, 2]}}, "data.families.id.ops_count: unknown field"),
    ({"id": {"op_count": [3, 2]}}, "data.families.id.op_count must be [low, high]"),
    ({"id": {"ops": ["+", "%"]}}, "data.families.id.ops must be a non-empty list"),
    ({"id": {"template_set": "C"}}, "data.families.id.template_set must be one of ['A', 'B']"),
    ({"id": {"value_cap": True}}, "data.families.id.value_cap must be an integer >= 2"),
    ({"div": {"ops": ["+", "-"]}}, "data.families.div: needs_division and min_divisions require '/'"),
    ({"id": {"start": [100, 200], "value_cap": 50}}, "data.families.id: start [100, 200] lies above value_cap 50"),
    ({"id": {"op_weights": [1, 1]}}, "data.families.id: op_weights has 2 weights for 3 ops"),
    ({"id": {"op_weights": [1, -1, 1]}}, "data.families.id.op_weights must be a list of finite weights >= 0"),
    ({"id": {"op_weights": [0, 0, 0]}}, "data.families.id.op_weights must be a list of finite weights >= 0"),
    ({"id": {"op_weights": [1, float("inf"), 1]}}, "data.families.id.op_weights must be a list of finite"),
    ({"div": {"min_divisions": 2, "max_divisions": 1}}, "data.families.div: max_divisions 1 is below the 2"),
    ({"div": {"min_divisions": 5}}, "data.families.div: min_divisions 5 exceeds the most operations"),
    ({"id": {"min_divisions": 1}}, "data.families.id: needs_division and min_divisions require '/'"),
    ({"id": {"wide_rate": 0.1}}, "data.families.id: wide_rate need(s) wide_addend"),
    ({"big": {"min_wide": 1, "max_wide": 2}}, "data.families.big: min_wide, max_wide need(s) wide_addend"),
    ({"id": {"wide_addend": [100, 999], "wide_rate": 1.5}}, "data.families.id.wide_rate must be a probability"),
    ({"id": {"wide_addend": [0, 999]}}, "data.families.id.wide_addend must be [low, high]"),
    ({"id": {"wide_addend": [100, 999], "min_wide": 2, "max_wide": 1}}, "data.families.id: max_wide 1 is below the 2"),
    ({"id": {"wide_addend": [100, 999], "min_wide": 5}}, "data.families.id: min_wide 5 exceeds the most operations"),
    ({"id": {"wide_addend": [100, 999], "min_wide": 1, "ops": ["*"]}}, "data.families.id: min_wide requires '+' or '-'"),
    ({"id": {"wide_addend": [100, 999], "max_wide": -1}}, "data.families.id.max_wide must be null or an integer >= 0"),
    ([1, 2], "data.families must be a mapping"),
])
def test_bad_family_override_names_the_key(families, named):
    with pytest.raises(ValueError) as err:
        build_splits(dict(CFG, families=families), seed=7)
    assert named in str(err.value)


def test_bad_family_override_fails_config_validation_before_any_stage():
    from flows.config import ConfigError, compose_config

    with pytest.raises(ConfigError, match=r"data.families.id.op_count must be \[low, high\]"):
        compose_config(["data.families={id: {op_count: [0, 2]}}"])


def _step_pattern(template_set) -> re.Pattern:
    """Any step clause the set's op templates can render (placeholders as wildcards)."""
    clauses = [re.escape(t.step) for templates in template_set.ops.values() for t in templates]
    return re.compile("^(" + "|".join(re.sub(r"\\\{\w+\\\}", ".+?", c) for c in clauses) + "), so ")


def test_held_out_ops_words_that_many_sentences_with_the_other_set():
    families = {"unseen": {"template_set": "A", "held_out_ops": 1, "op_count": [2, 2]}}
    mixed = build_splits(dict(CFG, families=families), seed=7).suites["unseen"]
    a_steps, b_steps = _step_pattern(SET_A), _step_pattern(SET_B)
    for problem in mixed:
        held = problem.meta["template_choices"]["held_out_ops"]
        assert len(held) == 1 and problem.meta["template"] == "A"
        for index, step in enumerate(problem.reference_steps[:-1]):
            assert bool(b_steps.match(step)) == (index in held), (index, step)
            assert bool(a_steps.match(step)) == (index not in held), (index, step)
    with pytest.raises(ValueError, match="data.families.unseen: held_out_ops 3 exceeds the fewest operations"):
        build_splits(dict(CFG, families={"unseen": {"held_out_ops": 3}}), seed=7)


def test_distractors_add_sentences_about_another_character_that_no_step_reads():
    families = {"long": {"op_count": [2, 2], "distractors": 2}}
    plain = build_splits(CFG, seed=7)
    shifted = build_splits(dict(CFG, families=families), seed=7)
    # the other families' problems do not move
    assert shifted.suites["id"] == plain.suites["id"] and shifted.train == plain.train
    pronoun = {name: p for name, p in SET_A.characters}
    for problem in shifted.suites["long"]:
        choices = problem.meta["template_choices"]
        added = choices["distractors"]
        assert len(added) == 2
        sentences = re.split(r"(?<=[.?]) ", problem.question)
        assert len(sentences) == 1 + 2 + 2 + 1  # intro, 2 operations, 2 distractors, question
        for d in added:
            assert pronoun[d["name"]] != pronoun[choices["name"]] and 1 <= d["n"] <= 99
            assert re.search(rf"\b{d['name']}\b[^.]*\b{d['n']}\b", problem.question)
            assert not any(d["name"] in step for step in problem.reference_steps)
        assert sentences[0].count(choices["name"]) == 1 and len(problem.reference_steps) == 3
    for bad in (-1, 9, True):
        with pytest.raises(ValueError, match="data.families.long.distractors must be"):
            build_splits(dict(CFG, families={"long": {"distractors": bad}}), seed=7)


def test_divisor_range_is_its_own_so_a_suite_can_divide_by_numbers_id_never_does():
    families = {"id": {"ops": ["+", "-", "*", "/"], "divisor": [2, 3]}, "div": {"divisor": [6, 9]}}
    shifted = build_splits(dict(CFG, families=families), seed=7)
    for problems, (low, high) in ((shifted.train + shifted.suites["id"], (2, 3)), (shifted.suites["div"], (6, 9))):
        divisors = [n for p in problems for op, n in p.meta["ops"] if op == "/"]
        multipliers = [n for p in problems for op, n in p.meta["ops"] if op == "*"]
        assert divisors and all(low <= n <= high for n in divisors)
        # the multipliers keep the factor range, 2..9, beyond the divisors on either side
        assert multipliers and min(multipliers) == 2 and max(multipliers) == 9
    assert all(any(op == "/" for op, _ in p.meta["ops"]) for p in shifted.suites["div"])
    with pytest.raises(ValueError, match=r"data.families.div.divisor must be \[low, high\]"):
        build_splits(dict(CFG, families={"div": {"divisor": [0, 3]}}), seed=7)


def test_distractors_after_keeps_the_first_operation_sentences_before_every_distractor():
    anywhere = build_splits(dict(CFG, families={"long": {"op_count": [3, 3], "distractors": 2}}), seed=7)
    later = build_splits(dict(CFG, families={"long": {"op_count": [3, 3], "distractors": 2,
                                                      "distractors_after": 2}}), seed=7)
    assert min(d["position"] for p in anywhere.suites["long"]
               for d in p.meta["template_choices"]["distractors"]) == 1
    for problem in later.suites["long"]:
        names = [d["name"] for d in problem.meta["template_choices"]["distractors"]]
        sentences = re.split(r"(?<=[.?]) ", problem.question)
        # the intro and two operation sentences come first, then the distractors may come
        assert all(3 <= d["position"] for d in problem.meta["template_choices"]["distractors"])
        assert not any(name in sentence for name in names for sentence in sentences[:3])
        assert sum(any(name in sentence for name in names) for sentence in sentences[3:]) == 2
    with pytest.raises(ValueError, match="data.families.long: distractors_after 3 exceeds the fewest"):
        build_splits(dict(CFG, families={"long": {"op_count": [2, 4], "distractors": 1,
                                                  "distractors_after": 3}}), seed=7)


def test_op_weights_and_a_division_cap_make_division_rare_in_id_and_common_in_a_suite():
    families = {"id": {"ops": ["+", "-", "*", "/"], "op_weights": [1, 1, 1, 0.1], "max_divisions": 1},
                "div": {"min_divisions": 2}}
    shifted = build_splits(dict(CFG, train_size=2000, families=families), seed=7)

    def divisions(problem):
        return sum(op == "/" for op, _ in problem.meta["ops"])

    counts = [divisions(p) for p in shifted.train]
    # weight 0.1 against 1 for each other op: about 8% of problems divide once (5,000 draws: 8.4%)
    assert max(counts) == 1 and 0.05 < sum(counts) / len(counts) < 0.12
    assert all(divisions(p) >= 2 for p in shifted.suites["div"])
    # weight 0 never draws an op
    no_product = build_splits(dict(CFG, families={"id": {"op_weights": [1, 1, 0]}}), seed=7)
    assert not any(op == "*" for p in no_product.train for op, _ in p.meta["ops"])


def test_wide_operands_are_rare_in_id_and_required_in_big():
    families = {"id": {"wide_addend": [100, 999], "wide_rate": 0.15, "max_wide": 1},
                "big": {"start": [1, 99], "addend": [100, 999], "value_cap": 999,
                        "wide_addend": [100, 999], "min_wide": 2}}
    shifted = build_splits(dict(CFG, train_size=2000, families=families), seed=7)

    def wide(problem):
        return sum(op in "+-" and operand >= 100 for op, operand in problem.meta["ops"])

    counts = [wide(p) for p in shifted.train]
    # rate 0.15 per +/- step, at most one a problem: 18.2% of 3,000 draws have one
    assert max(counts) == 1 and 0.14 < sum(counts) / len(counts) < 0.23
    assert all(p.meta["values"][-1] <= 999 for p in shifted.train)
    assert all(wide(p) >= 2 and max(p.meta["values"]) <= 999 for p in shifted.suites["big"])
    # no wide draw (rate 0, the default): the same problems as without the fields
    inert = build_splits(dict(CFG, families={"id": {"wide_addend": [100, 999]}}), seed=7)
    assert inert.to_dict() == build_splits(CFG, seed=7).to_dict()
