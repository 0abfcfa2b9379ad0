"""Monte-Carlo rollouts: sampling continues after a given step prefix (mc baseline labels)."""

from __future__ import annotations

import pytest

from aprm.data import generate_split
from aprm.models.factory import build_model
from aprm.models.solver import format_prompt, format_solution, sample_solutions
from aprm.models.tokenizer import train_tokenizer

TINY = {"kind": "tiny", "arch": "llama", "hidden_size": 32, "num_layers": 1, "num_heads": 2,
        "intermediate_size": 64, "max_position_embeddings": 384}


@pytest.fixture(scope="module")
def setup():
    problems = generate_split("train", 6, seed=3)
    tok = train_tokenizer([format_prompt(p) + format_solution(p.reference_steps) for p in problems])
    return problems, tok, build_model("solver", TINY, tok, seed=0)


def _draw(setup, prefixes, seed=0):
    problems, tok, model = setup
    return sample_solutions(model, tok, problems, n=2, temperature=1.0, top_p=1.0, max_new_tokens=12,
                            seed=seed, prefixes=prefixes)


def test_rollouts_keep_their_prefix_and_are_seeded(setup):
    problems = setup[0]
    prefixes = [list(p.reference_steps[:1]) for p in problems]
    first, again = _draw(setup, prefixes), _draw(setup, prefixes)
    assert [[s.text for s in row] for row in first] == [[s.text for s in row] for row in again]
    for problem, row in zip(problems, first):
        for sample in row:
            assert sample.steps[0] == problem.reference_steps[0]
            assert sample.text.startswith(problem.reference_steps[0] + "\n")


def test_each_prefix_draws_its_own_stream(setup):
    problems = setup[0]
    short = _draw(setup, [[] for _ in problems])
    longer = _draw(setup, [list(p.reference_steps[:1]) for p in problems])
    tails_short = [s.text for row in short for s in row]
    tails_long = [s.text.split("\n", 1)[1] if "\n" in s.text else "" for row in longer for s in row]
    assert tails_short != tails_long


def test_prefix_count_must_match(setup):
    with pytest.raises(ValueError, match="prefixes"):
        _draw(setup, [[]])
