"""The solver's RL on a reward: the rewards (untrusted text and broken PRMs never crash a run),
GRPO resuming after a kill, and experiment=rl_smoke through the real Prefect flow and MLflow
store with its curves, post-RL table and report section."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from aprm.data import generate_split
from aprm.models.factory import build_model
from aprm.models.solver import format_prompt, format_solution, save_atomically
from aprm.models.tokenizer import train_tokenizer
from aprm.rl.rewards import SolutionReward

RL_CFG = {"aggregation": "min", "answer_weight": 0.0, "failure_reward": -0.5}


@pytest.fixture(scope="module")
def problems():
    return generate_split("train", 4, seed=0)


def _text(steps) -> str:
    return format_solution(steps).strip()


def _wrong_result(step: str) -> str:
    """The step with its `= C.` result off by one."""
    head, result = step.rsplit("= ", 1)
    return f"{head}= {int(result.rstrip('.')) + 1}."


def test_oracle_rewards_follow_the_oracle(problems):
    problem = problems[0]
    steps = list(problem.reference_steps)
    wrong_step = [_wrong_result(steps[0]), *steps[1:]]  # a wrong step, the right answer after it
    texts = [_text(steps), _text(wrong_step), "", _text(steps)]
    truncated = [False, False, False, True]
    outcome = SolutionReward("oracle_outcome", None, RL_CFG)([problem] * 4, texts, truncated)
    step = SolutionReward("oracle_step", None, RL_CFG)([problem] * 4, texts, truncated)
    assert outcome.correct == [True, True, False, False] and [fe >= 0 for fe in step.first_errors[:2]] == [False, True]
    assert outcome.rewards == [1.0, 1.0, -0.5, -0.5] and outcome.failed == 2
    assert step.rewards == [1.0, 0.0, -0.5, -0.5]  # min over the oracle's step labels: the step is caught
    mixed = SolutionReward("oracle_step", None, {**RL_CFG, "aggregation": "mean", "answer_weight": 0.5})
    judged = mixed([problem], [_text(wrong_step)], [False])
    assert judged.rewards == [pytest.approx(0.5 * 0.0 + 0.5 * 1.0)]  # step 0 wrong: labels 0,0,...; answer right


def test_a_prm_that_returns_nan_gives_the_failure_reward_and_is_counted(problems, tmp_path):
    from aprm.pipeline.evaluate_stage import load_step_scorer

    tok = train_tokenizer(format_prompt(p) + format_solution(p.reference_steps) for p in problems)
    prm = build_model("prm", {"kind": "tiny", "hidden_size": 32, "num_layers": 1, "num_heads": 2,
                              "intermediate_size": 64, "roles": {}}, tok, seed=0)
    with torch.no_grad():
        next(prm.parameters()).fill_(math.nan)
    save_atomically(prm, tok, tmp_path / "prm")
    reward = SolutionReward("static", load_step_scorer(str(tmp_path / "prm"), 8), RL_CFG)
    texts = [_text(p.reference_steps) for p in problems] + ["no answer line at all\n\n"]
    judged = reward(list(problems) + [problems[0]], texts, [False] * 5)
    assert judged.rewards == [-0.5] * 5
    assert judged.not_a_number == 5 and judged.failed == 0
    assert reward.totals == {"failed": 0, "not_a_number": 5, "completions": 5}


def test_grpo_resumes_from_its_last_checkpoint_after_a_kill(memorized_solver, tmp_path):
    from transformers import TrainerCallback

    from aprm.game.generator_rl import run_grpo
    from aprm.rl.curves import CurveRecorder

    class KillAtStep3(TrainerCallback):
        def on_step_end(self, args, state, control, **_):
            if state.global_step == 3:
                raise RuntimeError("killed at step 3")

    problems = memorized_solver.problems[:8]
    oracle = SolutionReward("oracle_outcome", None, RL_CFG)

    def reward_fn(indices, texts, truncated):
        return oracle([problems[i] for i in indices], texts, truncated).rewards

    def curve():
        return CurveRecorder(problems[:2], SolutionReward("oracle_outcome", None, RL_CFG, judge_steps=True),
                             memorized_solver.tokenizer, every=2, samples=1, temperature=1.0, max_new_tokens=48, seed=0, path=tmp_path / "curve.jsonl")

    cfg = {"steps": 4, "seed": 0, "prompts_per_step": 2, "num_generations": 2, "max_completion_length": 48}
    prompts = [format_prompt(p) for p in problems]
    path, out = memorized_solver.path, tmp_path / "rl" / "model"
    with pytest.raises(RuntimeError, match="killed at step 3"):
        run_grpo(path, path, prompts, reward_fn, cfg, out, callbacks=[curve(), KillAtStep3()], save_every=2)
    assert [c.name for c in (tmp_path / "rl" / ".model.grpo").glob("checkpoint-*")] == ["checkpoint-2"]
    assert not out.exists()
    recorder = curve()
    metrics = run_grpo(path, path, prompts, reward_fn, cfg, out, callbacks=[recorder], save_every=2)
    assert metrics["resumed"] and metrics["steps"] == 4
    assert [row["step"] for row in recorder.rows()] == [0, 2, 4]
    assert (out / "config.json").is_file() and not (tmp_path / "rl" / ".model.grpo").exists()


REWARDS = ["static", "orm", "likelihood", "oracle_outcome", "oracle_step"]


@pytest.mark.slow
def test_rl_smoke_runs_through_the_flow_with_curves_and_a_post_rl_table(prefect_server, tmp_path):
    from mlflow.tracking import MlflowClient

    from aprm.eval.results import load_results
    from aprm.eval.results_check import ResultsSchemaError, validate_results
    from flows.pipeline import aprm_pipeline

    summary = aprm_pipeline(overrides=["experiment=rl_smoke", f"paths.home={tmp_path}"])
    results = load_results(summary["results"])
    rows = {row["reward"]: row for row in results["rl"]}
    assert list(rows) == REWARDS and all(row["seed"] == 0 for row in rows.values())
    # pass@1 here is the mean accuracy of the N samples; one set of SFT samples (the run's own, the same N)
    sft_pass1 = {row["suites"]["id"]["pass1_sft"] for row in rows.values()}
    assert len(sft_pass1) == 1 and min(sft_pass1) > 0.05  # the first look's solver solves some problems
    for reward, row in rows.items():
        assert [point["step"] for point in row["curve"]] == [0, 3, 6], reward
        for point in row["curve"]:
            assert point["gap"] == pytest.approx(point["prm_judged"] - point["oracle_accuracy"])
        assert row["metrics"]["completions"] == 6 * 4 * 4 and row["metrics"]["steps"] == 6
        assert row["metrics"]["failed"] <= row["metrics"]["completions"]
        suite = row["suites"]["id"]
        assert suite["pass1_diff"] == pytest.approx(suite["pass1"] - suite["pass1_sft"])
        low, high = suite["pass1_ci"]
        assert low <= suite["pass1_diff"] <= high
    # the outcome reference judges with the oracle itself: it is never hacked
    assert all(point["gap"] == 0.0 for point in rows["oracle_outcome"]["curve"])
    assert rows["oracle_outcome"]["hacking_step"] is None
    bad = copy.deepcopy(results)
    bad["rl"][0]["curve"][1]["step"] = 0
    with pytest.raises(ResultsSchemaError, match=r"results\.rl\[0\]\.curve: steps must increase"):
        validate_results(bad)
    bad = copy.deepcopy(results)
    bad["rl"].append(bad["rl"][0])
    with pytest.raises(ResultsSchemaError, match=r"duplicate RL run for \(seed, reward\) = \(0, 'static'\)"):
        validate_results(bad)
    report = (tmp_path / "artifacts" / "runs" / summary["config_hash"] / "report.md").read_text()
    assert "## RL on each reward" in report and "| SFT solver |" in report
    assert 'alt="RL curves' in (tmp_path / "artifacts" / "runs" / summary["config_hash"] / "report.html").read_text()
    client = MlflowClient(tracking_uri=summary["tracking_uri"])
    child = client.search_runs([client.get_run(summary["mlflow_run_id"]).info.experiment_id],
                               filter_string="tags.stage = 'rl-solver' and tags.method = 'static'")[0]
    history = client.get_metric_history(child.info.run_id, "oracle_accuracy")
    assert sorted(m.step for m in history) == [0, 3, 6]
