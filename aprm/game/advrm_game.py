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

import time
from pathlib import Path
from typing import Any, Mapping

import torch

from aprm.game.advrm import disagreement_keep_mask
from aprm.game.aprm_game import round_slots, static_accuracy
from aprm.models.loading import load_causal_lm
from aprm.game.config import resolve_game_cfg
from aprm.game.generator import corruption_slots, generator_kl, sample_corruptions
from aprm.game.generator_rl import train_generator_round
from aprm.game.judge import EnsembleJudge, oracle_verdict, score_in_context
from aprm.game.players import load_r
from aprm.game.replay import Negative, ReplayBuffer
from aprm.game.state import ADVRM_KEYS, check_state, read_items, read_negatives, read_problems
from aprm.io import write_json, write_jsonl


def run_advrm_round(state: Mapping[str, Any], round_idx: int, game_cfg: Mapping[str, Any], out_dir) -> tuple[dict, dict]:
    from aprm.oracle import judge_step

    started = time.perf_counter()
    cfg = resolve_game_cfg(game_cfg, "advrm")
    state = check_state(state, ADVRM_KEYS)
    members, refs = list(state["prm_ensemble"]), list(state["prm_ensemble_ref"])
    if len(members) < 2 or len(members) != len(refs):
        raise ValueError(f"Adv-RM state needs >= 2 PRMs and one reference each, got {len(members)} and {len(refs)}")
    opt_states = list(state.get("prm_optimizers") or [None] * len(members))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    seed = cfg["seed"]
    torch.manual_seed(seed * 1000 + round_idx)
    threshold = float(cfg["rewards"]["threshold"])

    problems = read_problems(state["problems"])
    all_slots = corruption_slots(problems)
    slots_by_id = {s.slot_id: s for s in all_slots}
    train_slots = round_slots(all_slots, cfg["slots_per_round"], f"{seed}|train-slots|{round_idx}")
    probe_slots = round_slots(all_slots, cfg["probe"]["slots"], f"{seed}|probe-slots")
    loaded = [load_r(path) for path in members]
    scorers = [r.scorer(cfg["scorer_batch_size"]) for r in loaded]
    max_chars = int(cfg["rewards"]["max_step_chars"])

    # 1. adversary phase
    train_judge = EnsembleJudge(train_slots, scorers, cfg["lam"], cfg["rewards"]["failed"], max_chars, "train")
    rl_cfg = {**cfg["generator_rl"], "seed": seed * 1000 + round_idx}
    g_metrics = train_generator_round(state["generator"], state["generator_ref"], train_slots, train_judge,
                                      rl_cfg, out / "generator")

    # 2. probe with the new adversary
    generator, gen_tok = load_causal_lm(out / "generator")
    probe = cfg["probe"]
    samples = sample_corruptions(generator, gen_tok, probe_slots, probe["temperature"], probe["max_new_tokens"],
                                 seed=seed * 1000 + round_idx)
    probe_judge = EnsembleJudge(probe_slots, scorers, cfg["lam"], cfg["rewards"]["failed"], max_chars, "probe")
    probe_judge(list(range(len(probe_slots))), [s.text for s in samples], [s.truncated for s in samples])

    # 3. disagreement filter over every scored sample of the round
    records = [r for r in train_judge.records + probe_judge.records if r.scores]
    matrix = [[r.scores[k] for r in records] for k in range(len(scorers))]
    baseline = None
    if cfg["z_baseline"] == "reference":
        ref_slots = {s.slot_id: s for s in train_slots + probe_slots}
        pairs = [(i, s.correct_step) for i, s in enumerate(ref_slots.values())]
        baseline = [score_in_context(sc, list(ref_slots.values()), pairs) for sc in scorers]
    keep, z = (disagreement_keep_mask(matrix, 0, cfg["disagreement"], cfg["z_threshold"], baseline)
               if records else ([], []))
    kept = [r for r, k in zip(records, keep) if k]
    for r, k, zi in zip(records, keep, z):
        r.outcome, r.why = ("kept", f"z={zi:.2f}") if k else ("dropped", f"z={zi:.2f}")
    for r in records:  # the oracle only reports: the filter's precision against the base rate
        verdict = oracle_verdict(judge_step, slots_by_id[r.slot_id], r.text, cfg["oracle_reference"])
        r.label, r.reason = verdict.label, verdict.reason

    replay = ReplayBuffer.load(state["replay"])
    fresh = [Negative(slots_by_id[r.slot_id].problem, slots_by_id[r.slot_id].prefix, r.text, "advrm_kept",
                      round_idx, "advrm") for r in kept]
    added = replay.extend(fresh)
    replay.save(out / "replay.jsonl")

    # 4. every member learns from the kept negatives
    positives = read_items(state["positives"])
    new_members, new_opts, r_metrics = [], [], []
    for k, (r, ref_path) in enumerate(zip(loaded, refs)):
        target = out / f"prm_{k}"
        opt_out = out / f"prm_{k}_optimizer.pt"
        if len(replay):
            update_cfg = {**cfg["prm_update"], "seed": seed * 1000 + round_idx * 10 + k}
            r_metrics.append(r.update(positives, replay.training_items(), ref_path, update_cfg, opt_states[k],
                                      opt_out))
            new_opts.append(str(opt_out))
        else:
            new_opts.append(opt_states[k])
        r.save(target)
        new_members.append(str(target))

    static = static_accuracy(scorers[0], read_negatives(state["static_eval"]), threshold)
    ref_generator, _ = load_causal_lm(state["generator_ref"])
    kl = generator_kl(generator, ref_generator, gen_tok, probe_slots[: probe["kl_slots"]], probe["max_new_tokens"],
                      seed=seed + 7919 * round_idx)
    probe_scored = [r for r in probe_judge.records if r.scores]
    write_jsonl(out / "samples.jsonl", (r.to_dict() for r in train_judge.records + probe_judge.records))
    metrics = {
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
        **static,
        "kl_g_ref": kl,
        "g_loss": g_metrics["loss"],
        "g_reward_mean": g_metrics["reward_mean"],
        "g_grpo_kl": g_metrics["grpo_kl"],
        "g_steps": g_metrics["steps"],
        "r_loss": r_metrics[0]["loss_last"] if r_metrics else None,
        "r_steps": r_metrics[0]["steps"] if r_metrics else 0,
        "replay_size": len(replay),
        "replay_added": added,
        "wall_s": time.perf_counter() - started,
    }
    write_json(out / "metrics.json", metrics)
    new_state = {**state, "generator": str(out / "generator"), "prm_ensemble": new_members,
                 "prm_optimizers": new_opts, "replay": str(out / "replay.jsonl")}
    return new_state, metrics
