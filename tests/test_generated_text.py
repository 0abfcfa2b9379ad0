"""Generated text is untrusted input: any token sequence the tokenizer can decode goes through
parse -> format -> oracle labels -> PRM scoring -> MC-rollout prefixes without an exception.

The ids are drawn from the whole vocabulary (special tokens included) and mixed with the line
boundaries and control characters a byte-level model can emit (`aprm experiment=smoke seed=7`
once crashed on a sampled `\\r`).
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from aprm.models.factory import build_model
from aprm.models.sampling import sample_solutions
from aprm.models.scorer import PRMScorer
from aprm.models.text_format import format_prompt, format_solution, has_line_break, parse_solution_text
from aprm.models.tokenizer import train_tokenizer
from aprm.oracle import first_error
from aprm.pipeline.samples_stage import label_sample, process_labels
from aprm.schema import Problem

PROBLEM = Problem("gen", "Ava has 23 stickers. She buys 15 more. How many stickers does she have?", "38",
                  reference_steps=("Ava has 23 + 15 = 38 stickers.", "The answer is 38."))
# Every line boundary of str.splitlines, and control characters with no line meaning.
ODD_TEXT = ["\r", "\r\n", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029",
            "\x00", "\t", "\x1b[31m", "\x7f", " ", "The answer is ", "23 + 15 = 38"]


@pytest.fixture(scope="module")
def tokenizer():
    corpus = [format_prompt(PROBLEM) + format_solution(PROBLEM.reference_steps)] * 4
    corpus += ["Tom had 12 apples and ate 3. 12 - 3 = 9 apples.", "The answer is 9."]
    return train_tokenizer(corpus, vocab_size=320)


@pytest.fixture(scope="module")
def models(tokenizer):
    cfg = {"kind": "tiny", "arch": "llama", "hidden_size": 32, "num_layers": 1, "num_heads": 2,
           "intermediate_size": 64, "max_position_embeddings": 512}
    return build_model("prm", cfg, tokenizer, seed=0), build_model("solver", cfg, tokenizer, seed=0)


def _texts(tokenizer):
    ids = st.lists(st.integers(0, len(tokenizer) - 1), max_size=60)
    decoded = ids.map(lambda row: tokenizer.decode(row, skip_special_tokens=False))
    pieces = st.lists(st.one_of(decoded, st.sampled_from(ODD_TEXT), st.text(max_size=8)), max_size=6)
    return pieces.map("".join)


@pytest.mark.parametrize("text, steps", [
    ("1 + 1 = 2.\rThe answer is 2.", ("1 + 1 = 2.", "The answer is 2.")),
    ("a\x0bb\x0cc\u2028d\x1ce\x85f\u2029g", ("a", "b", "c", "d", "e", "f", "g")),
    ("\r\n \r\n\x1d", ()),
])
def test_every_line_boundary_splits_steps(text, steps):
    assert parse_solution_text(text).steps == steps
    assert format_solution(steps).split("\n") == list(steps if steps else [""])


def test_control_characters_are_dropped_and_the_answer_still_parses():
    parsed = parse_solution_text("12 -\t3 = 9\x00 apples.\r\nThe answer is 9.\x1b")
    assert parsed.steps == ("12 - 3 = 9  apples.", "The answer is 9.")
    assert parsed.final_answer == "9"


@pytest.mark.parametrize("text, steps", [
    ("<step>", ()),
    ("2 + 3 = 5.<step>The answer is 5.", ("2 + 3 = 5. The answer is 5.",)),
    ("<st<step>ep>7", ("<st ep>7",)),  # removing one separator does not make another
])
def test_the_prm_separator_text_never_reaches_a_step(text, steps):
    assert parse_solution_text(text).steps == steps


def test_format_solution_still_rejects_a_step_with_a_line_break():
    with pytest.raises(ValueError, match="line break"):
        format_solution(["one\u2028two"])


def test_any_decodable_text_goes_through_every_consumer(tokenizer, models):
    prm, solver = models
    scorer = PRMScorer(prm, tokenizer, batch_size=4, on_overflow="score_zero")
    torch.manual_seed(0)

    @settings(max_examples=60, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(_texts(tokenizer))
    @example(text="<step>")  # CI found it: the separator text became a PRM step boundary
    def check(text):
        parsed = parse_solution_text(text)
        assert all(step and not has_line_break(step) for step in parsed.steps)
        joined = format_solution(parsed.steps)
        assert parse_solution_text(joined).steps == parsed.steps  # the format round-trips
        sample = label_sample(PROBLEM, parsed.steps, parsed.final_answer, truncated=False)
        assert -1 <= sample["first_error"] < max(len(parsed.steps), 1)
        assert first_error(PROBLEM, list(parsed.steps)) >= -1
        process_labels(sample)  # None (ambiguous) or labels: never an exception
        if parsed.steps:
            scores = scorer.score(PROBLEM, parsed.steps)
            assert len(scores) == len(parsed.steps) and all(0.0 <= s <= 1.0 for s in scores)
            # an MC rollout continues from a prefix of these steps
            [[rollout]] = sample_solutions(solver, tokenizer, [PROBLEM], n=1, temperature=1.0, top_p=1.0,
                                           max_new_tokens=4, seed=0, prefixes=[parsed.steps[:1]])
            assert rollout.steps[0] == parsed.steps[0]

    check()
