"""Tiny real models and data for the game tests (imported by test_game_*.py, not a test module)."""

from __future__ import annotations

from functools import lru_cache

import torch

from aprm.data.synthetic import generate_split
from aprm.game.generator import corruption_slots, slot_prompt
from aprm.models.factory import build_model
from aprm.models.tokenizer import train_tokenizer

TINY = {
    "kind": "tiny",
    "hidden_size": 32,
    "num_layers": 1,
    "num_heads": 2,
    "intermediate_size": 64,
    "max_position_embeddings": 320,
}
PERTURB_KINDS = ["number_change", "operator_swap", "operand_swap", "dropped_step", "carry_error"]


@lru_cache(maxsize=None)
def problems(split: str = "train", n: int = 12):
    return tuple(generate_split(split, n, 0))


@lru_cache(maxsize=None)
def tokenizer():
    train = problems()
    texts = [p.question for p in train] + [s for p in train for s in p.reference_steps]
    texts += [slot_prompt(s) for s in corruption_slots(train[:2])]
    return train_tokenizer(texts, vocab_size=384)


def tiny_model(role: str, seed: int = 0):
    torch.set_num_threads(1)
    return build_model(role, TINY, tokenizer(), seed=seed)
