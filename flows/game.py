"""The adversarial game in the flow: round-0 set-up, then each round as its own cached task, so a
killed run resumes at the first unfinished round with the earlier rounds taken from cache."""

from __future__ import annotations

import time

from aprm.hashing import artifact_dir, derived_seed
from flows.config import round_eval_settings
from flows.runtime import StageOutcome, run_stage, stage


@stage("prepare-game")
def prepare_game(game_cfg: dict, inputs: dict, model_cfg: dict, seed: int, threads: int,
                 artifacts: str, code: str) -> dict:
    from aprm.pipeline.game_stage import prepare_game_stage

    out = artifact_dir(artifacts, "game", {"game": game_cfg, "inputs": inputs, "model": model_cfg,
                                           "seed": seed, "code": code})
    start = time.perf_counter()
    result = prepare_game_stage(game_cfg, inputs, model_cfg, seed, out, threads)
    return {**result, "path": str(out), "wall_s": time.perf_counter() - start}


@stage("game-round")
def game_round(kind: str, state: dict, round_idx: int, game_cfg: dict, seed: int, val_samples: str,
               eval_cfg: dict, threads: int, artifacts: str, code: str) -> dict:
    from aprm.pipeline.game_stage import game_round_stage

    out = artifact_dir(artifacts, "rounds", {"kind": kind, "state": state, "round": round_idx,
                                             "game": game_cfg, "seed": seed, "eval": eval_cfg,
                                             "code": code})
    start = time.perf_counter()
    result = game_round_stage(kind, state, round_idx, game_cfg, seed, val_samples, eval_cfg, out, threads)
    return {**result, "path": str(out), "wall_s": time.perf_counter() - start}


def run_game(kind: str, game_cfg: dict, cfg: dict, inputs: dict, compute: dict, storage, tag: str):
    from aprm.game.state import final_prm  # torch-free: a fully cached run never imports torch here
    from aprm.methods import get_method
    from flows.pipeline import MethodResult
    from flows.stages import train_prm

    seed = compute["seed"]
    ensemble = int(game_cfg.get("ensemble_size", 1)) if kind == "advrm" else 1
    stages: list[StageOutcome] = []
    r0_dirs = []
    for member in range(ensemble):  # R_0: static PRMs (member 0 is the static baseline itself)
        # member 0 is the very stage the static baseline runs: one name, so it is listed once
        name = f"train-prm[static,{tag}" + (f",member={member}" if member else "") + "]"
        prm = run_stage(train_prm, name, storage, method="static",
                        method_cfg=get_method("static").cache_cfg({}), model_cfg=cfg["model"], train_cfg=cfg["train"]["prm"],
                        inputs={k: inputs[k] for k in ("tokenizer_dir", "val_samples", "static")},
                        **{**compute, "seed": seed if member == 0 else derived_seed(seed, "prm-member", member)})
        stages.append(prm)
        r0_dirs.append(prm.value["path"])
    setup = run_stage(prepare_game, f"prepare-game[{kind},{tag}]", storage, game_cfg=game_cfg,
                      inputs={"splits": inputs["splits"], "tokenizer_dir": inputs["tokenizer_dir"],
                              "pool": inputs["pool"], "r0_dirs": r0_dirs},
                      model_cfg=cfg["model"], **compute)
    stages.append(setup)
    state, rounds = setup.value["state"], []
    for k in range(int(game_cfg["rounds"])):
        outcome = run_stage(game_round, f"game-round[{kind},{k},{tag}]", storage, kind=kind, state=state,
                            round_idx=k, game_cfg=game_cfg, val_samples=inputs["val_samples"],
                            eval_cfg=round_eval_settings(cfg["eval"]), **compute)
        outcome.tags, outcome.step = {"method": kind, "round": str(k)}, k
        stages.append(outcome)
        state = outcome.value["state"]
        rounds.append(round_row(kind, seed, k, outcome.value["metrics"]))
    return MethodResult(final_prm(state), stages, rounds)


# The round metrics that go into results.json (all of them go to MLflow).
ROUND_KEYS = ("fool_rate", "valid_rate", "prm_acc_fresh_before", "prm_acc_fresh_after", "static_acc",
              "static_auroc",
              "kept_rate", "kept_oracle_wrong_rate", "base_oracle_wrong_rate", "kl_g_ref",
              "g_loss", "g_reward_mean", "r_loss", "wall_s")


def round_row(kind: str, seed: int, k: int, metrics: dict) -> dict:
    keep = [key for key in metrics if key in ROUND_KEYS or key.endswith("_id_val")]
    row = {"seed": seed, "method": kind, "round": k,
           "metrics": {key: float(metrics[key]) for key in keep if _finite(metrics[key])}}
    probe = metrics.get("probe") or {}
    wrong = probe.get("samples", 0) * (metrics.get("valid_rate") or 0.0)
    if metrics.get("error_mix") and wrong:
        row["error_types"] = {reason: int(round(share * wrong)) for reason, share in metrics["error_mix"].items()}
    return row


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value
