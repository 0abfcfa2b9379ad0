"""Stages of an adversarial game (`aprm` or `advrm`): set-up of round 0, then one round at a time.

Round 0: G_0 is a generator SFT-warm-started on oracle-verified rule perturbations (config flag);
R_0 is the static-data PRM (APRM) or an ensemble of static PRMs with different seeds (Adv-RM), so
the game starts where the static baseline ends and any gain is the game's. R's positives are the
reference solutions plus the oracle-correct prefixes of solver pool samples. G_0, the pairs and
the positives depend on `method.setup` only: one `game-setup` stage computes them for every game
of a seed with that set-up, and each game's `prepare-game` adds its R_0.

`method.setup` holds the set-up keys; the rest of `method` is the round config (aprm.game.config).
"""

from __future__ import annotations

from pathlib import Path

from aprm.game.generator import perturbation_pairs, warm_start_generator
from aprm.game.replay import Negative
from aprm.game.round import round_seed
from aprm.game.state import (final_prm, prepare_state, read_items, read_negatives, reference_positives,
                             solver_positives, write_items, write_negatives)
from aprm.methods import get_method, resolve
from aprm.models.factory import build_model
from aprm.models.loading import load_saved_tokenizer
from aprm.models.solver import save_atomically
from aprm.oracle import judge_step
from aprm.perturb import perturb_solution
from aprm.pipeline.common import load_splits, seed_everything
from aprm.pipeline.evaluate_stage import evaluate_method_on_suite
from aprm.pipeline.samples_stage import labeled_solutions, read_samples


def round_config(game_cfg: dict, seed: int) -> dict:
    return {**{k: v for k, v in game_cfg.items() if k != "setup"}, "seed": seed}


def _negatives(pairs) -> list[Negative]:
    return [Negative(slot.problem, slot.prefix, wrong, "rule", -1, "perturbation") for slot, wrong in pairs]


def game_setup_stage(setup: dict, inputs: dict, model_cfg: dict, seed: int, out_dir: Path,
                     threads: int | None = None) -> dict:
    """What every game of a seed starts from, computed once for all of them (`method.setup`): G_0,
    its rule pairs (the replay buffer's first negatives), the static check and R's positives.
    inputs: splits, solver_dir, pool (samples)."""
    seed_everything(seed, threads)
    splits = load_splits(inputs["splits"])
    train = splits.train[: int(setup["train_problems"])]
    kinds = list(setup["perturbations"])
    pairs = perturbation_pairs(train, kinds, seed, judge_step, perturb_solution,
                               per_problem=int(setup["perturbations_per_problem"]))
    static_eval = perturbation_pairs(splits.val, kinds, seed + 1, judge_step, perturb_solution)
    tokenizer = load_saved_tokenizer(inputs["solver_dir"])
    generator = build_model("generator", model_cfg, tokenizer, seed=seed)
    g0 = out_dir / "g0"
    warm = {}
    if setup["warm_start"]["enabled"]:
        options = {k: v for k, v in setup["warm_start"].items() if k != "enabled"}
        warm = warm_start_generator(pairs, tokenizer, generator, {**options, "seed": seed}, g0)
    else:
        save_atomically(generator, tokenizer, g0)
    positives = reference_positives(train) + solver_positives(labeled_solutions(read_samples(inputs["pool"])))
    files = {"rule_pairs": out_dir / "rule_pairs.jsonl", "static_eval": out_dir / "static_eval.jsonl",
             "positives": out_dir / "positives.jsonl"}
    write_negatives(files["rule_pairs"], _negatives(pairs))
    write_negatives(files["static_eval"], _negatives(static_eval))
    write_items(files["positives"], positives)
    metrics = {"rule_pairs": len(pairs), "static_eval": len(static_eval), "positives": len(positives),
               **{f"warm_{k}": v for k, v in warm.items() if isinstance(v, (int, float))}}
    return {"generator": str(g0), **{k: str(v) for k, v in files.items()}, "metrics": metrics}


def prepare_game_stage(game_cfg: dict, setup: dict, inputs: dict, out_dir: Path) -> dict:
    """Round 0 of one game: the shared set-up (`game_setup_stage`'s files) with this game's R_0
    and replay buffer. inputs: splits, r0_dirs (list of PRM folders)."""
    train = load_splits(inputs["splits"]).train[: int(game_cfg["setup"]["train_problems"])]
    pairs, static_eval = read_negatives(setup["rule_pairs"]), read_negatives(setup["static_eval"])
    positives = read_items(setup["positives"])
    state = prepare_state(out_dir / "state", setup["generator"], inputs["r0_dirs"], train, positives, static_eval,
                          game_cfg.get("replay", {}), pairs)
    metrics = {"rule_pairs": len(pairs), "static_eval": len(static_eval), "positives": len(positives)}
    return {"state": state, "metrics": metrics}


def game_round_stage(kind: str, state: dict, round_idx: int, game_cfg: dict, seed: int,
                     val_samples: str, eval_cfg: dict, out_dir: Path, threads: int | None = None) -> dict:
    """Play one round, then measure R_{k+1} by best-of-N on the ID validation samples."""
    seed_everything(round_seed(seed, round_idx), threads)
    play_round = resolve(get_method(kind).play_round)
    new_state, metrics = play_round(state, round_idx, round_config(game_cfg, seed), out_dir)
    val = evaluate_method_on_suite(kind, "val", final_prm(new_state), val_samples, eval_cfg, seed, threads)
    run = val["run"]
    n = run["n_max"]
    metrics[f"best_of_{n}_id_val"] = run["best_of_n"][eval_cfg["headline_aggregation"]][str(n)]
    # what R_{k+1} makes of the solver's own errors: a round that lowers it is a bug to explain
    metrics["step_auroc_solver_errors"] = val["metrics"]["step_auroc_solver_errors"]
    return {"state": new_state, "metrics": metrics}
