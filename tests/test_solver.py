"""Solver: text format, parsing, SFT and seeded batched sampling on tiny real models (CPU)."""

from __future__ import annotations

import pytest
import torch

from aprm.data import generate_split
from aprm.models.factory import build_model
from aprm.models.solver import (
    IGNORE_INDEX,
    SampledSolution,
    encode_example,
    equation_drills,
    format_prompt,
    format_solution,
    parse_solution_text,
    sample_solutions,
    train_solver,
)
from aprm.models.tokenizer import train_tokenizer
from aprm.schema import Problem, Solution

TINY = {"kind": "tiny", "arch": "llama", "hidden_size": 48, "num_layers": 2, "num_heads": 4,
        "intermediate_size": 96, "max_position_embeddings": 384}


@pytest.fixture(scope="module")
def problems() -> list[Problem]:
    return generate_split("train", 48, seed=0)


@pytest.fixture(scope="module")
def tok(problems):
    return train_tokenizer(format_prompt(p) + format_solution(p.reference_steps) for p in problems)


@pytest.fixture(scope="module")
def trained(problems, tok, tmp_path_factory):
    """One short SFT run shared by the tests below (≈ 5 s on one CPU core)."""
    torch.set_num_threads(1)
    model = build_model("solver", TINY, tok, seed=0)
    out = tmp_path_factory.mktemp("sft") / "solver"
    metrics = train_solver(problems, tok, model, {"epochs": 6, "batch_size": 8, "lr": 1e-2}, out)
    return model, metrics, out


def test_prompt_and_solution_format():
    problem = Problem(id="p", question="Ava has 2 cards.\n  She buys 3 more.", answer="5")
    assert format_prompt(problem) == "Question: Ava has 2 cards. She buys 3 more.\nAnswer:\n"
    steps = ["So 2 + 3 = 5.", "The answer is 5."]
    assert format_solution(steps) == "So 2 + 3 = 5.\nThe answer is 5."
    with pytest.raises(ValueError, match="step 1 contains a line break"):
        format_solution(["ok", "two\nlines"])


@pytest.mark.parametrize("text, steps, answer", [
    ("She buys 15 more, so 23 + 15 = 38.\nThe answer is 38.",
     ("She buys 15 more, so 23 + 15 = 38.", "The answer is 38."), "38"),
    ("", (), None),
    ("\n \n", (), None),
    ("So 2 + 3 = 5.\nSo 5 * 2 = 10.", ("So 2 + 3 = 5.", "So 5 * 2 = 10."), None),
    ("  a = 1.  \n\nThe answer is 1,200", ("a = 1.", "The answer is 1,200"), "1,200"),
    ("The answer is 4.\nThe answer is 5.\nextra",
     ("The answer is 4.", "The answer is 5.", "extra"), "5"),
    ("So 3 + 4 = 7.\nThe ans", ("So 3 + 4 = 7.", "The ans"), None),
    ("The answer is .", ("The answer is .",), None),
    ("The answer is 5.5.", ("The answer is 5.5.",), "5.5"),
    ("The answer is", ("The answer is",), None),
])
def test_parse_solution_text(text, steps, answer):
    assert parse_solution_text(text) == Solution(steps=steps, final_answer=answer)


def test_parse_bounds_huge_input():
    parsed = parse_solution_text("x\n" * 1_000_000 + "The answer is 3.")
    assert len(parsed.steps) == 10_000 and parsed.final_answer is None


def test_encode_example_masks_the_prompt(problems, tok):
    ids, labels = encode_example(problems[0], tok, max_length=384)
    prompt_len = len(tok(format_prompt(problems[0]))["input_ids"])
    assert ids[0] == tok.bos_token_id and ids[-1] == tok.eos_token_id
    assert labels[:prompt_len] == [IGNORE_INDEX] * prompt_len
    assert labels[prompt_len:] == ids[prompt_len:]
    solution = tok.decode(ids[prompt_len:], skip_special_tokens=True)
    assert solution == "\n".join(problems[0].reference_steps)
    with pytest.raises(ValueError, match="exceed train.solver.max_length=10"):
        encode_example(problems[0], tok, max_length=10)


def test_equation_drills_mask_all_but_the_result(problems, tok):
    drills = equation_drills(problems, tok)
    assert len(drills) == sum(len(p.reference_steps) - 1 for p in problems)  # all but the answer
    ids, labels = drills[0]
    step = problems[0].reference_steps[0]
    equation = step[step.index(", so ") + len(", so "):]
    result = " " + equation.split(" = ")[1]
    assert tok.decode(ids, skip_special_tokens=True) == equation
    assert tok.decode([i for i in labels if i != IGNORE_INDEX]) == result
    odd = Problem(id="x", question="q", answer="1",
                  reference_steps=("no equation here.", "so 1.5 + 2 = 3.5.", "The answer is 1."))
    assert equation_drills([odd], tok) == []


