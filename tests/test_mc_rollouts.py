"""Math-Shepherd rollout labels (aprm.pipeline.mc_stage): each distinct step prefix is rolled out
once, and the labels equal those of rolling out every (solution, step) on its own."""

from __future__ import annotations

from aprm.io import read_jsonl, write_jsonl
from aprm.models.solver import sample_solutions
from aprm.pipeline.mc_stage import mc_rollout_stage
from aprm.pipeline.samples_stage import is_correct

SETTINGS = {"temperature": 1.0, "top_p": 1.0, "max_new_tokens": 64}


def _pool(problems):
    """Per problem: the reference twice (all prefixes shared) and a solution whose second step is
    wrong (it shares the first prefix only)."""
    rows = []
    for p in problems:
        steps = list(p.reference_steps)
        wrong = [steps[0], steps[1].replace("=", "= 1"), *steps[2:]]
        rows.append({"problem": p.to_dict(), "samples": [
            {"steps": steps, "final_answer": p.answer, "correct": True, "truncated": False},
            {"steps": steps, "final_answer": p.answer, "correct": True, "truncated": False},
            {"steps": wrong, "final_answer": p.answer, "correct": False, "truncated": False}]})
    return rows


def test_each_distinct_prefix_is_rolled_out_once_with_the_labels_of_rolling_out_each(memorized_solver, tmp_path):
    problems = [p for p in memorized_solver.problems if len(p.reference_steps) >= 3][:4]
    pool = write_jsonl(tmp_path / "pool.jsonl", _pool(problems))
    metrics = mc_rollout_stage(str(memorized_solver.path), str(pool), {"samples_per_problem": 3, "rollouts": 3},
                               SETTINGS, seed=5, out_path=tmp_path / "mc.jsonl", threads=1)
    rows = read_jsonl(tmp_path / "mc.jsonl")
    per_problem = [len(p.reference_steps) - 1 for p in problems]
    requests = 3 * sum(per_problem)
    distinct = sum(per_problem) + sum(n - 1 for n in per_problem)  # the wrong one shares only its first
    assert metrics["shared_prefixes"] == requests - distinct and metrics["rollouts"] == 3 * distinct
    for problem, row in zip([p for p in problems for _ in range(3)], rows):
        steps = row["steps"]
        alone = sample_solutions(memorized_solver.model, memorized_solver.tokenizer, [problem] * (len(steps) - 1), n=3,
                                 seed=5, prefixes=[steps[: i + 1] for i in range(len(steps) - 1)], **SETTINGS)
        expected = [sum(is_correct(r.final_answer, problem.answer) and not r.truncated for r in drawn) / 3
                    for drawn in alone]
        assert row["rollout_accuracy"][:-1] == expected
    assert rows[0]["rollout_accuracy"] == rows[1]["rollout_accuracy"]
    assert rows[0]["rollout_accuracy"][0] == rows[2]["rollout_accuracy"][0]
    assert rows[2]["rollout_accuracy"][-1] == 0.0 and rows[0]["rollout_accuracy"][-1] == 1.0
