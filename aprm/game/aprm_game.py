"""One APRM round: G attacks the current R, the oracle referees, then R learns from the errors.

Round k (state paths in, state paths out; see state.py):
1. G phase: k_G = g_steps_per_r_step * prm_update.steps GRPO steps of G_k on a seeded sample of
   training slots, rewarded by (oracle verdict, R_k's P(correct)) -> G_{k+1}.
2. Probe: G_{k+1} writes one corruption per probe slot (a fixed, seeded set of slots so rounds
   are comparable); the oracle labels them and R_k scores them *before* its update: fool rate,
   valid-corruption rate, R's accuracy on fresh negatives, error-type mix.
3. Replay: every oracle-wrong step from phases 1-2 enters the bounded replay buffer.
4. R phase: prm_update.steps steps of R_k's optimizer (OGDA by default, state carried across
   rounds) on positives + replay negatives, with an L2 pull toward R_0 -> R_{k+1}.
5. After: R_{k+1} on the probe negatives and on the static perturbation set; KL(G_{k+1}||G_ref).
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any, Mapping

import torch

from aprm.game.config import resolve_game_cfg
from aprm.game.generator import Slot, corruption_slots, generator_kl, sample_corruptions
from aprm.game.generator_rl import train_generator_round
from aprm.game.judge import CorruptionJudge, aprm_sample_metrics, verified_negatives
from aprm.game.players import load_r
from aprm.game.replay import Negative, ReplayBuffer
from aprm.game.rewards import RewardConfig
from aprm.game.state import APRM_KEYS, check_state, read_items, read_negatives, read_problems
from aprm.io import write_json, write_jsonl
from aprm.models.loading import load_causal_lm
from aprm.models.prm_metrics import auroc


def round_slots(all_slots: list[Slot], count: int, seed: str) -> list[Slot]:
    """A seeded sample (without replacement where possible) of slots, in a stable order."""
    rng = random.Random(seed)
    if count >= len(all_slots):
        return list(all_slots)
    return rng.sample(all_slots, count)


def static_scores(scorer, negatives: list[Negative]) -> tuple[list[float], list[float]]:
    """R's P(correct) of each static negative's wrong step and of the reference step it replaced."""
    wrong_items = [(n.problem, [*n.prefix, n.step]) for n in negatives]
    right_items = [(n.problem, [*n.prefix, n.problem.reference_steps[len(n.prefix)]]) for n in negatives]
    return [s[-1] for s in scorer.score_batch(wrong_items)], [s[-1] for s in scorer.score_batch(right_items)]


def static_accuracy(scorer, negatives: list[Negative], threshold: float) -> dict[str, float | None]:
    """R on the static perturbation set: rejects the wrong step / accepts the reference step there.

    static_auroc ranks the reference steps against the wrong ones without a threshold: the
    accuracies at a fixed threshold mostly move with R's bias, the AUROC only with what R tells apart.
    """
    if not negatives:
        return {"static_acc": None, "static_acc_negatives": None, "static_acc_positives": None, "static_auroc": None}
    return static_metrics(*static_scores(scorer, negatives), threshold)


def static_metrics(wrong: list[float], right: list[float], threshold: float) -> dict[str, float]:
    acc_neg = sum(p < threshold for p in wrong) / len(wrong)
    acc_pos = sum(p >= threshold for p in right) / len(right)
    return {"static_acc": (acc_neg + acc_pos) / 2, "static_acc_negatives": acc_neg, "static_acc_positives": acc_pos,
            "static_auroc": auroc(right + wrong, [1] * len(right) + [0] * len(wrong))}


def probe_negative_accuracy(scorer, negatives: list[Negative], threshold: float) -> float | None:
    """Fraction of `negatives` R rejects (P(correct) < threshold); None for none."""
    if not negatives:
        return None
    scores = scorer.score_batch([(n.problem, [*n.prefix, n.step]) for n in negatives])
    return sum(s[-1] < threshold for s in scores) / len(scores)


def run_round(state: Mapping[str, Any], round_idx: int, game_cfg: Mapping[str, Any], out_dir) -> tuple[dict, dict]:
    """Play APRM round `round_idx`; write G_{k+1}, R_{k+1}, replay and metrics under out_dir."""
    from aprm.oracle import judge_step

    started = time.perf_counter()
    cfg = resolve_game_cfg(game_cfg, "aprm")
    state = check_state(state, APRM_KEYS)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    seed = cfg["seed"]
    torch.manual_seed(seed * 1000 + round_idx)
    reward_cfg = RewardConfig.from_dict(cfg["rewards"])
    threshold = reward_cfg.threshold

    problems = read_problems(state["problems"])
    all_slots = corruption_slots(problems)
    slots_by_id = {s.slot_id: s for s in all_slots}
    train_slots = round_slots(all_slots, cfg["slots_per_round"], f"{seed}|train-slots|{round_idx}")
    probe_slots = round_slots(all_slots, cfg["probe"]["slots"], f"{seed}|probe-slots")

    r = load_r(state["prm"])
    scorer = r.scorer(cfg["scorer_batch_size"])

    # 1. G phase against the frozen R_k
    train_judge = CorruptionJudge(train_slots, judge_step, scorer, reward_cfg, "train", cfg["oracle_reference"])
    rl_cfg = {**cfg["generator_rl"], "seed": seed * 1000 + round_idx}
    g_metrics = train_generator_round(state["generator"], state["generator_ref"], train_slots, train_judge,
                                      rl_cfg, out / "generator")

    # 2. Probe: the new G against R_k, before R moves
    generator, gen_tok = load_causal_lm(out / "generator")
    probe = cfg["probe"]
    samples = sample_corruptions(generator, gen_tok, probe_slots, probe["temperature"], probe["max_new_tokens"],
                                 seed=seed * 1000 + round_idx)
    probe_judge = CorruptionJudge(probe_slots, judge_step, scorer, reward_cfg, "probe", cfg["oracle_reference"])
    probe_judge(list(range(len(probe_slots))), [s.text for s in samples], [s.truncated for s in samples])
    before = aprm_sample_metrics(probe_judge.records, threshold)
    during = aprm_sample_metrics(train_judge.records, threshold)

    # 3. Replay
    replay = ReplayBuffer.load(state["replay"])
    fresh = verified_negatives(train_judge.records + probe_judge.records, slots_by_id, round_idx)
    added = replay.extend(fresh)
    replay.save(out / "replay.jsonl")

    # 4. R phase
    opt_in = state.get("prm_optimizer")
    if len(replay):
        update_cfg = {**cfg["prm_update"], "seed": seed * 1000 + round_idx}
        r_metrics = r.update(read_items(state["positives"]), replay.training_items(), state["prm_ref"],
                             update_cfg, opt_in, out / "prm_optimizer.pt")
        opt_out = str(out / "prm_optimizer.pt")
    else:  # no verified negative yet (G never broke a step): nothing to learn from, R stays
        r_metrics = {"loss_last": None, "loss_first": None, "steps": 0, "anchor_sq_dist": None,
                     "optimizer_resumed": False}
        opt_out = opt_in
    r.save(out / "prm")

    # 5. After the update
    probe_negs = verified_negatives(probe_judge.records, slots_by_id, round_idx)
    after_acc = probe_negative_accuracy(scorer, probe_negs, threshold)
    static = static_accuracy(scorer, read_negatives(state["static_eval"]), threshold)
    ref_generator, _ = load_causal_lm(state["generator_ref"])
    kl_slots = probe_slots[: probe["kl_slots"]]
    kl = generator_kl(generator, ref_generator, gen_tok, kl_slots, probe["max_new_tokens"], seed=seed + 7919 * round_idx)

    write_jsonl(out / "samples.jsonl", (r.to_dict() for r in train_judge.records + probe_judge.records))
    metrics = {
        "round": round_idx,
        "fool_rate": before["fool_rate"],
        "valid_rate": before["valid_rate"],
        "fooled_given_valid": before["fooled_given_valid"],
        "prm_acc_fresh_before": before["prm_acc_on_negatives"],
        "prm_acc_fresh_after": after_acc,
        **static,
        "kl_g_ref": kl,
        "error_mix": before["error_mix"],
        "failure_mix": before["failure_mix"],
        "probe": before,
        "train_samples": during,
        "g_loss": g_metrics["loss"],
        "g_reward_mean": g_metrics["reward_mean"],
        "g_grpo_kl": g_metrics["grpo_kl"],
        "g_steps": g_metrics["steps"],
        "r_loss": r_metrics["loss_last"],
        "r_loss_first": r_metrics["loss_first"],
        "r_steps": r_metrics["steps"],
        "r_anchor_sq_dist": r_metrics["anchor_sq_dist"],
        "r_optimizer_resumed": r_metrics["optimizer_resumed"],
        "replay_size": len(replay),
        "replay_added": added,
        "fresh_negatives": len(fresh),
        "wall_s": time.perf_counter() - started,
    }
    write_json(out / "metrics.json", metrics)
    new_state = {**state, "generator": str(out / "generator"), "prm": str(out / "prm"),
                 "prm_optimizer": opt_out, "replay": str(out / "replay.jsonl")}
    return new_state, metrics
