"""Stage: one method's scores on one suite's shared samples -> a `results.json` run entry.

Best-of-n selection over the suite's N samples per problem, and first-error F1 against the
oracle's first-error labels of the same samples (samples whose outcome is wrong but where the
oracle flagged no step are left out of F1: their first error is not known).
"""

from __future__ import annotations

from typing import Sequence

from aprm.eval import evaluate_first_error, evaluate_selection
from aprm.eval.results import build_run
from aprm.eval.samples import ProblemSamples, Sample
from aprm.models.likelihood import is_likelihood_dir
from aprm.models.loading import load_prm
from aprm.models.surprise_head import is_head_dir, load_head_scorer, load_likelihood_scorer
from aprm.models.scorer import PRMScorer
from aprm.pipeline.common import seed_everything
from aprm.models.prm_metrics import auroc
from aprm.pipeline.samples_stage import process_labels, read_samples


def load_step_scorer(prm_dir: str, batch_size: int):
    """The scorer a method's folder holds: PRM weights, a head on the solver's surprise, or the
    `likelihood` verifier's config."""
    if is_likelihood_dir(prm_dir):
        return load_likelihood_scorer(prm_dir, batch_size=batch_size)
    if is_head_dir(prm_dir):
        return load_head_scorer(prm_dir, batch_size=batch_size)
    model, tokenizer = load_prm(prm_dir)
    return PRMScorer(model, tokenizer, batch_size=batch_size, on_overflow="score_zero")


def score_suite(prm_dir: str, rows, batch_size: int,
                prm_format: str | None = None) -> tuple[list[list[list[float]]], int]:
    if prm_format is None:
        scorer = load_step_scorer(prm_dir, batch_size)
    else:
        from aprm.models.prm_formats import load_scorer

        scorer = load_scorer(prm_dir, prm_format, batch_size)
    items = [(problem, s["steps"]) for problem, samples in rows for s in samples if s["steps"]]
    flat = iter(scorer.score_batch(items, desc="PRM scoring"))
    scores = [[next(flat) if s["steps"] else [] for s in samples] for _, samples in rows]
    return scores, scorer.n_overflowed


def evaluate_method_on_suite(method: str, suite: str, prm_dir: str, samples_path: str,
                             eval_cfg: dict, seed: int, threads: int | None = None,
                             step_labels_only: bool = False, prm_format: str | None = None) -> dict:
    """Best-of-N and first-error prediction of one method on one suite's samples; a suite of
    human step labels (ProcessBench: one solution per problem, no gold answer) gets first-error
    prediction only (n_max = 0)."""
    seed_everything(seed, threads)
    rows = read_samples(samples_path)
    scores, overflowed = score_suite(prm_dir, rows, int(eval_cfg["score_batch_size"]), prm_format)
    problems = [
        ProblemSamples(problem.id, tuple(
            Sample(correct=s["correct"], final_answer=s["final_answer"], step_scores=tuple(sc),
                   valid=bool(s["steps"]), truncated=s["truncated"])
            for s, sc in zip(samples, problem_scores)))
        for (problem, samples), problem_scores in zip(rows, scores)
    ]
    selection = None if step_labels_only else evaluate_selection(problems, aggs=eval_cfg["aggregations"], seed=seed)
    threshold = eval_cfg.get("first_error_threshold")  # absent: best-of-N only (a game round's val check)
    if step_labels_only and threshold is None:
        raise ValueError(f"suite {suite!r} has step labels only: eval.first_error_threshold must be set")
    first_error = None if threshold is None else _first_error(rows, scores, float(threshold))
    run = build_run(seed=seed, method=method, suite=suite, selection=selection, first_error=first_error)
    metrics = {**summary_metrics(run, eval_cfg, overflowed), **solver_error_auroc(rows, scores)}
    return {"run": run, "metrics": metrics}


def solver_error_auroc(rows, scores) -> dict:
    """The step AUROC on the samples' own errors: the oracle's process labels (every step up to
    the first wrong one, which is the negative; all steps of a correct solution) against the
    scores; None with one class only. What tells whether a PRM verifies *this* solver."""
    step_scores: list[float] = []
    step_labels: list[int] = []
    for (_, samples), problem_scores in zip(rows, scores):
        for sample, sample_scores in zip(samples, problem_scores):
            labeled = process_labels(sample)
            if labeled:
                step_scores += sample_scores[: len(labeled[1])]
                step_labels += labeled[1]
    both = 0 < sum(step_labels) < len(step_labels)
    return {"step_auroc_solver_errors": auroc(step_scores, step_labels) if both else None,
            "solver_wrong_steps": step_labels.count(0)}


def _first_error(rows, scores, threshold: float) -> dict:
    step_scores: list[Sequence[float]] = []
    labels: list[int] = []
    for (_, samples), problem_scores in zip(rows, scores):
        for sample, sample_scores in zip(samples, problem_scores):
            known = sample["first_error"] >= 0 or sample["correct"]
            if sample["steps"] and known:
                step_scores.append(sample_scores)
                labels.append(sample["first_error"])
    return evaluate_first_error(step_scores, labels, threshold)


def summary_metrics(run: dict, eval_cfg: dict, overflowed: int = 0) -> dict:
    """Flat metrics for MLflow: best_of_{n}_{agg}, majority_{n}, pass_at_{n}, first-error F1."""
    metrics: dict[str, float] = {"overflowed_samples": overflowed}
    for agg, curve in run["best_of_n"].items():
        metrics.update({f"best_of_{n}_{agg}": acc for n, acc in curve.items()})
    for key in ("majority", "pass_at"):
        metrics.update({f"{key}_{n}": acc for n, acc in run[key].items()})
    for key in ("acc_err", "acc_cor", "f1"):
        value = (run.get("first_error") or {}).get(key)
        if value is not None:
            metrics[f"first_error_{key}"] = value
    return metrics
