"""The run's stages as plain functions: inputs are plain dicts and paths, outputs are artifact
paths plus small metric dicts (never tensors), each with the stage's compute time `wall_s`.

`code` (the library's source hash) is an input so that a library change invalidates a cache;
`artifacts` so that each root caches apart. Each writes under a content-addressed folder of
`artifacts` (aprm.hashing.artifact_dir), so a stage called twice with the same inputs rewrites
the same files. What caches them, retries them and where they run is the caller's
(`aprm.pipeline.plan`'s runner: Prefect in `flows`, or a plain in-memory one).
"""

from __future__ import annotations

import functools
import time
from pathlib import Path
from typing import Callable

from aprm.hashing import artifact_dir


def timed(fn: Callable[..., dict]) -> Callable[..., dict]:
    """The one place a stage's compute time is measured: `wall_s` joins its returned dict, so a
    cached result keeps the time of the run that computed it."""
    @functools.wraps(fn)
    def run(*args, **kwargs) -> dict:
        start = time.perf_counter()
        value = fn(*args, **kwargs)
        return {**value, "wall_s": time.perf_counter() - start}

    return run


@timed
def prepare_data(data_cfg: dict, seed: int, artifacts: str, code: str) -> dict:
    from aprm.data import build_splits
    from aprm.io import write_json

    out = artifact_dir(artifacts, "data", {"data": data_cfg, "seed": seed, "code": code})
    splits = build_splits(data_cfg, seed)
    write_json(out / "splits.json", splits.to_dict())
    metrics = {"train": len(splits.train), "val": len(splits.val), "skipped_rows": splits.skipped}
    metrics.update({f"suite_{name}": len(rows) for name, rows in splits.suites.items()})
    return {"path": str(out / "splits.json"), "metrics": metrics,
            "skip_reasons": splits.skip_reasons[:20]}


@timed
def oracle_label(splits_path: str, oracle_cfg: dict, seed: int, artifacts: str, code: str) -> dict:
    from aprm.labeling import label_static_set

    out = artifact_dir(artifacts, "oracle", {"splits": splits_path, "oracle": oracle_cfg,
                                             "seed": seed, "code": code})
    metrics = label_static_set(Path(splits_path), oracle_cfg, seed, out / "static.jsonl")
    return {"path": str(out / "static.jsonl"), "metrics": metrics}


@timed
def train_solver(splits_path: str, model_cfg: dict, train_cfg: dict, seed: int, threads: int,
                 artifacts: str, code: str) -> dict:
    from aprm.pipeline.solver_stage import train_solver_stage

    out = artifact_dir(artifacts, "solver", {"splits": splits_path, "model": model_cfg,
                                             "train": train_cfg, "seed": seed, "code": code})
    metrics = train_solver_stage(splits_path, model_cfg, train_cfg, seed, out, threads)
    return {"path": str(out / "model"), "metrics": metrics}


@timed
def train_verifier(solver_dir: str, data_cfg: dict, train_cfg: dict, seed: int, threads: int,
                   artifacts: str, code: str) -> dict:
    """`data_cfg`: only what the fresh draw reads (source, families), so suite changes keep it."""
    from aprm.pipeline.verifier_stage import train_verifier_stage

    out = artifact_dir(artifacts, "verifier", {"solver": solver_dir, "data": data_cfg, "train": train_cfg,
                                               "seed": seed, "code": code})
    metrics = train_verifier_stage(solver_dir, data_cfg, train_cfg, seed, out, threads)
    return {"path": str(out / "model"), "metrics": metrics}


