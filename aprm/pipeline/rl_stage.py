"""The solver's RL on one reward (`rl-solver[<reward>]`) and what it did to the solver on the test
suites (`rl-evaluate`): pass@1 and majority@N of the RL'd solver against the SFT solver's, with
paired bootstrap CIs over problems."""

from __future__ import annotations

from pathlib import Path
from statistics import fmean
from typing import Mapping

from aprm.io import write_json
from aprm.pipeline.common import load_splits, seed_everything

# The RL run's own metrics that go into results.json beside its curve.
RL_METRIC_KEYS = ("steps", "reward_first", "reward_last", "grpo_kl", "completions", "resumed")


def rl_solver_stage(reward: str, prm_dir: str | None, solver_dir: str, splits_path: str, rl_cfg: dict,
                    score_batch_size: int, seed: int, out_dir: Path, threads: int | None = None) -> dict:
    """GRPO of a copy of the SFT solver on ID train problems, rewarded by `reward` (a method's PRM
    at prm_dir, or a reference: aprm.rl.rewards); writes out_dir/model and out_dir/curve.json.
    Checkpoints every `eval_every` steps: a killed run resumes from its last checkpoint."""
    from aprm.game.generator_rl import run_grpo
    from aprm.models.loading import load_saved_tokenizer
    from aprm.models.text_format import format_prompt
    from aprm.pipeline.evaluate_stage import load_step_scorer
    from aprm.rl.curves import CurveRecorder, hacking_step
    from aprm.rl.rewards import ORACLE_OUTCOME, ORACLE_STEP, SolutionReward

    seed_everything(seed, threads)
    splits = load_splits(splits_path)
    problems = splits.train[: int(rl_cfg["train_problems"])]
    scorer = None if reward in (ORACLE_OUTCOME, ORACLE_STEP) else load_step_scorer(str(prm_dir), score_batch_size)
    train_reward = SolutionReward(reward, scorer, rl_cfg)

    def reward_fn(indices, texts, truncated) -> list[float]:
        return train_reward([problems[i] for i in indices], texts, truncated).rewards

    out_dir.mkdir(parents=True, exist_ok=True)
    grpo = rl_cfg["grpo"]
    curve_reward = SolutionReward(reward, scorer, rl_cfg, judge_steps=True)
    curve = CurveRecorder(splits.val[: int(rl_cfg["val_problems"])], curve_reward, load_saved_tokenizer(solver_dir),
                          every=int(rl_cfg["eval_every"]), samples=int(rl_cfg["val_samples"]),
                          temperature=float(grpo["temperature"]), max_new_tokens=int(grpo["max_completion_length"]),
                          seed=seed, path=out_dir / "curve.partial.jsonl")
    metrics = run_grpo(solver_dir, solver_dir, [format_prompt(p) for p in problems], reward_fn,
                       {**grpo, "steps": int(rl_cfg["steps"]), "seed": seed}, out_dir / "model",
                       callbacks=[curve], save_every=int(rl_cfg["eval_every"]), where="rl.grpo")
    rows = curve.rows()
    write_json(out_dir / "curve.json", rows)
    (out_dir / "curve.partial.jsonl").unlink()
    return {"curve": rows, "hacking_step": hacking_step(rows, float(rl_cfg["hacking_margin"])),
            "failed": train_reward.totals["failed"], "not_a_number": train_reward.totals["not_a_number"],
            **{key: metrics[key] for key in RL_METRIC_KEYS}}


def rl_evaluate_stage(sft_samples: Mapping[str, str], rl_samples: Mapping[str, str], n_resamples: int,
                      seed: int) -> dict[str, dict]:
    """{suite: pass@1 and majority@N of the RL'd and the SFT solver, and their paired differences
    with a bootstrap CI over problems}."""
    from aprm.report.stats import paired_difference

    out = {}
    for suite, path in rl_samples.items():
        rl, sft = _per_problem(path), _per_problem(sft_samples[suite])
        if [pid for pid, *_ in rl] != [pid for pid, *_ in sft]:
            raise ValueError(f"rl-evaluate: the RL'd and SFT samples of {suite!r} are not on the same problems")
        row = {}
        for k, name in ((1, "pass1"), (2, "majority")):
            a, b = [r[k] for r in rl], [r[k] for r in sft]
            diff = paired_difference(a, b, n_resamples=n_resamples, seed=seed)
            row.update({name: fmean(a), f"{name}_sft": fmean(b), f"{name}_diff": diff.diff,
                        f"{name}_ci": [diff.low, diff.high]})
        out[suite] = row
    return out


def _per_problem(path: str) -> list[tuple[str, float, int]]:
    """(problem id, fraction of samples correct, majority vote correct) per problem."""
    from aprm.eval.best_of_n import majority_outcomes
    from aprm.eval.samples import ProblemSamples, Sample
    from aprm.pipeline.samples_stage import read_samples

    rows = read_samples(path)
    problems = [ProblemSamples(p.id, tuple(Sample(correct=s["correct"], final_answer=s["final_answer"], step_scores=(),
                                                  valid=bool(s["steps"]), truncated=s["truncated"]) for s in samples))
                for p, samples in rows]
    votes = majority_outcomes(problems, min(len(p.samples) for p in problems))
    return [(p.id, sum(s["correct"] for s in samples) / len(samples), vote)
            for (p, samples), vote in zip(rows, votes)]


