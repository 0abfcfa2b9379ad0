"""Published PRM formats (Math-Shepherd, Qwen2.5-Math-PRM) on tiny local models in that format."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aprm.models.adapters import (
    MATH_SHEPHERD_STEP_TAG,
    QWEN_STEP_TOKEN,
    MathShepherdAdapter,
    QwenPRMAdapter,
)
from aprm.models.factory import build_model
from aprm.models.scorer import NonFiniteScoreError
from aprm.models.tokenizer import train_tokenizer
from aprm.schema import Problem

TINY = {"kind": "tiny", "hidden_size": 64, "num_layers": 2, "num_heads": 4,
        "intermediate_size": 128, "max_position_embeddings": 512}
# Qwen2's ChatML layout (system / user / assistant turns), as its tokenizer_config ships it.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

QUESTION = "Janet has 16 eggs. She eats 3 and bakes with 4. She sells the rest at 2 dollars each."
STEPS = [
    "Janet's ducks lay 16 eggs per day.",
    "She eats 3, so 16 - 3 = 13 eggs are left.",
    "She bakes with 4, so 13 - 4 = 9 eggs are left.",
    "She sells 9 eggs at 2 dollars each, so 9 * 2 = 18.",
    "The answer is 18.",
]


def items():
    return [(Problem(id=f"a{k}", question=QUESTION, answer="18"), STEPS[:k]) for k in (5, 1, 3, 2)]


@pytest.fixture(scope="module")
def base_corpus():
    return [QUESTION, *STEPS, "Please reason step by step, and put your final answer within."] * 3


@pytest.fixture(scope="module")
def shepherd(base_corpus):
    torch.set_num_threads(1)
    tokenizer = train_tokenizer(base_corpus + ["Step 1: + - ки"])
    tokenizer.add_tokens([MATH_SHEPHERD_STEP_TAG])  # an ordinary vocabulary token, as in Llemma
    model = build_model("solver", {**TINY, "arch": "llama"}, tokenizer, seed=3)
    return MathShepherdAdapter(model, tokenizer, batch_size=3)


@pytest.fixture(scope="module")
def qwen(base_corpus):
    tokenizer = train_tokenizer(base_corpus + ["system user assistant"])
    tokenizer.add_tokens([QWEN_STEP_TOKEN, "<|im_start|>", "<|im_end|>"], special_tokens=True)
    tokenizer.chat_template = CHATML_TEMPLATE
    model = build_model("prm", {**TINY, "arch": "qwen2"}, tokenizer, seed=4)
    return QwenPRMAdapter(model, tokenizer, batch_size=3)


def test_math_shepherd_input_format(shepherd):
    problem, steps = items()[3]
    text = shepherd.format_text(problem, steps)
    assert text == (f"{QUESTION} Step 1: {STEPS[0]} ки\nStep 2: {STEPS[1]} ки")
    ids, positions = shepherd.encode(problem, steps)
    assert [ids[p] for p in positions] == [shepherd.step_tag_id] * 2
    good, bad = shepherd.candidate_ids
    assert shepherd.tokenizer.decode([good]).strip() == "+"
    assert shepherd.tokenizer.decode([bad]).strip() == "-"


def test_qwen_input_format(qwen):
    problem, steps = items()[3]
    text = qwen.format_text(problem, steps)
    assert text.endswith(
        f"<|im_start|>assistant\n{STEPS[0]}<extra_0>{STEPS[1]}<extra_0><|im_end|>\n")
    assert text.startswith("<|im_start|>system\nPlease reason step by step")
    ids, positions = qwen.encode(problem, steps)
    assert [ids[p] for p in positions] == [qwen.step_token_id] * 2


@pytest.mark.parametrize("adapter_name", ["shepherd", "qwen"])
def test_one_score_per_step_matching_prefix_scoring(request, adapter_name):
    adapter = request.getfixturevalue(adapter_name)
    batch = items()
    scores = adapter.score_batch(batch)
    for (problem, steps), solution_scores in zip(batch, scores):
        assert len(solution_scores) == len(steps)
        assert all(0.0 <= s <= 1.0 for s in solution_scores)
        reference = adapter.score_prefixwise(problem, steps)
        assert np.max(np.abs(np.array(solution_scores) - np.array(reference))) < 1e-5
        assert np.allclose(adapter.score(problem, steps), solution_scores, atol=1e-5)
    assert np.ptp(np.concatenate(scores)) > 1e-4  # not a constant output


def test_math_shepherd_score_is_softmax_over_label_tokens(shepherd):
    problem, steps = items()[2]
    ids, positions = shepherd.encode(problem, steps)
    with torch.no_grad():
        logits = shepherd.model(input_ids=torch.tensor([ids])).logits[0]
    good, bad = shepherd.candidate_ids
    # P(+) of the 2-way softmax over {+, -} = sigmoid of the logit difference
    expected = torch.sigmoid(logits[positions, good] - logits[positions, bad])
    assert np.allclose(shepherd.score(problem, steps), expected.numpy(), atol=1e-6)


def test_marker_inside_a_step_is_rejected(shepherd, qwen):
    problem = Problem(id="bad", question=QUESTION, answer="18")
    with pytest.raises(ValueError, match="step 1 contains the step marker 'ки'"):
        shepherd.score(problem, [STEPS[0], "sneaky ки step"])
    with pytest.raises(ValueError, match="step 0 contains the step marker '<extra_0>'"):
        qwen.score(problem, ["two<extra_0>steps"])
    with pytest.raises(ValueError, match="empty solution"):
        qwen.score(problem, [])


def test_qwen_adapter_needs_a_chat_template(qwen):
    bare = train_tokenizer([QUESTION, *STEPS])
    bare.add_tokens([QWEN_STEP_TOKEN], special_tokens=True)
    with pytest.raises(ValueError, match="chat template"):
        QwenPRMAdapter(qwen.model, bare)


def test_nan_model_is_reported(qwen):
    broken = build_model("prm", {**TINY, "arch": "qwen2"}, qwen.tokenizer, seed=5)
    with torch.no_grad():
        broken.score.weight.fill_(float("nan"))
    adapter = QwenPRMAdapter(broken, qwen.tokenizer)
    with pytest.raises(NonFiniteScoreError, match="problem 'a5'"):
        adapter.score(*items()[0])
