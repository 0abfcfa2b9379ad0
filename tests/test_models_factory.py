"""Tokenizer and model factory: real tokenizers/transformers, tiny sizes, no hub."""

from __future__ import annotations

import pytest
import torch

from aprm.data import generate_split
from aprm.models.factory import (
    ModelConfigError,
    TINY_DEFAULTS,
    build_model,
    build_prm,
    load_tokenizer_for,
    tiny_settings,
)
from aprm.models.solver import save_atomically
from aprm.models.text_format import format_prompt, format_solution
from aprm.models.tokenizer import STEP_TOKEN, load_tokenizer, save_tokenizer, train_tokenizer

SMALL = {"kind": "tiny", "arch": "llama", "hidden_size": 32, "num_layers": 2, "num_heads": 4,
         "intermediate_size": 64, "max_position_embeddings": 256}


@pytest.fixture(scope="module")
def corpus() -> list[str]:
    return [format_prompt(p) + format_solution(p.reference_steps)
            for p in generate_split("train", 200, seed=0)]


@pytest.fixture(scope="module")
def tok(corpus):
    return train_tokenizer(corpus, vocab_size=384)


def test_tokenizer_vocab_and_special_tokens(tok):
    assert len(tok) == 384
    ids = {tok.pad_token_id, tok.bos_token_id, tok.eos_token_id, tok.unk_token_id,
           tok.convert_tokens_to_ids(STEP_TOKEN)}
    assert ids == {0, 1, 2, 3, 4}
    names = (tok.pad_token, tok.bos_token, tok.eos_token, tok.unk_token)
    assert names == ("<pad>", "<s>", "</s>", "<unk>")
    assert tok.padding_side == "right"
    # <s> is prepended; <step> in text is one token, never split into characters
    ids = tok("a<step>b")["input_ids"]
    assert ids[0] == tok.bos_token_id
    assert tok.convert_ids_to_tokens(ids).count(STEP_TOKEN) == 1
    assert len(tok("a<step>b", add_special_tokens=False)["input_ids"]) == 3


def _pieces(tok, text):
    return [tok.decode([i]) for i in tok(text, add_special_tokens=False)["input_ids"]]


def test_digits_are_single_tokens_tagged_by_place(tok):
    pieces = _pieces(tok, "so 4096 + 17 = 4113.")
    assert [p for p in pieces if p.strip().isdigit()] == list("4096") + list("17") + list("4113")
    ids = tok("3 30 300 3000 30000", add_special_tokens=False)["input_ids"]
    threes = [i for i in ids if tok.decode([i]) == "3"]
    assert len(threes) == 5 and len(set(threes)) == 5  # one id per place value
    zeros = {i for i in ids if tok.decode([i]) == "0"}
    assert len(zeros) == 4  # units, tens, hundreds, thousands


def test_digits_beyond_the_tagged_places_stay_plain(tok, corpus):
    assert tok("1234567")["input_ids"][1:3] == tok.convert_tokens_to_ids(["1", "2"])  # plain
    plain = train_tokenizer(corpus, vocab_size=384, digit_places=0)
    assert len(plain) == 384
    ids = plain("3 30 300", add_special_tokens=False)["input_ids"]
    assert len({i for i in ids if plain.decode([i]) == "3"}) == 1
    assert plain.decode(plain("x 140\n7")["input_ids"], skip_special_tokens=True) == "x 140\n7"


def test_too_small_vocab(corpus):
    with pytest.raises(ValueError, match="vocab_size=120 is too small"):
        train_tokenizer(corpus, vocab_size=120)


@pytest.mark.parametrize("text", [
    "He buys 15 more, so 23 + 15 = 38.\nThe answer is 38.",
    "line one\n\nline three\n",
    "  leading spaces\ttab\n trailing \n",
    "Unseen words: Kwame's zyzzyva costs $12.50 (100%)!",
    "big 1234567890 + 0 = 007\n",
])
def test_text_round_trips_exactly(tok, text):
    ids = tok(text)["input_ids"]
    assert tok.decode(ids, skip_special_tokens=True) == text
    assert tok.unk_token_id not in ids


def test_newline_is_its_own_token(tok):
    assert _pieces(tok, "a.\nb.\n\nc") == ["a", ".", "\n", "b", ".", "\n", "\n", "c"]


