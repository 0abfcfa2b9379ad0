"""Step-level PRM metrics: step accuracy, AUROC (rank formula) and ProcessBench first-error F1.

AUROC is scikit-learn's `roc_auc_score`. Scores are P(correct) per step; labels are 1 = correct
step, 0 = incorrect step.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from sklearn.metrics import roc_auc_score

DEFAULT_THRESHOLD = 0.5


def auroc(scores: Sequence[float], labels: Sequence[int]) -> float:
    """Area under the ROC curve for "label 1 scores higher"; NaN when one class is missing
    (scikit-learn raises there). A tie between a positive and a negative counts one half."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels)
    if scores.shape != labels.shape or scores.ndim != 1:
        raise ValueError(f"scores {scores.shape} and labels {labels.shape} must be equal 1-d")
    if not np.all(np.isin(labels, (0, 1))):
        raise ValueError("labels must be 0/1")
    if not np.all(np.isfinite(scores)):
        raise ValueError("scores must be finite")
    if len(np.unique(labels)) < 2:
        return math.nan
    return float(roc_auc_score(labels, scores))


def first_error_index(values: Sequence[float], threshold: float = DEFAULT_THRESHOLD) -> int:
    """Index of the first step with value < threshold, or -1 when every step passes."""
    for index, value in enumerate(values):
        if value < threshold:
            return index
    return -1


def first_error_f1(
    predicted: Sequence[int], reference: Sequence[int]
) -> dict[str, float]:
    """ProcessBench: harmonic mean of accuracy on erroneous solutions (predicted first-error
    index == reference) and accuracy on correct ones (predicted -1). An accuracy over an empty
    group is NaN, and so is F1 then; F1 is 0 when both accuracies are 0."""
    if len(predicted) != len(reference):
        raise ValueError(f"{len(predicted)} predictions but {len(reference)} references")
    erroneous = [p == r for p, r in zip(predicted, reference) if r != -1]
    correct = [p == -1 for p, r in zip(predicted, reference) if r == -1]
    acc_err = float(np.mean(erroneous)) if erroneous else math.nan
    acc_corr = float(np.mean(correct)) if correct else math.nan
    if math.isnan(acc_err) or math.isnan(acc_corr):
        f1 = math.nan
    elif acc_err + acc_corr == 0:
        f1 = 0.0
    else:
        f1 = 2 * acc_err * acc_corr / (acc_err + acc_corr)
    return {"first_error_f1": f1, "acc_erroneous": acc_err, "acc_correct": acc_corr,
            "n_erroneous": len(erroneous), "n_correct": len(correct)}


def step_metrics(
    step_scores: Sequence[Sequence[float]],
    step_labels: Sequence[Sequence[int]],
    threshold: float = DEFAULT_THRESHOLD,
) -> dict[str, float]:
    """All metrics over solutions given per-solution step scores and 0/1 step labels.

    The reference first error of a solution is its first 0-labelled step (-1 if none).
    """
    if len(step_scores) != len(step_labels):
        raise ValueError(f"{len(step_scores)} scored solutions but {len(step_labels)} labelled")
    flat_scores: list[float] = []
    flat_labels: list[int] = []
    predicted: list[int] = []
    reference: list[int] = []
    for index, (scores, labels) in enumerate(zip(step_scores, step_labels)):
        if len(scores) != len(labels):
            raise ValueError(f"solution {index}: {len(scores)} scores but {len(labels)} labels")
        flat_scores.extend(float(s) for s in scores)
        flat_labels.extend(int(v) for v in labels)
        predicted.append(first_error_index(scores, threshold))
        reference.append(first_error_index(labels, 0.5))
    scores_arr = np.asarray(flat_scores)
    labels_arr = np.asarray(flat_labels)
    majority = max(labels_arr.mean(), 1 - labels_arr.mean()) if labels_arr.size else math.nan
    accuracy = float(((scores_arr >= threshold) == (labels_arr == 1)).mean()) if labels_arr.size \
        else math.nan
    metrics = {
        "step_accuracy": accuracy,
        "majority_baseline": float(majority),
        "auroc": auroc(scores_arr, labels_arr) if labels_arr.size else math.nan,
        "n_steps": int(labels_arr.size),
        "n_solutions": len(step_scores),
    }
    metrics.update(first_error_f1(predicted, reference))
    return metrics
