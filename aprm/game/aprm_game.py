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

from typing import Any, Mapping

from aprm.game.judge import CorruptionJudge, aprm_sample_metrics, verified_negatives
from aprm.game.players import load_r
from aprm.game.replay import Negative
from aprm.game.rewards import RewardConfig
from aprm.game.round import (attack, close_round, extend_replay, generator_drift, open_round, static_accuracy,
                             update_r)
from aprm.game.state import APRM_KEYS, read_negatives


def probe_negative_accuracy(scorer, negatives: list[Negative], threshold: float) -> float | None:
    """Fraction of `negatives` R rejects (P(correct) < threshold); None for none."""
    if not negatives:
        return None
    scores = scorer.score_batch([(n.problem, [*n.prefix, n.step]) for n in negatives])
    return sum(s[-1] < threshold for s in scores) / len(scores)


def run_round(state: Mapping[str, Any], round_idx: int, game_cfg: Mapping[str, Any], out_dir) -> tuple[dict, dict]:
    """Play APRM round `round_idx`; write G_{k+1}, R_{k+1}, replay and metrics under out_dir."""
    from aprm.oracle import judge_step

    rnd = open_round("aprm", state, round_idx, game_cfg, out_dir, APRM_KEYS)
    cfg = rnd.cfg
    reward_cfg = RewardConfig.from_dict(cfg["rewards"])
    threshold = reward_cfg.threshold
    r = load_r(rnd.state["prm"])
    scorer = r.scorer(cfg["scorer_batch_size"])

    # 1-2. G against the frozen R_k, then the probe, both refereed by the oracle
    train_judge = CorruptionJudge(rnd.train_slots, judge_step, scorer, reward_cfg, "train", cfg["oracle_reference"])
    hit = attack(rnd, train_judge, lambda slots: CorruptionJudge(slots, judge_step, scorer, reward_cfg, "probe",
                                                                 cfg["oracle_reference"]))
    records = train_judge.records + hit.probe_judge.records
    before = aprm_sample_metrics(hit.probe_judge.records, threshold)
    during = aprm_sample_metrics(train_judge.records, threshold)

    # 3. every oracle-wrong step of the round enters the replay buffer
    fresh = verified_negatives(records, rnd.slots_by_id, round_idx)
    replay, added = extend_replay(rnd, fresh)

    # 4. R's update
    r_metrics, opt_out = update_r(rnd, r, replay, rnd.state["prm_ref"], rnd.round_seed, rnd.state.get("prm_optimizer"),
                                  rnd.out / "prm_optimizer.pt")
    r.save(rnd.out / "prm")

    # 5. R_{k+1} on the probe's negatives and on the static set; G's drift
    probe_negs = verified_negatives(hit.probe_judge.records, rnd.slots_by_id, round_idx)
    metrics = close_round(rnd, records, {
        "round": round_idx,
        "fool_rate": before["fool_rate"],
        "valid_rate": before["valid_rate"],
        "fooled_given_valid": before["fooled_given_valid"],
        "prm_acc_fresh_before": before["prm_acc_on_negatives"],
        "prm_acc_fresh_after": probe_negative_accuracy(scorer, probe_negs, threshold),
        **static_accuracy(scorer, read_negatives(rnd.state["static_eval"]), threshold),
        "kl_g_ref": generator_drift(rnd, hit.generator, hit.tokenizer),
        "error_mix": before["error_mix"],
        "failure_mix": before["failure_mix"],
        "probe": before,
        "train_samples": during,
        "g_loss": hit.g_metrics["loss"],
        "g_reward_mean": hit.g_metrics["reward_mean"],
        "g_grpo_kl": hit.g_metrics["grpo_kl"],
        "g_steps": hit.g_metrics["steps"],
        "r_loss": r_metrics["loss_last"],
        "r_loss_first": r_metrics["loss_first"],
        "r_steps": r_metrics["steps"],
        "r_anchor_sq_dist": r_metrics["anchor_sq_dist"],
        "r_optimizer_resumed": r_metrics["optimizer_resumed"],
        "replay_size": len(replay),
        "replay_added": added,
        "fresh_negatives": len(fresh),
    })
    new_state = {**rnd.state, "generator": str(rnd.out / "generator"), "prm": str(rnd.out / "prm"),
                 "prm_optimizer": opt_out, "replay": str(rnd.out / "replay.jsonl")}
    return new_state, metrics
