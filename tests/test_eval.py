"""Evaluation metrics on hand-made cases whose every number is worked out in the comments."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from aprm.eval import (
    ResultsSchemaError, aggregate, build_results, build_run, dumps_results, evaluate_first_error,
    evaluate_selection, first_error_f1, load_problem_samples, load_results, n_values, pick_best,
    pick_majority, pick_weighted, predict_first_error, validate_results, write_results,
)
from aprm.eval.best_of_n import random_outcomes
from aprm.eval.samples import Sample, answer_key

NAN = float("nan")


def s(correct, answer, scores, valid=True, truncated=False):
    return {"correct": correct, "final_answer": answer, "step_scores": scores, "valid": valid,
            "truncated": truncated}


# Problem a: solution scores (last, min, prod, mean) per sample:
#   0 wrong "5" (.2, .2, .18, .55); 1 right "7" (.7, .6, .42, .65);
#   2 wrong "5" (.9, .8, .72, .85); 3 right "7" (.5, .5, .25, .5)
# Problem b: 0 invalid; 1 right "12" but a NaN step (unscorable); 2 wrong "10" and 3 right "12"
#   with identical scores (tie -> lowest index, sample 2).
# Problem c: one-step solutions; answers "1,000", "1000", "1000.0" are the same number.
HAND = [
    {"problem_id": "a", "samples": [s(False, "5", [0.9, 0.2]), s(True, "7", [0.6, 0.7]),
                                    s(False, "5", [0.8, 0.9]), s(True, "7", [0.5, 0.5])]},
    {"problem_id": "b", "samples": [s(False, None, [], valid=False), s(True, "12", [0.7, None]),
                                    s(False, "10", [0.6, 0.6]), s(True, "12", [0.6, 0.6])]},
    {"problem_id": "c", "samples": [s(True, "1,000", [0.3]),
                                    s(False, "999", [0.9], truncated=True),
                                    s(True, "1000", [0.4]), s(True, "1000.0", [0.35])]},
]


@pytest.fixture(scope="module")
def hand():
    return evaluate_selection(load_problem_samples(HAND), seed=3)


# ---------------------------------------------------------------- aggregation
def test_aggregations_by_hand():
    assert aggregate([0.9, 0.2], "last") == 0.2
    assert aggregate([0.9, 0.2], "min") == 0.2
    assert aggregate([0.9, 0.2], "mean") == pytest.approx(0.55)
    assert aggregate([0.5, 0.25], "prod") == pytest.approx(math.log(0.125))
    assert aggregate([0.5, 0.0], "prod") == -math.inf


def test_unusable_scores_are_minus_inf():
    for how in ("last", "min", "prod", "mean"):
        assert aggregate([], how) == -math.inf
        assert aggregate([0.9, NAN], how) == -math.inf
    with pytest.raises(ValueError, match="unknown|must be one of"):
        aggregate([0.5], "max")
    with pytest.raises(ValueError, match=r"step_scores\[1\]"):
        aggregate([0.5, 1.5], "min")


def test_prod_in_log_space_keeps_order_where_the_product_underflows():
    long_good = [0.5] * 2000
    long_worse = [0.5] * 1999 + [0.4]
    assert math.prod(long_good) == 0.0 == math.prod(long_worse)  # linear product: a tie
    samples = [Sample(True, "1", tuple(long_worse)), Sample(True, "1", tuple(long_good))]
    assert pick_best(samples, "prod") == 1


# ---------------------------------------------------------------- best-of-n on the hand case
def test_n_values():
    assert n_values(1) == [1]
    assert n_values(4) == [1, 2, 4]
    assert n_values(6) == [1, 2, 4, 6]
    assert n_values(16) == [1, 2, 4, 8, 16]
    with pytest.raises(ValueError):
        n_values(0)


def test_best_of_n_by_hand(hand):
    # n=1: a s0 wrong, b s0 invalid (nothing to pick -> wrong), c s0 right        -> 1/3
    # n=2 (min): a s1 (.6 > .2) right, b none scorable -> wrong, c s1 (.9) wrong  -> 1/3
    # n=4 (min): a s2 (.8) wrong, b tie s2/s3 -> s2 wrong, c s1 wrong              -> 0
    for agg in ("last", "min", "prod", "mean"):
        assert hand["best_of_n"][agg] == pytest.approx({"1": 1 / 3, "2": 1 / 3, "4": 0.0}), agg
    assert hand["per_problem"]["problem_ids"] == ["a", "b", "c"]
    assert hand["per_problem"]["best_of_N_min"] == [0, 0, 0]
    assert hand["per_problem"]["pass_at_1"] == [0, 0, 1]


def test_weighted_by_hand(hand):
    # min, n=4: a "5" .2+.8=1.0 < "7" .6+.5=1.1 -> right; b "10" .6 ties "12" .6 (NaN sample
    # has no weight) -> first answer "10" wrong; c "1000" .3+.4+.35=1.05 > "999" .9 -> right
    assert hand["weighted"]["min"] == pytest.approx({"1": 1 / 3, "2": 1 / 3, "4": 2 / 3})
    # prod, n=4: a "5" .18+.72=.90 > "7" .42+.25=.67 -> wrong; b tie -> wrong; c right
    assert hand["weighted"]["prod"]["4"] == pytest.approx(1 / 3)
    # last, n=4: a "5" .2+.9=1.1 < "7" .7+.5=1.2 -> right
    assert hand["per_problem"]["weighted_N_last"] == [1, 0, 1]
    assert hand["per_problem"]["weighted_N_prod"] == [0, 0, 1]


def test_majority_by_hand(hand):
    # n=1: a "5" wrong, b no valid answer, c right                    -> 1/3
    # n=2: a "5"/"7" tie -> "5" wrong; b only "12" right; c "1000"/"999" tie -> "1000" right
    # n=4: a 2-2 tie -> "5" wrong; b "12" x2 right; c "1000" x3 right -> 2/3
    assert hand["majority"] == pytest.approx({"1": 1 / 3, "2": 2 / 3, "4": 2 / 3})
    assert hand["per_problem"]["majority_N"] == [0, 1, 1]


def test_pass_at_and_counts(hand):
    assert hand["pass_at"] == pytest.approx({"1": 1 / 3, "2": 1.0, "4": 1.0})
    assert hand["counts"] == {"samples": 12, "invalid": 1, "truncated": 1, "unscored": 1}
    assert hand["n_max"] == 4


def test_ties_pick_lowest_index_and_first_answer():
    same = [Sample(False, "1", (0.7,)), Sample(True, "2", (0.7,)), Sample(True, "2", (0.1,))]
    assert pick_best(same, "min") == 0
    assert pick_majority(same) == 1  # "2" has two votes
    tie = [Sample(False, "1", (0.5,)), Sample(True, "2", (0.5,))]
    assert pick_weighted(tie, "min") == 0
    assert pick_majority(tie) == 0
    assert pick_best([Sample(True, None, (), valid=False)], "min") is None


def test_answer_key_groups_numbers_by_value():
    assert answer_key("1,000") == answer_key("1000.0") == answer_key("$1000") == "1000"
    assert answer_key("\\frac{1}{2}") == answer_key(" \\frac{1}{2} ")
    assert answer_key(None) is None


def test_random_choice_is_seeded():
    rows = [{"problem_id": f"p{i}", "samples": [s(j == 0, str(j), [0.5]) for j in range(8)]}
            for i in range(400)]
    problems = load_problem_samples(rows)
    assert random_outcomes(problems, 8, seed=1) == random_outcomes(problems, 8, seed=1)
    assert random_outcomes(problems, 8, seed=1) != random_outcomes(problems, 8, seed=2)
    assert random_outcomes(problems, 1, seed=1) == [1] * 400  # only sample 0 can be picked
    share = sum(random_outcomes(problems, 8, seed=1)) / 400  # 1 correct in 8: about 1/8
    assert 0.07 < share < 0.18


def test_bad_samples_are_rejected_with_their_path():
    bad = [{"problem_id": "a", "samples": [s(True, "1", [0.5, "high"])]}]
    with pytest.raises(ValueError, match=r"problems\[0\]\.samples\[0\]\.step_scores\[1\]"):
        load_problem_samples(bad)
    with pytest.raises(ValueError, match=r"problems\[1\]\.problem_id: duplicate"):
        load_problem_samples([HAND[0], HAND[0]])
    uneven = [HAND[0], {"problem_id": "z", "samples": HAND[0]["samples"][:3]}]
    with pytest.raises(ValueError, match="same N"):
        evaluate_selection(load_problem_samples(uneven))
    with pytest.raises(ValueError, match=r"correct: expected true/false"):
        load_problem_samples([{"problem_id": "a", "samples": [{"correct": 1}]}])


# ---------------------------------------------------------------- first-error F1
def test_predict_first_error():
    assert predict_first_error([0.9, 0.4, 0.2]) == 1
    assert predict_first_error([0.9, 0.9]) == -1
    assert predict_first_error([0.5, 0.5], threshold=0.5) == -1  # score >= threshold is fine
    assert predict_first_error([0.9, NAN, 0.1]) == 1
    assert predict_first_error([]) == -1


def test_f1_by_hand():
    # correct subset: labels -1,-1 preds -1,0 -> 1/2; error subset: (2,2) hit, (0,1) miss,
    # (1,1) hit -> 2/3; F1 = 2 * 1/2 * 2/3 / (1/2 + 2/3) = 4/7
    got = first_error_f1([-1, 0, 2, 1, 1], [-1, -1, 2, 0, 1])
    assert got["acc_cor"] == pytest.approx(0.5)
    assert got["acc_err"] == pytest.approx(2 / 3)
    assert got["f1"] == pytest.approx(4 / 7)
    assert (got["n"], got["n_err"], got["n_cor"]) == (5, 3, 2)


def test_f1_all_correct_all_wrong_and_zero_sets():
    all_correct = first_error_f1([-1, 2, -1], [-1, -1, -1])
    assert all_correct["acc_cor"] == pytest.approx(2 / 3)
    assert all_correct["acc_err"] is None and all_correct["f1"] is None
    all_wrong = first_error_f1([0, 1], [0, 3])
    assert all_wrong["acc_err"] == pytest.approx(0.5)
    assert all_wrong["acc_cor"] is None and all_wrong["f1"] is None
    both_zero = first_error_f1([0, 1], [-1, 0])
    assert (both_zero["acc_err"], both_zero["acc_cor"], both_zero["f1"]) == (0.0, 0.0, 0.0)
    perfect = evaluate_first_error([[0.9, 0.1], [0.9, 0.8]], [1, -1], threshold=0.5)
    assert perfect["f1"] == 1.0 and perfect["threshold"] == 0.5


def test_f1_rejects_bad_input():
    with pytest.raises(ValueError, match=r"labels\[1\]"):
        first_error_f1([0, 0], [0, -2])
    with pytest.raises(ValueError, match="2 entries"):
        first_error_f1([0, 0], [0])


# ---------------------------------------------------------------- results.json
def _results(hand, **overrides):
    runs = [build_run(seed=0, method="aprm", suite="id", selection=hand),
            build_run(seed=0, method="static", suite="id", selection=hand),
            build_run(seed=0, method="aprm", suite="pb",
                      first_error=first_error_f1([-1, 0, 2, 1, 1], [-1, -1, 2, 0, 1]))]
    args = dict(name="hand", config_hash="abc123", git_sha="deadbeef", seeds=[0], runs=runs,
                rounds=[{"seed": 0, "method": "aprm", "round": 0,
                         "metrics": {"fool_rate": 0.25}, "error_types": {"arithmetic": 3}}],
                stages=[{"name": "evaluate", "wall_s": 1.25, "cached": False}])
    args.update(overrides)
    return build_results(**args)


def test_results_build_round_trip_and_determinism(hand, tmp_path):
    results = _results(hand)
    order = [(r["method"], r["suite"]) for r in results["runs"]]
    assert order == [("aprm", "id"), ("aprm", "pb"), ("static", "id")]  # methods x suites order
    assert results["runs"][0]["weighted"]["min"]["4"] == 0.666667  # rounded to 6 digits
    assert results["runs"][1]["n_max"] == 0 and results["runs"][1]["best_of_n"] == {}
    path = write_results(tmp_path / "results.json", results)
    assert load_results(path) == json.loads(path.read_text())
    shuffled = _results(hand, runs=list(reversed(results["runs"])),
                        methods=results["methods"], suites=results["suites"])
    assert dumps_results(shuffled) == path.read_text()
    text = path.read_text()
    assert text.index('"2": ') < text.index('"4": ')  # sample-count keys in numeric order


def test_schema_doc_example_validates():
    doc = (Path(__file__).resolve().parents[1] / "docs" / "results_schema.md").read_text()
    example = re.findall(r"```json\n(.*?)```", doc, re.S)[-1]
    validate_results(json.loads(example))


@pytest.mark.parametrize("edit, path", [
    (lambda r: r["runs"][0]["best_of_n"]["min"].update({"4": 1.5}),
     r'results.runs[0].best_of_n.min["4"]: expected a number in [0, 1]'),
    (lambda r: r["runs"][0]["counts"].pop("invalid"), "results.runs[0].counts.invalid: missing"),
    (lambda r: r["runs"][2]["per_problem"]["majority_N"].pop(),
     "results.runs[2].per_problem.majority_N: has 2 entries"),
    (lambda r: r["runs"][0]["best_of_n"].update({"max": {"4": 0.5}}),
     "results.runs[0].best_of_n.max: unknown aggregation"),
    (lambda r: r["runs"][0].update({"seed": 7}), "results.runs[0].seed: 7 is not in"),
    (lambda r: r["experiment"].pop("git_sha"), "results.experiment.git_sha: missing"),
    (lambda r: r["runs"][0]["majority"].pop("4"), 'results.runs[0].majority["4"]: missing'),
    (lambda r: r["runs"][1]["first_error"].update({"f1": float("nan")}),
     "results.runs[1].first_error.f1: expected a number"),
    (lambda r: r["stages"][0].update({"cached": "no"}), "results.stages[0].cached"),
    (lambda r: r.update({"extra": 1}), "results.extra: unknown field"),
])
def test_validator_names_the_bad_field(hand, edit, path):
    results = json.loads(json.dumps(_results(hand)))
    edit(results)
    with pytest.raises(ResultsSchemaError) as err:
        validate_results(results)
    assert str(err.value).startswith(path), str(err.value)


def test_load_results_names_the_file(hand, tmp_path):
    results = json.loads(json.dumps(_results(hand)))
    results["runs"][0]["pass_at"]["2"] = "high"
    bad = tmp_path / "results.json"
    bad.write_text(json.dumps(results))
    with pytest.raises(ResultsSchemaError, match=r"results\.json: results\.runs\[0\]\.pass_at"):
        load_results(bad)


def test_nan_is_rejected_when_building(hand):
    with pytest.raises(ResultsSchemaError, match="use null"):
        build_run(seed=0, method="m", suite="s",
                  first_error={"acc_err": NAN, "acc_cor": 1.0, "f1": 0.0, "n": 1, "n_err": 0,
                               "n_cor": 1})


def _leaf_paths(obj, prefix=()):
    yield prefix
    children = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
    for key, value in children:
        yield from _leaf_paths(value, prefix + (key,))


def test_validator_only_ever_raises_schema_errors(hand):
    """Replace every field of a valid document with wrong-typed values: the validator must answer
    with ResultsSchemaError (or accept), never crash with a TypeError/KeyError."""
    base = json.loads(json.dumps(_results(hand)))
    garbage = [None, "x", [], {}, -1, 1.5, True, {"9": "y"}, [None]]
    for path in list(_leaf_paths(base))[1:]:
        for value in garbage:
            doc = json.loads(json.dumps(base))
            target = doc
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = value
            try:
                validate_results(doc)
            except ResultsSchemaError:
                pass


def test_step_auroc_on_the_solver_errors_reads_process_labels():
    from aprm.pipeline.evaluate_stage import solver_error_auroc
    from aprm.schema import Problem

    problem = Problem(id="p", question="q", answer="3")
    samples = [{"steps": ["a", "b", "c"], "correct": False, "first_error": 1},   # labels 1, 0 (c unlabeled)
               {"steps": ["a", "b"], "correct": True, "first_error": -1},        # labels 1, 1
               {"steps": ["a"], "correct": False, "first_error": -1},            # unknown: left out
               {"steps": [], "correct": False, "first_error": -1}]
    scores = [[0.9, 0.2, 0.0], [0.8, 0.7], [0.0], []]
    out = solver_error_auroc([(problem, samples)], [scores])
    assert out == {"step_auroc_solver_errors": 1.0, "solver_wrong_steps": 1}
    scores[0][1] = 0.75  # the wrong step now outranks one right step (0.7) of three
    assert solver_error_auroc([(problem, samples)], [scores])["step_auroc_solver_errors"] == pytest.approx(2 / 3)
    only_right = solver_error_auroc([(problem, samples[1:])], [scores[1:]])
    assert only_right == {"step_auroc_solver_errors": None, "solver_wrong_steps": 0}