def test_sft_lowers_the_loss_and_saves(trained, problems, tok):
    model, metrics, out = trained
    assert metrics["steps"] == 6 * 6 and metrics["examples"] == 48 and metrics["drills"] > 96
    assert metrics["loss_first"] > 4.0  # ~ln(384) at init
    assert metrics["loss_last"] < 0.5 * metrics["loss_first"]
    assert metrics["epoch_losses"][-1] < metrics["epoch_losses"][0]
    assert (out / "config.json").is_file() and (out / "tokenizer.json").is_file()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no temp dirs left
    reloaded = build_model("solver", {"kind": "hf", "solver": str(out)}, tok)
    batch = tok([format_prompt(problems[0])], return_tensors="pt")
    with torch.no_grad():
        assert torch.equal(model.eval()(**batch).logits, reloaded.eval()(**batch).logits)


def test_unknown_train_key(problems, tok):
    model = build_model("solver", TINY, tok)
    with pytest.raises(ValueError, match=r"train.solver: unknown key\(s\) \['epoch'\]"):
        train_solver(problems[:2], tok, model, {"epoch": 1}, None)


def _texts(samples):
    return [[s.text for s in row] for row in samples]


def test_sampling_is_seeded_and_batch_independent(trained, problems):
    model, _, out = trained
    from aprm.models.tokenizer import load_tokenizer
    tok = load_tokenizer(out)
    subset = problems[:5]
    kwargs = dict(n=3, temperature=1.0, top_p=1.0, max_new_tokens=40)
    a = sample_solutions(model, tok, subset, seed=11, batch_size=15, **kwargs)
    b = sample_solutions(model, tok, subset, seed=11, batch_size=4, **kwargs)
    c = sample_solutions(model, tok, subset, seed=12, batch_size=15, **kwargs)
    alone = sample_solutions(model, tok, subset[2:3], seed=11, batch_size=1, **kwargs)
    assert len(a) == 5 and all(len(row) == 3 for row in a)
    assert _texts(a) == _texts(b)
    assert _texts(alone) == _texts(a)[2:3]
    assert _texts(a) != _texts(c)
    assert len({text for row in _texts(a) for text in row}) > 5  # samples differ within a problem
    sample = a[0][0]
    assert isinstance(sample, SampledSolution)
    assert parse_solution_text(sample.text) == Solution(sample.steps, sample.final_answer)


def test_cpu_decoding_runs_eager_attention_and_draws_the_same_samples(trained, problems, monkeypatch):
    from aprm.models import sampling
    from aprm.models.tokenizer import load_tokenizer

    model, _, out = trained
    tok = load_tokenizer(out)
    assert model.config._attn_implementation == "sdpa"
    seen: list[str] = []
    hook = model.register_forward_pre_hook(lambda module, args: seen.append(module.config._attn_implementation))
    kwargs = dict(n=4, temperature=1.0, top_p=1.0, max_new_tokens=40, seed=3)
    model.train()
    try:
        eager = sample_solutions(model, tok, problems[:6], **kwargs)
        assert set(seen) == {"eager"}
        assert model.training and model.config._attn_implementation == "sdpa"  # restored for training
        seen.clear()
        monkeypatch.setattr(sampling, "CPU_DECODING_ATTENTION", "sdpa")
        sdpa = sample_solutions(model, tok, problems[:6], **kwargs)
        assert set(seen) == {"sdpa"}
    finally:
        hook.remove()
    assert _texts(eager) == _texts(sdpa)


def test_greedy_and_top_p_near_zero_agree(trained, problems, tok):
    model, _, _ = trained
    greedy = sample_solutions(model, tok, problems[:3], 2, 0.0, 1.0, 30, seed=0)
    nucleus = sample_solutions(model, tok, problems[:3], 2, 1.0, 1e-6, 30, seed=5)
    assert _texts(greedy) == _texts(nucleus)  # top_p -> 0 keeps only the argmax token
    assert all(row[0].text == row[1].text for row in greedy)


def test_truncated_outputs_are_flagged(problems, tok):
    model = build_model("solver", TINY, tok, seed=0)  # untrained: never emits eos in 5 tokens
    samples = sample_solutions(model, tok, problems[:2], 2, 1.0, 1.0, 5, seed=0)
    flat = [s for row in samples for s in row]
    assert all(s.truncated and s.num_tokens == 5 and s.final_answer is None for s in flat)
    assert flat[0].to_dict()["truncated"] is True


def test_sampling_rejects_bad_arguments(problems, tok):
    model = build_model("solver", TINY, tok)
    with pytest.raises(ValueError, match="top_p"):
        sample_solutions(model, tok, problems[:1], 1, 1.0, 0.0, 5, seed=0)
    with pytest.raises(ValueError, match="exceeds the model's 384 positions"):
        sample_solutions(model, tok, problems[:1], 1, 1.0, 1.0, 380, seed=0)
