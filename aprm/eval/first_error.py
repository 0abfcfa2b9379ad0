"""First-error prediction from step scores, scored as in ProcessBench (arXiv 2412.06559).

Labels and predictions are 0-based step indices of the first wrong step, or -1 for "no error".
acc_err: exact-index accuracy on solutions with an error (label != -1);
acc_cor: accuracy on error-free solutions (label == -1, prediction must be -1);
f1: their harmonic mean, 0 when both are 0. A subset with no solutions has no accuracy: it is
reported as None, and so is f1 (ProcessBench's own script yields NaN there).
"""

from __future__ import annotations

from typing import Sequence


def predict_first_error(step_scores: Sequence[float], threshold: float = 0.5) -> int:
    """Index of the first step whose score is not >= threshold (NaN is flagged); -1 if none."""
    for i, score in enumerate(step_scores):
        if not float(score) >= threshold:
            return i
    return -1


def _check_index(value: int, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < -1:
        raise ValueError(f"{where}: expected an integer step index >= -1, got {value!r}")
    return value


def first_error_f1(predictions: Sequence[int], labels: Sequence[int]) -> dict:
    """ProcessBench metrics plus counts: {acc_err, acc_cor, f1, n, n_err, n_cor}."""
    if len(predictions) != len(labels):
        raise ValueError(f"predictions has {len(predictions)} entries, labels has {len(labels)}")
    err_hits = err_total = cor_hits = cor_total = 0
    for i, (pred, label) in enumerate(zip(predictions, labels)):
        _check_index(pred, f"predictions[{i}]")
        _check_index(label, f"labels[{i}]")
        if label == -1:
            cor_total += 1
            cor_hits += pred == -1
        else:
            err_total += 1
            err_hits += pred == label
    acc_err = err_hits / err_total if err_total else None
    acc_cor = cor_hits / cor_total if cor_total else None
    if acc_err is None or acc_cor is None:
        f1 = None
    elif acc_err + acc_cor == 0:
        f1 = 0.0
    else:
        f1 = 2 * acc_err * acc_cor / (acc_err + acc_cor)
    return {"acc_err": acc_err, "acc_cor": acc_cor, "f1": f1,
            "n": len(labels), "n_err": err_total, "n_cor": cor_total}


def evaluate_first_error(step_scores: Sequence[Sequence[float]], labels: Sequence[int],
                         threshold: float = 0.5) -> dict:
    """Predict from each solution's step scores, then score; the threshold is reported too."""
    if len(step_scores) != len(labels):
        raise ValueError(f"step_scores has {len(step_scores)} solutions, labels has {len(labels)}")
    predictions = [predict_first_error(scores, threshold) for scores in step_scores]
    return {**first_error_f1(predictions, labels), "threshold": threshold}
