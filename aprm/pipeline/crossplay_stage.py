"""Stage: part of a seed's cross-play matrix (aprm.game.crossplay) on the ID test suite's problems.

Attackers: `rules` (the oracle's rule perturbations, one per problem at most), `solver` (the
solver's own next step after the slot's prefix: its natural errors, the kind best-of-N must
catch) and each generator folder given (APRM's G_0..G_K, Adv-RM's adversary after each round),
each writing one step per slot of a seeded sample of the suite's reference-solution slots. Defenders: every method's final
PRM. Every corruption, its oracle verdict and each defender's score go to crossplay.jsonl.
"""

from __future__ import annotations

import random
from pathlib import Path

from aprm.game.crossplay import CrossplayAttack, crossplay_cells, judge_attacks, score_attacks
from aprm.game.generator import Slot, corruption_slots, perturbation_pairs, sample_corruptions
from aprm.game.rewards import RewardConfig
from aprm.game.round import round_slots
from aprm.io import write_jsonl
from aprm.oracle import judge_step
from aprm.perturb import perturb_solution
from aprm.pipeline.common import load_splits, seed_everything

RULES, SOLVER = "rules", "solver"


def solver_attacks(solver_dir: str, slots: list[Slot], temperature: float, max_new_tokens: int,
                   seed: int) -> list[CrossplayAttack]:
    """The solver continues each slot's prefix; its first new step is the attack (most are right,
    and those are no valid corruption)."""
    from aprm.models.loading import load_causal_lm
    from aprm.models.sampling import sample_solutions

    model, tokenizer = load_causal_lm(solver_dir)
    drawn = sample_solutions(model, tokenizer, [slot.problem for slot in slots], n=1, temperature=temperature,
                             top_p=1.0, max_new_tokens=max_new_tokens, seed=seed,
                             prefixes=[slot.prefix for slot in slots], desc="cross-play: solver")
    attacks = []
    for slot, (sample,) in zip(slots, drawn):
        new = list(sample.steps[slot.index:])
        # cut at max_new_tokens inside its first step: no complete step to judge
        attacks.append(CrossplayAttack(SOLVER, slot, new[0] if new else "", sample.truncated and len(new) <= 1))
    return attacks


def crossplay_stage(attackers: dict[str, str], defenders: dict[str, str], solver_dir: str, splits_path: str,
                    suite: str, crossplay_cfg: dict, perturbations: list[str], seed: int, out_path: Path,
                    threads: int | None = None, baselines: bool = True) -> dict:
    """The cells of `attackers` (and, with `baselines`, of rules and the solver) against every
    defender. Every attacker writes on the same seeded slots, so a seed's matrix may be computed
    in parts, one per attacker."""
    from aprm.pipeline.evaluate_stage import load_step_scorer

    seed_everything(seed, threads)
    if not attackers and not baselines:
        raise ValueError("cross-play: no attacker (no generator folder, and baselines off)")
    problems = [p for p in load_splits(splits_path).suites[suite] if p.reference_steps]
    if not problems:
        raise ValueError(f"cross-play needs reference solutions: suite {suite!r} (eval.report.id_suite) has none")
    n = int(crossplay_cfg["slots"])
    slots = round_slots(corruption_slots(problems), n, f"{seed}|crossplay-slots")
    attacks = baseline_attacks(problems, slots, solver_dir, crossplay_cfg, perturbations, seed) if baselines else []
    for name, folder in attackers.items():
        attacks += generator_attacks(name, folder, slots, crossplay_cfg, seed)
    judge_attacks(attacks, judge_step, RewardConfig().max_step_chars)
    score_attacks(attacks, {name: load_step_scorer(folder, 64) for name, folder in defenders.items()})
    write_jsonl(out_path, (a.to_dict() for a in attacks))
    names = [*([RULES, SOLVER] if baselines else []), *attackers]
    cells = crossplay_cells(attacks, names, list(defenders), float(crossplay_cfg["threshold"]))
    metrics = {f"fool_rate/{c['attacker']}/{c['defender']}": c["fool_rate"] for c in cells}
    metrics.update({f"n_valid/{c['attacker']}": c["n_valid"] for c in cells})
    return {"cells": cells, "metrics": metrics}


def baseline_attacks(problems: list, slots: list[Slot], solver_dir: str, crossplay_cfg: dict,
                     perturbations: list[str], seed: int) -> list[CrossplayAttack]:
    """The rule perturbations (one per problem at most) and the solver's own next steps."""
    n = int(crossplay_cfg["slots"])
    rng = random.Random(f"{seed}|crossplay-rules")
    rule_pairs = perturbation_pairs(rng.sample(problems, min(n, len(problems))), perturbations, seed, judge_step,
                                    perturb_solution, per_problem=1)
    return [CrossplayAttack(RULES, slot, text) for slot, text in rule_pairs] + solver_attacks(
        solver_dir, slots, float(crossplay_cfg["temperature"]), int(crossplay_cfg["max_new_tokens"]), seed)


def generator_attacks(name: str, folder: str, slots: list[Slot], crossplay_cfg: dict,
                      seed: int) -> list[CrossplayAttack]:
    from aprm.models.loading import load_causal_lm

    generator, tokenizer = load_causal_lm(folder)
    steps = sample_corruptions(generator, tokenizer, slots, float(crossplay_cfg["temperature"]),
                               int(crossplay_cfg["max_new_tokens"]), seed=seed)
    return [CrossplayAttack(name, slot, step.text, step.truncated) for slot, step in zip(slots, steps)]
