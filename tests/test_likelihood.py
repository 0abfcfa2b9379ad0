"""The training-free `likelihood` verifier: the solver's surprise at each step, on a tiny solver
trained here (CPU, a few seconds)."""

from __future__ import annotations

import math
import random

import pytest

from aprm.models.likelihood import (LikelihoodConfig, SolverSurprise, calibrate, encode_steps, is_likelihood_dir,
                                    likelihood_scorer, load_config, save_config)
from aprm.models.prm_metrics import auroc
from aprm.models.solver import format_prompt, format_solution
from aprm.perturb import perturb_solution

@pytest.fixture(scope="module")
def problems(memorized_solver):
    return memorized_solver.problems


@pytest.fixture(scope="module")
def solver(memorized_solver):
    return memorized_solver.model, memorized_solver.tokenizer, memorized_solver.path


def test_tokens_map_to_their_steps(solver, problems):
    _, tok, _ = solver
    problem = problems[0]
    steps = list(problem.reference_steps)
    encoded = encode_steps(tok, problem, steps, max_length=384)
    assert encoded.n_kept == len(steps)
    text = format_prompt(problem) + format_solution(steps)
    pieces = ["".join(tok.decode([encoded.input_ids[i]]) for i in tokens) for tokens in encoded.step_tokens]
    # each step's tokens spell the step and its terminator (a newline, eos for the last)
    for step, piece in zip(steps[:-1], pieces[:-1]):
        assert piece == step + "\n"
    assert pieces[-1] == steps[-1] + tok.eos_token
    # a prefix is unfinished: its last step ends with a newline, as it does inside the solution
    prefix = encode_steps(tok, problem, steps[:-1], max_length=384)
    assert "".join(tok.decode([prefix.input_ids[i]]) for i in prefix.step_tokens[-1]) == steps[-2] + "\n"
    assert prefix.input_ids == encoded.input_ids[: len(prefix.input_ids)]
    assert sum(len(t) for t in encoded.step_tokens) == len(encoded.input_ids) - len(tok(format_prompt(problem))["input_ids"])
    assert text.startswith(format_prompt(problem))
    assert any(encoded.numeric[i] for i in encoded.step_tokens[0])


def test_batched_scores_equal_single_and_respect_causality(solver, problems):
    model, tok, out = solver
    scorer = likelihood_scorer(SolverSurprise(model, tok, batch_size=3), LikelihoodConfig(str(out)))
    items = [(p, list(p.reference_steps)) for p in problems[:7]]
    batched = scorer.score_batch(items)
    for (problem, steps), scores in zip(items, batched):
        alone = scorer.score(problem, steps)
        assert scores == pytest.approx(alone, abs=1e-5)
        # a step's score reads only the tokens up to its terminator: a prefix scores the same
        assert scorer.score(problem, steps[:-1]) == pytest.approx(scores[:-1], abs=1e-5)


def test_the_solver_rates_its_training_steps_above_rule_perturbations(solver, problems):
    """Paired AUROC (reference step vs the perturbed step at the same position) well above chance:
    a trained solver's numeric surprise verifies number changes without any label."""
    model, tok, out = solver
    rng = random.Random(0)
    right, wrong = [], []
    items = []
    for problem in problems:
        steps = list(problem.reference_steps)
        perturbed = perturb_solution(problem, steps, "number_change", rng)
        if perturbed is None:
            continue
        new_steps, index = perturbed
        items += [(problem, steps[: index + 1]), (problem, new_steps[: index + 1])]
    scores = likelihood_scorer(SolverSurprise(model, tok), LikelihoodConfig(str(out))).score_batch(items)
    right = [s[-1] for s in scores[0::2]]
    wrong = [s[-1] for s in scores[1::2]]
    assert len(right) >= 20
    assert auroc(right + wrong, [1] * len(right) + [0] * len(wrong)) > 0.9


def test_calibration_is_monotone_and_handles_one_class():
    features = [-6.0, -5.0, -4.0, -0.5, -0.2, -0.1, -3.0, -0.3]
    labels = [0, 0, 0, 1, 1, 1, 0, 1]
    coef, intercept = calibrate(features, labels)
    assert coef is not None and coef > 0
    config = LikelihoodConfig("solver", coef=coef, intercept=intercept)
    probabilities = [config.probability(f) for f in sorted(features)]
    assert probabilities == sorted(probabilities) and all(0.0 < p < 1.0 for p in probabilities)
    assert config.probability(-1e6) == pytest.approx(0.0) and config.probability(1e6) == pytest.approx(1.0)
    assert calibrate([-1.0, -2.0], [1, 1]) == (None, 0.0)
    assert LikelihoodConfig("solver").probability(math.log(0.25)) == pytest.approx(0.25)


def test_overflowing_steps_score_zero_and_are_counted(solver, problems):
    model, tok, out = solver
    problem = max(problems, key=lambda p: len(p.reference_steps))
    steps = list(problem.reference_steps)
    scorer = likelihood_scorer(SolverSurprise(model, tok), LikelihoodConfig(str(out)))
    scorer.surprise.max_length = len(tok(format_prompt(problem))["input_ids"]) + 3
    scores = scorer.score(problem, steps)
    assert scores[-1] == 0.0 and len(scores) == len(steps)
    assert scorer.n_overflowed == 1


def test_config_round_trips_and_rejects_an_unknown_feature(tmp_path):
    save_config(LikelihoodConfig("solver", "numeric_min", 1.5, 2.0), tmp_path)
    assert is_likelihood_dir(tmp_path) and not is_likelihood_dir(tmp_path / "missing")
    assert load_config(tmp_path) == LikelihoodConfig("solver", "numeric_min", 1.5, 2.0)
    with pytest.raises(ValueError, match="method.feature"):
        LikelihoodConfig("solver", "max_entropy")


def test_composed_config_names_a_bad_feature():
    from flows.config import ConfigError, compose_config

    assert compose_config(["method=likelihood"])["method"]["feature"] == "all_min"
    with pytest.raises(ConfigError, match="method.feature"):
        compose_config(["method=likelihood", "method.feature=entropy"])


def test_samples_of_one_question_share_its_prompt_and_score_the_same(solver, problems):
    """Best-of-N samples of one question take the shared-prompt path; each scores as it does alone."""
    model, tok, out = solver
    scorer = likelihood_scorer(SolverSurprise(model, tok, batch_size=2), LikelihoodConfig(str(out)))
    rng = random.Random(1)
    items = []
    for problem in problems[:3]:
        steps = list(problem.reference_steps)
        perturbed = perturb_solution(problem, steps, "number_change", rng)
        items += [(problem, steps), (problem, steps[:-1])] + ([(problem, perturbed[0])] if perturbed else [])
    together = scorer.score_batch(items)
    for (problem, steps), scores in zip(items, together):
        assert scores == pytest.approx(scorer.score(problem, steps), abs=1e-5)
