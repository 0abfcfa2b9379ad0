"""train.verifier: the verifier LM every PRM reads, the solver continued on fresh ID problems."""

from __future__ import annotations

import pytest
import torch

TRAIN = {"problems": 12, "lr": 1e-3, "epochs": 1, "batch_size": 4, "drill_batch_size": 8, "max_length": 384,
         "warmup_ratio": 0.05, "weight_decay": 0.0, "grad_clip": 1.0}
DATA = {"source": "synthetic", "families": None}


def _weights(folder):
    from aprm.models.loading import load_causal_lm

    model, _ = load_causal_lm(folder)
    return {name: tensor.clone() for name, tensor in model.state_dict().items()}


def test_the_verifier_lm_continues_the_solver_and_is_the_same_for_the_same_seed(memorized_solver, tmp_path):
    from aprm.pipeline.verifier_stage import train_verifier_stage

    torch.set_num_threads(1)
    first = train_verifier_stage(str(memorized_solver.path), DATA, TRAIN, 0, tmp_path / "a", threads=1)
    train_verifier_stage(str(memorized_solver.path), DATA, TRAIN, 0, tmp_path / "b", threads=1)
    train_verifier_stage(str(memorized_solver.path), DATA, TRAIN, 1, tmp_path / "c", threads=1)
    assert first["examples"] == 12 and first["steps"] == 3 and first["drills"] > 0
    solver, a, b, c = (_weights(p) for p in (memorized_solver.path, tmp_path / "a" / "model",
                                             tmp_path / "b" / "model", tmp_path / "c" / "model"))
    assert all(torch.equal(a[k], b[k]) for k in a)  # same config and seed: same weights
    assert any(not torch.equal(a[k], solver[k]) for k in a)  # it trained
    assert any(not torch.equal(a[k], c[k]) for k in a)  # another seed draws other problems
    assert (tmp_path / "a" / "model" / "tokenizer.json").is_file()  # the solver's tokenizer, which every PRM reads with


def test_the_verifier_draws_none_of_the_runs_validation_or_test_problems():
    from aprm.data import build_splits
    from aprm.data.families import family_specs
    from aprm.data.synthetic import generate_split
    from aprm.hashing import derived_seed

    splits = build_splits({"source": "synthetic", "train_size": 50, "val_size": 200, "test_size": 200,
                           "suites": ["id"]}, 0)
    fresh = generate_split("train", 3000, derived_seed(0, "verifier-problems"), family_specs(None))
    held_out = {p.question for p in splits.val} | {p.question for p in splits.suites["id"]}
    assert not held_out & {p.question for p in fresh}
    assert len({p.question for p in fresh} & {p.question for p in splits.train}) < 5


def test_the_verifier_needs_problems_and_a_synthetic_source(memorized_solver, tmp_path):
    from aprm.pipeline.verifier_stage import train_verifier_stage

    with pytest.raises(ValueError, match=r"train\.verifier\.problems is 0"):
        train_verifier_stage(str(memorized_solver.path), DATA, {**TRAIN, "problems": 0}, 0, tmp_path)
    with pytest.raises(ValueError, match=r"train\.verifier\.problems=12 needs fresh problems.*data\.source=synthetic"):
        train_verifier_stage(str(memorized_solver.path), {"source": "gsm8k"}, TRAIN, 0, tmp_path)
    assert not any(tmp_path.iterdir())  # nothing written


def test_a_verifier_on_real_data_is_rejected_when_the_config_is_composed():
    from flows.config import ConfigError, compose_config

    with pytest.raises(ConfigError, match=r"train\.verifier\.problems=8: .*data\.source=synthetic"):
        compose_config(["experiment=gsm8k_tiny_ci", "train.verifier.problems=8"])
    with pytest.raises(ConfigError, match=r"train\.verifier\.problems"):
        compose_config(["experiment=smoke", "train.verifier.problems=-1"])
    assert compose_config(["experiment=benchmark"])["train"]["verifier"]["problems"] > 0
