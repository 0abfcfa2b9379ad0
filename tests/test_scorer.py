"""Single-pass PRM scoring equals prefix-by-prefix scoring; broken models and overflow are loud."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from aprm.models.factory import build_model
from aprm.models.scorer import NonFiniteScoreError, PRMScorer, SolutionTooLongError
from aprm.models.tokenizer import train_tokenizer
from aprm.schema import Problem


def make_solutions(n: int, seed: int, max_steps: int = 8):
    """Problems with 1..max_steps arithmetic steps of varied text length."""
    rng = random.Random(seed)
    items = []
    for i in range(n):
        value = rng.randint(1, 99)
        question = f"Start with {value} marbles and follow {rng.randint(1, 9)} rules. How many?"
        steps = []
        for _ in range(rng.randint(1, max_steps)):
            operand = rng.randint(1, 999)
            filler = " and then we check it again" * rng.randint(0, 3)
            steps.append(f"Add {operand}{filler}, so {value} + {operand} = {value + operand}.")
            value += operand
        steps.append(f"The answer is {value}.")
        items.append((Problem(id=f"q{seed}-{i}", question=question, answer=str(value)), steps))
    return items


def best_of_n_samples(n_problems: int, per_problem: int, seed: int):
    """Several solutions per question (like best-of-N samples) plus two lone problems; the
    questions are long, as word problems are (about half the tokens)."""
    rng = random.Random(seed)
    items = []
    for problem, steps in make_solutions(n_problems, seed):
        story = " ".join(f"Rule {k}: add what the note says and check it again." for k in range(6))
        problem = Problem(id=problem.id, question=f"{story} {problem.question}", answer="0")
        for _ in range(per_problem):
            cut = rng.randint(1, len(steps))
            items.append((problem, [s.replace("=", "= 1") if rng.random() < 0.3 else s
                                    for s in steps[:cut]]))
    rng.shuffle(items)
    return items + make_solutions(2, seed + 100)


@pytest.fixture(scope="module")
def tokenizer():
    corpus = [p.question for p, _ in make_solutions(30, 99)]
    corpus += [s for _, steps in make_solutions(30, 98) for s in steps]
    return train_tokenizer(corpus)


def tiny_prm(tokenizer, arch="llama", max_positions=512):
    cfg = {"kind": "tiny", "arch": arch, "hidden_size": 64, "num_layers": 2, "num_heads": 4,
           "intermediate_size": 128, "max_position_embeddings": max_positions}
    return build_model("prm", cfg, tokenizer, seed=1)


@pytest.mark.parametrize("arch", ["llama", "gpt2", "qwen2"])
def test_single_pass_equals_prefix_scoring_across_a_padded_batch(tokenizer, arch):
    torch.set_num_threads(1)
    model = tiny_prm(tokenizer, arch)
    items = make_solutions(12, seed=1)
    step_counts = {len(steps) for _, steps in items}
    assert len(step_counts) >= 5  # lengths really vary inside one batch
    scorer = PRMScorer(model, tokenizer, batch_size=5)
    batched = scorer.score_batch(items)
    for (problem, steps), scores in zip(items, batched):
        reference = scorer.score_prefixwise(problem, steps)
        assert len(scores) == len(steps)
        assert np.max(np.abs(np.array(scores) - np.array(reference))) < 1e-5
        assert all(0.0 <= s <= 1.0 for s in scores)
    # Scores are not a constant: equivalence is not trivially met.
    assert np.ptp(np.concatenate(batched)) > 1e-3


@pytest.mark.parametrize("arch", ["llama", "gpt2", "qwen2"])
def test_shared_prompt_scoring_is_exact_and_does_less_work(tokenizer, arch):
    model = tiny_prm(tokenizer, arch)
    items = best_of_n_samples(3, per_problem=5, seed=7)
    tokens_seen = []  # input tokens the transformer body processes, counted by a forward hook

    def count(module, args, kwargs):
        tokens_seen.append((args[0] if args else kwargs["input_ids"]).numel())

    hook = model.base_model.register_forward_pre_hook(count, with_kwargs=True)
    try:
        shared = PRMScorer(model, tokenizer, batch_size=4).score_batch(items)
        shared_tokens = sum(tokens_seen)
        tokens_seen.clear()
        plain = PRMScorer(model, tokenizer, batch_size=4, share_prompt=False).score_batch(items)
        plain_tokens = sum(tokens_seen)
    finally:
        hook.remove()
    assert shared_tokens < 0.8 * plain_tokens  # the questions ran once, not 5 times each
    reference = PRMScorer(model, tokenizer)
    for (problem, steps), a, b in zip(items, shared, plain):
        prefixwise = reference.score_prefixwise(problem, steps)
        assert np.max(np.abs(np.array(a) - np.array(prefixwise))) < 1e-5
        assert np.max(np.abs(np.array(b) - np.array(prefixwise))) < 1e-5


def test_batch_keeps_input_order_and_matches_single_scoring(tokenizer):
    model = tiny_prm(tokenizer)
    items = make_solutions(7, seed=2)
    batched = PRMScorer(model, tokenizer, batch_size=3).score_batch(items)
    single = PRMScorer(model, tokenizer, batch_size=1)
    for (problem, steps), scores in zip(items, batched):
        assert np.allclose(scores, single.score(problem, steps), atol=1e-5)


def test_scoring_leaves_training_mode_alone(tokenizer):
    model = tiny_prm(tokenizer)
    model.train()
    problem, steps = make_solutions(1, seed=3)[0]
    PRMScorer(model, tokenizer).score(problem, steps)
    assert model.training


def test_nan_weights_raise_naming_the_problem(tokenizer):
    model = tiny_prm(tokenizer)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.fill_(float("nan"))
    problem, steps = make_solutions(1, seed=4)[0]
    scorer = PRMScorer(model, tokenizer)
    with pytest.raises(NonFiniteScoreError, match=f"problem '{problem.id}' step 0"):
        scorer.score(problem, steps)
    with pytest.raises(NonFiniteScoreError):
        scorer.score_prefixwise(problem, steps)


def test_too_long_solution_raises_or_scores_zero(tokenizer):
    model = tiny_prm(tokenizer, max_positions=64)
    problem, steps = make_solutions(1, seed=5, max_steps=1)[0]
    long_steps = steps * 6
    with pytest.raises(SolutionTooLongError, match=f"problem '{problem.id}'.*of 12 steps"):
        PRMScorer(model, tokenizer).score(problem, long_steps)
    lenient = PRMScorer(model, tokenizer, on_overflow="score_zero")
    scores = lenient.score(problem, long_steps)
    kept = next(i for i, s in enumerate(scores) if s == 0.0)
    assert 0 < kept < len(long_steps) and scores[kept:] == [0.0] * (len(long_steps) - kept)
    assert lenient.n_overflowed == 1
    assert np.allclose(scores[:kept], lenient.score(problem, long_steps[:kept]), atol=1e-6)


def test_empty_solution_and_bad_settings_are_errors(tokenizer):
    model = tiny_prm(tokenizer)
    problem, _ = make_solutions(1, seed=6)[0]
    with pytest.raises(ValueError, match="empty solution"):
        PRMScorer(model, tokenizer).score(problem, [])
    with pytest.raises(ValueError, match="on_overflow"):
        PRMScorer(model, tokenizer, on_overflow="ignore")
