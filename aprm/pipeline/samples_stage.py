"""Stage: N solver samples per problem of a suite, each labeled by the oracle.

Every method reranks these same samples, so comparisons between methods are paired. Each sample
carries `correct` (final answer equals the problem's answer) and `first_error` (the oracle's
first wrong step, reference-aware, -1 if none).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from aprm.eval.samples import answer_key
from aprm.io import read_jsonl, write_jsonl
from aprm.oracle import first_error
from aprm.pipeline.common import seed_everything
from aprm.progress import progress
from aprm.schema import LabeledSolution, Problem, Solution


def is_correct(final_answer: str | None, gold: str) -> bool:
    key = answer_key(final_answer)
    return key is not None and key == answer_key(gold)


def label_sample(problem: Problem, steps: Sequence[str], final_answer: str | None,
                 truncated: bool) -> dict:
    return {
        "steps": list(steps),
        "final_answer": final_answer,
        "truncated": truncated,
        "correct": is_correct(final_answer, problem.answer) and not truncated,
        "first_error": first_error(problem, steps, reference=list(problem.reference_steps)),
    }


def sample_suite_stage(solver_dir: str, problems: Sequence[Problem], eval_cfg: dict,
                       backend_cfg: dict, seed: int, out_path: Path,
                       threads: int | None = None) -> dict:
    from aprm.backends import make_backend
    from aprm.backends.solutions import sample_solutions_with

    seed_everything(seed, threads)
    with make_backend(backend_cfg, solver_dir) as backend:  # hf in process, or an OpenAI-style server
        samples = sample_solutions_with(
            backend, problems, n=int(eval_cfg["n_samples"]), temperature=float(eval_cfg["temperature"]),
            top_p=float(eval_cfg["top_p"]), max_new_tokens=int(eval_cfg["max_new_tokens"]), seed=seed)
    rows = []
    for problem, drawn in progress(zip(problems, samples), "oracle labels", len(problems), "problem"):
        labeled = [label_sample(problem, s.steps, s.final_answer, s.truncated) for s in drawn]
        rows.append({"problem": problem.to_dict(), "samples": labeled})
    write_jsonl(out_path, rows)
    return suite_metrics(rows)


def suite_metrics(rows: list[dict]) -> dict:
    n = len(rows[0]["samples"]) if rows else 0
    flat = [s for row in rows for s in row["samples"]]
    return {
        "problems": len(rows),
        "n_samples": n,
        "pass_at_1": sum(row["samples"][0]["correct"] for row in rows) / max(len(rows), 1),
        f"pass_at_{n}": sum(any(s["correct"] for s in row["samples"]) for row in rows) / max(len(rows), 1),
        "sample_accuracy": sum(s["correct"] for s in flat) / max(len(flat), 1),
        "truncated_rate": sum(s["truncated"] for s in flat) / max(len(flat), 1),
        "mean_steps": sum(len(s["steps"]) for s in flat) / max(len(flat), 1),
        "oracle_flagged_rate": sum(s["first_error"] >= 0 for s in flat) / max(len(flat), 1),
        # how much of the text could be used: no parsable step (invalid), cut at max_new_tokens
        # (truncated), or a wrong answer whose wrong step the oracle could not find (unknown: no
        # step label, left out of first-error scoring)
        "samples": len(flat),
        "invalid": sum(not s["steps"] for s in flat),
        "truncated": sum(s["truncated"] for s in flat),
        "unknown": sum(bool(s["steps"]) and not s["correct"] and s["first_error"] < 0 for s in flat),
    }


def read_samples(path: str | Path) -> list[tuple[Problem, list[dict]]]:
    return [(Problem.from_dict(row["problem"]), row["samples"]) for row in read_jsonl(path)]


def process_labels(sample: dict) -> tuple[list[str], list[int]] | None:
    """PRM training labels from the oracle: steps up to the first error labeled 1..1,0; all 1
    for a correct solution; None when the outcome is wrong but no step was flagged (ambiguous)."""
    steps, fe = sample["steps"], sample["first_error"]
    if not steps:
        return None
    if fe >= 0:
        return steps[: fe + 1], [1] * fe + [0]
    return (steps, [1] * len(steps)) if sample["correct"] else None


def labeled_solutions(rows: Sequence[tuple[Problem, list[dict]]]) -> list[LabeledSolution]:
    return [LabeledSolution(problem, Solution(tuple(s["steps"]), s["final_answer"]), s["first_error"])
            for problem, samples in rows for s in samples if s["steps"]]
