"""Generator G: prompt format, SFT target masking, seeded sampling, KL to the reference."""

import copy

import pytest
import torch
from game_fixtures import problems, tiny_model, tokenizer

from aprm.game.generator import (
    IGNORE_INDEX,
    Slot,
    corruption_slots,
    encode_pair,
    generator_kl,
    generator_prompt,
    sample_corruptions,
    slot_prompt,
    warm_start_generator,
)


def test_prompt_format_and_slots():
    p = problems()[0]
    slots = corruption_slots([p])
    assert [s.index for s in slots] == list(range(len(p.reference_steps)))
    assert slots[1].prefix == (p.reference_steps[0],) and slots[1].correct_step == p.reference_steps[1]
    assert slots[1].slot_id == f"{p.id}#1"
    prompt = slot_prompt(slots[1])
    assert prompt == (
        f"Question: {p.question}\nSteps so far:\n{p.reference_steps[0]}\n"
        f"Correct step: {p.reference_steps[1]}\nWrong step:\n"
    )
    assert "Steps so far:\n(none)\n" in slot_prompt(slots[0])
    with pytest.raises(ValueError, match="exceeds 4000"):
        generator_prompt(p, ["x" * 4000], "y")
    with pytest.raises(ValueError, match="no reference steps"):
        corruption_slots([])


def test_encode_pair_trains_only_on_the_wrong_step_and_eos():
    tok = tokenizer()
    slot = Slot(problems()[0], 0)
    ids, labels = encode_pair(tok, slot_prompt(slot), "So 73 - 67 = 7.", 320)
    prompt_len = len(tok(slot_prompt(slot))["input_ids"])
    assert labels[:prompt_len] == [IGNORE_INDEX] * prompt_len
    assert labels[prompt_len:] == ids[prompt_len:]
    assert ids[-1] == tok.eos_token_id and ids[0] == tok.bos_token_id
    assert tok.decode(ids[prompt_len:-1]) == "So 73 - 67 = 7."
    with pytest.raises(ValueError, match="exceeds max_length=10"):
        encode_pair(tok, slot_prompt(slot), "x", 10)


def test_sampling_is_seeded_and_batch_independent():
    tok, model = tokenizer(), tiny_model("generator")
    slots = corruption_slots(problems()[:2])
    a = sample_corruptions(model, tok, slots, 1.0, 12, seed=3, batch_size=8)
    b = sample_corruptions(model, tok, slots, 1.0, 12, seed=3, batch_size=3)
    c = sample_corruptions(model, tok, slots, 1.0, 12, seed=4, batch_size=8)
    assert [s.token_ids for s in a] == [s.token_ids for s in b]
    assert [s.token_ids for s in a] != [s.token_ids for s in c]
    assert all(len(s.token_ids) <= 12 for s in a)
    # an untrained model rarely emits eos within 12 tokens: truncated is reported
    assert all(s.truncated == (tok.eos_token_id not in s.token_ids) for s in a)


def test_kl_is_zero_to_itself_and_positive_to_another_model():
    tok, model = tokenizer(), tiny_model("generator", seed=0)
    slots = corruption_slots(problems()[:1])
    assert generator_kl(model, copy.deepcopy(model), tok, slots, 10, seed=0) == pytest.approx(0.0, abs=1e-6)
    other = tiny_model("generator", seed=1)
    kl = generator_kl(model, other, tok, slots, 10, seed=0)
    assert kl > 1e-3


def test_warm_start_lowers_the_loss_and_validates_config(tmp_path):
    tok, model = tokenizer(), tiny_model("generator")
    slots = corruption_slots(problems()[:4])
    pairs = [(s, s.correct_step.replace("=", "= 1")) for s in slots]
    before = [p.detach().clone() for p in model.parameters()]
    metrics = warm_start_generator(pairs, tok, model, {"epochs": 4, "batch_size": 8}, tmp_path / "g")
    assert metrics["pairs"] == len(pairs) and metrics["steps"] == 4 * -(-len(pairs) // 8)
    assert metrics["loss_last"] < metrics["loss_first"] - 0.5
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert (tmp_path / "g" / "config.json").is_file() and (tmp_path / "g" / "tokenizer.json").is_file()
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['epoch'\]"):
        warm_start_generator(pairs, tok, model, {"epoch": 1}, None)
    with pytest.raises(ValueError, match="at least one"):
        warm_start_generator([], tok, model, {}, None)