@timed
def sample_solutions(solver_dir: str, splits_path: str, suite: str, eval_cfg: dict,
                     backend_cfg: dict, seed: int, threads: int, artifacts: str, code: str,
                     limit: int | None = None) -> dict:
    from aprm.pipeline.common import load_splits
    from aprm.pipeline.samples_stage import sample_suite_stage

    splits = load_splits(splits_path)
    problems = {"val": splits.val, "pool": splits.train}.get(suite) or splits.suites[suite]
    problems = problems[:limit] if limit else problems
    out = artifact_dir(artifacts, "samples", {"solver": solver_dir, "suite": suite, "eval": eval_cfg,
                                              "backend": backend_cfg,
                                              "seed": seed, "limit": limit, "code": code})
    metrics = sample_suite_stage(solver_dir, problems, eval_cfg, backend_cfg, seed, out / "samples.jsonl", threads)
    return {"path": str(out / "samples.jsonl"), "metrics": metrics}


@timed
def processbench_suite(paths_cfg: dict, split: str, on_error: str, artifacts: str, code: str) -> dict:
    """A ProcessBench split in the sample-file format (one labelled solution per problem)."""
    from aprm.pipeline.processbench_stage import processbench_suite_stage

    out = artifact_dir(artifacts, "processbench", {"paths": paths_cfg, "split": split, "on_error": on_error,
                                                   "code": code})
    metrics = processbench_suite_stage(paths_cfg, split, on_error, out / "samples.jsonl")
    return {"path": str(out / "samples.jsonl"), "metrics": metrics}


@timed
def stored_samples(samples_file: str, digest: str, on_error: str, artifacts: str, code: str) -> dict:
    """A user's (or an earlier run's) sampled solutions in the sample-file format, labelled."""
    from aprm.data.errors import SkipLog
    from aprm.pipeline.stored_samples import load_stored_samples
    from aprm.io import write_jsonl
    from aprm.pipeline.samples_stage import suite_metrics

    out = artifact_dir(artifacts, "stored-samples", {"digest": digest, "on_error": on_error, "code": code})
    skips = SkipLog()
    rows = load_stored_samples(samples_file, on_error, skips)
    write_jsonl(out / "samples.jsonl", rows)
    return {"path": str(out / "samples.jsonl"),
            "metrics": {**suite_metrics(rows), "skipped_rows": skips.skipped}, "skip_reasons": skips.reasons}


@timed
def crossplay(attackers: dict, defenders: dict, solver_dir: str, splits_path: str, suite: str, crossplay_cfg: dict,
              perturbations: list, seed: int, threads: int, artifacts: str, code: str, baselines: bool = True) -> dict:
    """Attackers (each game's generators; with `baselines`, rules and the solver too) against every
    method's final PRM: part of a seed's cross-play matrix."""
    from aprm.pipeline.crossplay_stage import crossplay_stage

    out = artifact_dir(artifacts, "crossplay", {"attackers": attackers, "defenders": defenders, "solver": solver_dir,
                                                "splits": splits_path, "suite": suite, "crossplay": crossplay_cfg,
                                                "perturbations": perturbations, "seed": seed, "code": code,
                                                "baselines": baselines})
    value = crossplay_stage(attackers, defenders, solver_dir, splits_path, suite, crossplay_cfg, perturbations, seed,
                            out / "crossplay.jsonl", threads, baselines)
    return {"path": str(out / "crossplay.jsonl"), "attackers": attackers, **value}


@timed
def mc_rollouts(solver_dir: str, pool_path: str, method_cfg: dict, eval_cfg: dict, seed: int,
                threads: int, artifacts: str, code: str) -> dict:
    from aprm.pipeline.mc_stage import mc_rollout_stage

    out = artifact_dir(artifacts, "mc", {"solver": solver_dir, "pool": pool_path, "mc": method_cfg,
                                         "eval": eval_cfg, "seed": seed, "code": code})
    metrics = mc_rollout_stage(solver_dir, pool_path, method_cfg, eval_cfg, seed, out / "mc.jsonl", threads)
    return {"path": str(out / "mc.jsonl"), "metrics": metrics}


