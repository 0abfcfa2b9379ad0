"""One Adv-RM round (Bukharin et al. 2025) on PRM steps, for comparison with APRM.

No oracle in the loop: G (the adversary) is paid R_target - lambda * mean(R_others) over an
ensemble of >= 2 PRMs trained with different seeds (member 0 is the target, the R this method
outputs). Samples whose ensemble disagreement z-score exceeds the threshold (advrm.py) are taken
as negatives, unverified, for every member's next update. The oracle only *reports* how many
kept samples are really wrong (kept_oracle_wrong_rate) against the base rate over all samples.
Structural defects (empty, endless, multi-line, copies) get `rewards.failed` without scoring:
they are format checks, not correctness checks, and the PRM cannot score an empty step.
"""

from __future__ import annotations

from typing import Any, Mapping

from aprm.game.advrm import disagreement_keep_mask
from aprm.game.judge import EnsembleJudge, oracle_verdict, score_in_context
from aprm.game.players import load_r
from aprm.game.replay import Negative
from aprm.game.round import (attack, close_round, extend_replay, generator_drift, member_seed, open_round,
                             static_accuracy, update_r)
from aprm.game.state import ADVRM_KEYS, read_negatives


def run_advrm_round(state: Mapping[str, Any], round_idx: int, game_cfg: Mapping[str, Any], out_dir) -> tuple[dict, dict]:
    from aprm.oracle import judge_step

    rnd = open_round("advrm", state, round_idx, game_cfg, out_dir, ADVRM_KEYS)
    cfg = rnd.cfg
    members, refs = list(rnd.state["prm_ensemble"]), list(rnd.state["prm_ensemble_ref"])
    if len(members) < 2 or len(members) != len(refs):
        raise ValueError(f"Adv-RM state needs >= 2 PRMs and one reference each, got {len(members)} and {len(refs)}")
    opt_states = list(rnd.state.get("prm_optimizers") or [None] * len(members))
    threshold = float(cfg["rewards"]["threshold"])
    loaded = [load_r(path) for path in members]
    scorers = [r.scorer(cfg["scorer_batch_size"]) for r in loaded]
    max_chars = int(cfg["rewards"]["max_step_chars"])

    # 1-2. the adversary against the ensemble, then the probe
    def judge(slots, source):
        return EnsembleJudge(slots, scorers, cfg["lam"], cfg["rewards"]["failed"], max_chars, source)

    train_judge = judge(rnd.train_slots, "train")
    hit = attack(rnd, train_judge, lambda slots: judge(slots, "probe"))
    probe_judge = hit.probe_judge

    # 3. disagreement filter over every scored sample of the round
    records = [r for r in train_judge.records + probe_judge.records if r.scores]
    matrix = [[r.scores[k] for r in records] for k in range(len(scorers))]
    baseline = None
    if cfg["z_baseline"] == "reference":
        ref_slots = {s.slot_id: s for s in rnd.train_slots + rnd.probe_slots}
        pairs = [(i, s.correct_step) for i, s in enumerate(ref_slots.values())]
        baseline = [score_in_context(sc, list(ref_slots.values()), pairs) for sc in scorers]
    keep, z = (disagreement_keep_mask(matrix, 0, cfg["disagreement"], cfg["z_threshold"], baseline)
               if records else ([], []))
    kept = [r for r, k in zip(records, keep) if k]
    for r, k, zi in zip(records, keep, z):
        r.outcome, r.why = ("kept", f"z={zi:.2f}") if k else ("dropped", f"z={zi:.2f}")
    for r in records:  # the oracle only reports: the filter's precision against the base rate
        verdict = oracle_verdict(judge_step, rnd.slots_by_id[r.slot_id], r.text, cfg["oracle_reference"])
        r.label, r.reason = verdict.label, verdict.reason

    slot_of = rnd.slots_by_id
    fresh = [Negative(slot_of[r.slot_id].problem, slot_of[r.slot_id].prefix, r.text, "advrm_kept", round_idx, "advrm")
             for r in kept]
    replay, added = extend_replay(rnd, fresh)

    # 4. every member learns from the kept negatives
    new_members, new_opts, r_metrics = [], [], []
    for k, (r, ref_path) in enumerate(zip(loaded, refs)):
        metrics_k, opt = update_r(rnd, r, replay, ref_path, member_seed(rnd.seed, round_idx, k), opt_states[k],
                                  rnd.out / f"prm_{k}_optimizer.pt")
        r_metrics.append(metrics_k)
        new_opts.append(opt)
        r.save(rnd.out / f"prm_{k}")
        new_members.append(str(rnd.out / f"prm_{k}"))

    probe_scored = [r for r in probe_judge.records if r.scores]
    metrics = close_round(rnd, train_judge.records + probe_judge.records, {
        "round": round_idx,
        "adversary_reward_mean": (sum(r.reward for r in probe_judge.records) / len(probe_judge.records))
        if probe_judge.records else None,
        "valid_format_rate": len(probe_scored) / len(probe_judge.records) if probe_judge.records else 0.0,
        "target_accepts_rate": (sum(r.scores[0] >= threshold for r in probe_scored) / len(probe_scored))
        if probe_scored else None,
        "scored_samples": len(records),
        "kept": len(kept),
        "kept_rate": len(kept) / len(records) if records else 0.0,
        "kept_oracle_wrong_rate": (sum(r.label == "incorrect" for r in kept) / len(kept)) if kept else None,
        "base_oracle_wrong_rate": (sum(r.label == "incorrect" for r in records) / len(records))
        if records else None,
        **static_accuracy(scorers[0], read_negatives(rnd.state["static_eval"]), threshold),
        "kl_g_ref": generator_drift(rnd, hit.generator, hit.tokenizer),
        "g_loss": hit.g_metrics["loss"],
        "g_reward_mean": hit.g_metrics["reward_mean"],
        "g_grpo_kl": hit.g_metrics["grpo_kl"],
        "g_steps": hit.g_metrics["steps"],
        "r_loss": r_metrics[0]["loss_last"],
        "r_steps": r_metrics[0]["steps"],
        "replay_size": len(replay),
        "replay_added": added,
    })
    new_state = {**rnd.state, "generator": str(rnd.out / "generator"), "prm_ensemble": new_members,
                 "prm_optimizers": new_opts, "replay": str(rnd.out / "replay.jsonl")}
    return new_state, metrics