def test_save_and_load_give_same_ids(tok, tmp_path, corpus):
    save_tokenizer(tok, tmp_path / "tok")
    loaded = load_tokenizer(tmp_path / "tok")
    for text in corpus[:20]:
        assert loaded(text)["input_ids"] == tok(text)["input_ids"]
    assert loaded.convert_tokens_to_ids(STEP_TOKEN) == tok.convert_tokens_to_ids(STEP_TOKEN)
    assert loaded.pad_token_id == tok.pad_token_id and loaded.padding_side == "right"


def test_load_tokenizer_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="tokenizer.json"):
        load_tokenizer(tmp_path / "nope")


@pytest.mark.parametrize("arch", ["llama", "gpt2", "qwen2"])
def test_roles_shapes_and_special_ids(tok, arch):
    batch = tok(["He buys 15 more.", "The answer is 3."], return_tensors="pt", padding=True)
    for role, width in (("solver", len(tok)), ("generator", len(tok)), ("prm", 2)):
        model = build_model(role, {**SMALL, "arch": arch}, tok)
        assert model.config.vocab_size == len(tok)
        config = model.config
        assert (config.pad_token_id, config.bos_token_id, config.eos_token_id) == (0, 1, 2)
        logits = model(**batch).logits
        assert logits.shape == (2, batch["input_ids"].shape[1], width)
    assert build_model("prm", {**SMALL, "arch": arch}, tok).config.num_labels == 2


def test_seeded_init(tok):
    a = build_model("solver", SMALL, tok, seed=3).state_dict()
    b = build_model("solver", SMALL, tok, seed=3).state_dict()
    c = build_model("solver", SMALL, tok, seed=4).state_dict()
    key = "model.layers.0.self_attn.q_proj.weight"
    assert torch.equal(a[key], b[key])
    assert not torch.equal(a[key], c[key])


def test_role_overrides_and_defaults(tok):
    cfg = {**SMALL, "roles": {"prm": {"hidden_size": 16, "num_layers": 1}}}
    assert build_model("prm", cfg, tok).config.hidden_size == 16
    assert build_model("prm", cfg, tok).config.num_hidden_layers == 1
    assert build_model("solver", cfg, tok).config.hidden_size == 32
    assert tiny_settings("solver", {"kind": "tiny"}) == TINY_DEFAULTS
    # vocab_size (read by the tokenizer trainer) is accepted; the model's vocab is len(tok)
    cfg = {**SMALL, "vocab_size": 999, "digit_places": 3}
    assert build_model("solver", cfg, tok).config.vocab_size == len(tok)


@pytest.mark.parametrize("cfg, message", [
    ({**SMALL, "hiden_size": 8}, r"unknown key\(s\) \['hiden_size'\]"),
    ({**SMALL, "hidden_size": 30}, "not divisible by model.num_heads"),
    ({**SMALL, "num_layers": 0}, "model.num_layers must be a positive int"),
    ({**SMALL, "arch": "bert"}, "model.arch must be one of"),
    ({**SMALL, "attention": "flash"}, r"model.attention must be one of \['eager', 'sdpa'\]"),
    ({**SMALL, "roles": {"prm": {"attention": 1}}}, "model.roles.prm.attention must be one of"),
    ({**SMALL, "roles": {"critic": {}}}, "model.roles"),
    ({**SMALL, "roles": {"prm": {"depth": 2}}}, r"model.roles.prm: unknown key"),
    ({"kind": "onnx"}, "model.kind must be"),
])
def test_bad_config_names_the_key(tok, cfg, message):
    with pytest.raises(ModelConfigError, match=message):
        build_model("prm", cfg, tok)


def test_attention_kernel_is_a_config_key_and_only_rounding_separates_the_kernels(tok):
    eager = build_model("solver", {**SMALL, "attention": "eager"}, tok, seed=7).eval()
    sdpa = build_model("solver", SMALL, tok, seed=7).eval()
    assert (eager.config._attn_implementation, sdpa.config._attn_implementation) == ("eager", "sdpa")
    batch = tok(["She buys 15 more, so 23 + 15 = 38."], return_tensors="pt")
    with torch.no_grad():
        a, b = eager(**batch).logits, sdpa(**batch).logits
    assert torch.allclose(a, b, atol=1e-5)