@timed
def train_prm(method: str, method_cfg: dict, inputs: dict, model_cfg: dict, train_cfg: dict,
              seed: int, threads: int, artifacts: str, code: str) -> dict:
    from aprm.pipeline.prm_stage import train_baseline_prm

    out = artifact_dir(artifacts, "prm", {"method": method, "cfg": method_cfg, "inputs": inputs,
                                          "model": model_cfg, "train": train_cfg, "seed": seed,
                                          "code": code})
    metrics = train_baseline_prm(method, method_cfg, inputs, model_cfg, train_cfg, seed, out, threads)
    return {"path": str(out / "model"), "metrics": metrics}


@timed
def evaluate(method: str, suite: str, prm_dir: str, samples_path: str, eval_cfg: dict, seed: int,
             threads: int, code: str, step_labels_only: bool = False, prm_format: str | None = None) -> dict:
    """`prm_format` None: a PRM this run trained; else a PRM given by model.prm in that format."""
    from aprm.pipeline.evaluate_stage import evaluate_method_on_suite

    return evaluate_method_on_suite(method, suite, prm_dir, samples_path, eval_cfg, seed, threads,
                                    step_labels_only, prm_format)


@timed
def report(results_inputs: dict, report_cfg: dict, artifacts: str, code: str) -> dict:
    """results.json + report.md + report.html under artifacts/runs/<config hash>/."""
    from aprm.pipeline.report_stage import report_stage

    out = Path(artifacts) / "runs" / results_inputs["config_hash"]
    paths = report_stage(results_inputs, report_cfg, out)
    return {"path": str(out / "results.json"), "paths": paths, "metrics": {}}


@timed
def game_setup(setup: dict, inputs: dict, model_cfg: dict, seed: int, threads: int, artifacts: str,
               code: str) -> dict:
    from aprm.pipeline.game_stage import game_setup_stage

    out = artifact_dir(artifacts, "game-setup", {"setup": setup, "inputs": inputs, "model": model_cfg,
                                                 "seed": seed, "code": code})
    return {**game_setup_stage(setup, inputs, model_cfg, seed, out, threads), "path": str(out)}


@timed
def prepare_game(game_cfg: dict, setup: dict, inputs: dict, artifacts: str, code: str) -> dict:
    from aprm.pipeline.game_stage import prepare_game_stage

    out = artifact_dir(artifacts, "game", {"game": game_cfg, "setup": setup, "inputs": inputs, "code": code})
    return {**prepare_game_stage(game_cfg, setup, inputs, out), "path": str(out)}


@timed
def game_round(kind: str, state: dict, round_idx: int, game_cfg: dict, seed: int, val_samples: str,
               eval_cfg: dict, threads: int, artifacts: str, code: str) -> dict:
    from aprm.pipeline.game_stage import game_round_stage

    out = artifact_dir(artifacts, "rounds", {"kind": kind, "state": state, "round": round_idx,
                                             "game": game_cfg, "seed": seed, "eval": eval_cfg,
                                             "code": code})
    result = game_round_stage(kind, state, round_idx, game_cfg, seed, val_samples, eval_cfg, out, threads)
    return {**result, "path": str(out)}


@timed
def rl_solver(reward: str, prm_dir: str | None, solver_dir: str, splits_path: str, rl_cfg: dict,
              score_batch_size: int, seed: int, threads: int, artifacts: str, code: str) -> dict:
    from aprm.pipeline.rl_stage import rl_solver_stage

    out = artifact_dir(artifacts, "rl", {"reward": reward, "prm": prm_dir, "solver": solver_dir, "splits": splits_path,
                                         "rl": rl_cfg, "seed": seed, "code": code})
    value = rl_solver_stage(reward, prm_dir, solver_dir, splits_path, rl_cfg, score_batch_size, seed, out, threads)
    metrics = {k: v for k, v in value.items() if k != "curve" and isinstance(v, (int, float)) and v is not None}
    return {"path": str(out / "model"), **value, "metrics": metrics}


@timed
def rl_evaluate(sft_samples: dict, rl_samples: dict, n_resamples: int, seed: int, code: str) -> dict:
    from aprm.pipeline.rl_stage import rl_evaluate_stage

    return {"suites": rl_evaluate_stage(sft_samples, rl_samples, n_resamples, seed), "metrics": {}}
