"""Two-round APRM and Adv-RM games end to end with tiny real models, the real oracle and TRL GRPO."""

import json

import pytest
import torch
from game_fixtures import PERTURB_KINDS, problems, tiny_model, tokenizer

from aprm.game.advrm_game import run_advrm_round
from aprm.game.aprm_game import run_round
from aprm.models.loading import load_prm
from aprm.game.generator import perturbation_pairs, warm_start_generator
from aprm.game.replay import Negative, ReplayBuffer
from aprm.game.state import prepare_state, reference_positives
from aprm.io import read_jsonl
from aprm.models.solver import save_atomically
from aprm.oracle import judge_step
from aprm.perturb import perturb_solution

GAME = {
    "g_steps_per_r_step": 1,
    "slots_per_round": 8,
    "prm_update": {"steps": 2, "batch_size": 4, "lr": 0.02},
    "generator_rl": {"prompts_per_step": 2, "num_generations": 2, "max_completion_length": 24},
    "probe": {"slots": 6, "kl_slots": 3, "max_new_tokens": 24},
    "replay": {"capacity": 64},
}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("game")
    tok, train, val = tokenizer(), list(problems()), list(problems("val", 6))
    pairs = perturbation_pairs(train, PERTURB_KINDS, 0, judge_step, perturb_solution, per_problem=2)
    assert pairs, "rule perturbations gave no oracle-wrong step"
    warm_start_generator(pairs, tok, tiny_model("generator"), {"epochs": 2, "batch_size": 8}, root / "g0")
    for k in range(2):
        save_atomically(tiny_model("prm", seed=k), tok, root / f"r0_{k}")
    static = [Negative(s.problem, s.prefix, w, "rule", -1, "perturbation")
              for s, w in perturbation_pairs(val, PERTURB_KINDS, 1, judge_step, perturb_solution)]
    initial = [Negative(s.problem, s.prefix, w, "rule", -1, "perturbation") for s, w in pairs[:6]]
    return {"root": root, "train": train, "static": static, "initial": initial}


def _state(world, name, prms):
    root = world["root"]
    return prepare_state(root / name, root / "g0", [root / p for p in prms], world["train"],
                         reference_positives(world["train"]), world["static"], GAME["replay"], world["initial"])


def _params(path):
    return [p.detach().clone() for p in load_prm(path)[0].parameters()]


def test_two_aprm_rounds(world):
    state = _state(world, "aprm", ["r0_0"])
    history = []
    for k in range(2):
        state, metrics = run_round(state, k, GAME, world["root"] / "aprm" / f"round_{k}")
        history.append(metrics)
        out = world["root"] / "aprm" / f"round_{k}"
        assert json.loads((out / "metrics.json").read_text())["round"] == k
        samples = read_jsonl(out / "samples.jsonl")
        # GRPO phase: steps * prompts_per_step * num_generations completions; probe: one per probe slot
        assert len(samples) == 2 * 2 * 2 + 6
        wrong = [s for s in samples if s["outcome"] in ("fooled", "caught")]
        assert metrics["fresh_negatives"] == len(wrong)
        assert all(s["label"] == "incorrect" for s in wrong)
        assert all(s["outcome"] == "failed" for s in samples if s["label"] != "incorrect")
        for key in ("fool_rate", "valid_rate", "static_acc", "static_acc_negatives", "static_auroc"):
            assert 0.0 <= metrics[key] <= 1.0, key
        assert metrics["kl_g_ref"] >= -1e-6 and metrics["wall_s"] > 0
        assert metrics["g_steps"] == 2 and metrics["r_steps"] == 2
        replay = ReplayBuffer.load(state["replay"])
        assert len(replay) == metrics["replay_size"] >= len(world["initial"])
    assert history[0]["r_optimizer_resumed"] is False and history[1]["r_optimizer_resumed"] is True
    # R moved away from R_0 (pulled back only by the anchor term); G's files are new each round
    r0, r2 = _params(world["root"] / "r0_0"), _params(state["prm"])
    assert any(not torch.equal(a, b) for a, b in zip(r0, r2))
    assert history[1]["r_anchor_sq_dist"] > 0
    assert state["generator"].endswith("round_1/generator") and state["generator_ref"].endswith("g0")


def test_two_advrm_rounds(world):
    state = _state(world, "advrm", ["r0_0", "r0_1"])
    cfg = {**GAME, "lam": 2.0, "prm_update": {**GAME["prm_update"], "optimizer": "adamw", "lr": 1e-3}}
    for k in range(2):
        state, metrics = run_advrm_round(state, k, cfg, world["root"] / "advrm" / f"round_{k}")
        samples = read_jsonl(world["root"] / "advrm" / f"round_{k}" / "samples.jsonl")
        scored = [s for s in samples if s["scores"]]
        assert metrics["scored_samples"] == len(scored)
        assert metrics["kept"] == sum(s["outcome"] == "kept" for s in samples)
        assert all(len(s["scores"]) == 2 for s in scored)
        for s in scored:  # the adversary reward is R_target - lambda * R_second
            assert s["reward"] == pytest.approx(s["scores"][0] - 2.0 * s["scores"][1], abs=1e-6)
        assert all(s["reward"] == -1.0 for s in samples if not s["scores"])
        assert len(state["prm_ensemble"]) == 2 and metrics["r_steps"] == 2
    assert state["prm_ensemble_ref"] == [str(world["root"] / "r0_0"), str(world["root"] / "r0_1")]


def test_grpo_kl_is_measured_against_the_fixed_reference(tmp_path):
    """TRL builds its reference copy from the policy's config path; the round points it at G_ref."""
    from aprm.game.generator import corruption_slots
    from aprm.game.generator_rl import train_generator_round

    tok = tokenizer()
    for seed in (0, 1):
        save_atomically(tiny_model("generator", seed=seed), tok, tmp_path / f"g{seed}")
    slots = corruption_slots(list(problems()[:2]))

    def reward_fn(slot_indices, texts, truncated):  # any varying reward will do
        return [float(len(t) % 3) for t in texts]

    cfg = {"steps": 1, "prompts_per_step": 2, "num_generations": 2, "max_completion_length": 8, "beta": 0.1}
    same = train_generator_round(tmp_path / "g1", tmp_path / "g1", slots, reward_fn, cfg, tmp_path / "same")
    other = train_generator_round(tmp_path / "g1", tmp_path / "g0", slots, reward_fn, cfg, tmp_path / "other")
    assert same["grpo_kl"] == pytest.approx(0.0, abs=1e-6)  # first step: policy == its reference
    assert other["grpo_kl"] > 1e-3  # 1000x the same-model tolerance; its size depends on the draws
    assert (tmp_path / "other" / "config.json").is_file() and same["steps"] == other["steps"] == 1