def test_unknown_role(tok):
    with pytest.raises(ModelConfigError, match="role"):
        build_model("critic", SMALL, tok)


@pytest.mark.parametrize("role", ["solver", "prm", "generator"])
def test_hf_path_loads_identical_model(tok, tmp_path, role):
    model = build_model(role, SMALL, tok, seed=7).eval()
    save_atomically(model, tok, tmp_path / role)
    cfg = {"kind": "hf", role: str(tmp_path / role)}
    loaded = build_model(role, cfg, tok).eval()
    assert type(loaded) is type(model)
    batch = tok(["She buys 15 more, so 23 + 15 = 38."], return_tensors="pt")
    with torch.no_grad():
        assert torch.equal(model(**batch).logits, loaded(**batch).logits)
    loaded_tok = load_tokenizer_for(cfg, role)
    assert loaded_tok("a 12\nb")["input_ids"] == tok("a 12\nb")["input_ids"]


def test_a_saved_model_reloads_with_the_attention_kernel_it_ran_with(tok, tmp_path):
    """transformers leaves the kernel out of config.json (a reload would run sdpa); save_atomically
    keeps it."""
    model = build_model("solver", {**SMALL, "attention": "eager"}, tok, seed=7).eval()
    save_atomically(model, tok, tmp_path / "solver")
    loaded = build_model("solver", {"kind": "hf", "solver": str(tmp_path / "solver")}, tok).eval()
    assert loaded.config._attn_implementation == "eager"
    batch = tok(["She buys 15 more, so 23 + 15 = 38."], return_tensors="pt")
    with torch.no_grad():
        assert torch.equal(model(**batch).logits, loaded(**batch).logits)


def test_hf_missing_path_and_offline_id_errors(tok, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelConfigError, match=r"model\.solver: local path .* does not exist"):
        build_model("solver", {"kind": "hf", "solver": str(tmp_path / "missing")}, tok)
    with pytest.raises(ModelConfigError,
                       match=r"model\.prm: cannot load 'no-such-org/no-such-model' offline"):
        build_model("prm", {"kind": "hf", "prm": "no-such-org/no-such-model"}, tok)
    with pytest.raises(ModelConfigError, match=r"model\.generator: expected an HF id"):
        build_model("generator", {"kind": "hf", "solver": "x"}, tok)
    with pytest.raises(ModelConfigError, match=r"model\.tokenizer"):
        load_tokenizer_for({"kind": "tiny"}, "solver")


def test_prm_init_solver_starts_from_the_solver_body(tok, tmp_path):
    solver = build_model("solver", SMALL, tok, seed=3)
    solver.save_pretrained(tmp_path / "solver")
    cfg = {**SMALL, "roles": {"prm": {"hidden_size": 16}}}
    prm = build_prm({**cfg, "prm_init": "solver"}, tok, tmp_path / "solver", seed=0)
    assert prm.config.num_labels == 2 and prm.config.hidden_size == SMALL["hidden_size"]
    body, solver_body = prm.model.state_dict(), solver.model.state_dict()
    assert body.keys() == solver_body.keys()
    assert all(torch.equal(body[k], solver_body[k]) for k in body)
    batch = tok(["She buys 15 more, so 23 + 15 = 38.<step>"], return_tensors="pt")
    assert prm(**batch).logits.shape[-1] == 2
    # the head is new and seeded: same seed, same head; "fresh" keeps the role's own sizes
    again = build_prm({**cfg, "prm_init": "solver"}, tok, tmp_path / "solver", seed=0)
    assert torch.equal(prm.score.weight, again.score.weight)
    assert build_prm(cfg, tok, tmp_path / "solver").config.hidden_size == 16


def test_prm_init_errors_name_the_key(tok, tmp_path):
    with pytest.raises(ModelConfigError, match=r"model\.prm_init must be one of"):
        build_prm({**SMALL, "prm_init": "policy"}, tok, tmp_path)
    with pytest.raises(ModelConfigError, match=r"model\.prm_init=solver: no trained solver"):
        build_prm({**SMALL, "prm_init": "solver"}, tok, tmp_path / "missing")
