"""Adv-RM pieces (Bukharin et al. 2025, "Adversarial Training of Reward Models", arXiv 2504.06141).

The paper trains an adversarial policy to maximise R_target(x, y) - lambda * R_second(x, y) with
lambda > 1: a response only pays when the target RM likes it and the second RM does not, so the
policy looks for the target's blind spots rather than for genuinely good responses. Successful
attacks are kept as rejected samples for the next RM. The paper reports rewards as z-scores
against the rewards of reference-policy responses to the same prompt; its keep rule uses such a
z-score above 1.96 (one-sided p < 0.025).

Our definition for PRM step scores (P(correct) from an ensemble of K >= 2 PRMs, member 0 the target):
- disagreement d_i = s_target(i) - mean_{k != target} s_k(i): signed, so only steps the target
  accepts *more* than the rest count (the direction the adversary is paid for); `kind="std"`
  uses the ensemble's standard deviation instead (unsigned, any split vote);
- z_i = (d_i - mu) / sigma with mu, sigma from a baseline of disagreements on in-distribution
  steps when given (the analogue of the paper's reference-policy normalisation), else from the
  batch itself; keep samples with z_i > threshold (1.96).
A constant baseline (sigma = 0) gives no evidence of disagreement: nothing is kept.
"""

from __future__ import annotations

import math
from typing import Sequence

Z_KEEP = 1.96
DISAGREEMENT_KINDS = ("signed", "std")


def _check_scores(name: str, values: Sequence[float]) -> list[float]:
    out = []
    for i, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ValueError(f"{name}[{i}]={v!r} is not a finite number")
        out.append(float(v))
    return out


def check_lambda(lam: float) -> float:
    """Adv-RM needs lambda > 1: with lambda <= 1 a response both RMs like is still paid."""
    if isinstance(lam, bool) or not isinstance(lam, (int, float)) or not math.isfinite(lam) or lam <= 1.0:
        raise ValueError(f"Adv-RM lambda={lam!r} must be a finite number > 1")
    return float(lam)


def adversary_reward(target: Sequence[float], second: Sequence[float], lam: float) -> list[float]:
    """R_target - lambda * R_second, element-wise over samples."""
    lam = check_lambda(lam)
    t, s = _check_scores("target", target), _check_scores("second", second)
    if len(t) != len(s):
        raise ValueError(f"target has {len(t)} scores but second has {len(s)}")
    return [a - lam * b for a, b in zip(t, s)]


def ensemble_disagreement(scores: Sequence[Sequence[float]], target: int = 0, kind: str = "signed") -> list[float]:
    """Per-sample disagreement of an ensemble; scores[k][i] is model k's score for sample i."""
    if kind not in DISAGREEMENT_KINDS:
        raise ValueError(f"unknown disagreement kind {kind!r}; choose one of {', '.join(DISAGREEMENT_KINDS)}")
    if len(scores) < 2:
        raise ValueError(f"Adv-RM needs an ensemble of >= 2 reward models, got {len(scores)}")
    if not 0 <= target < len(scores):
        raise ValueError(f"target index {target} outside the ensemble of {len(scores)}")
    rows = [_check_scores(f"scores[{k}]", row) for k, row in enumerate(scores)]
    n = len(rows[0])
    if any(len(r) != n for r in rows):
        raise ValueError(f"ensemble members scored different numbers of samples: {[len(r) for r in rows]}")
    out = []
    for i in range(n):
        column = [r[i] for r in rows]
        if kind == "signed":
            others = [v for k, v in enumerate(column) if k != target]
            out.append(column[target] - sum(others) / len(others))
        else:
            mean = sum(column) / len(column)
            out.append(math.sqrt(sum((v - mean) ** 2 for v in column) / len(column)))
    return out


def zscores(values: Sequence[float], baseline: Sequence[float] | None = None) -> list[float] | None:
    """Standardise values by the baseline's (or their own) mean and population std; None if std is 0."""
    values = _check_scores("values", values)
    ref = values if baseline is None else _check_scores("baseline", baseline)
    if len(ref) < 2:
        return None
    mean = sum(ref) / len(ref)
    std = math.sqrt(sum((v - mean) ** 2 for v in ref) / len(ref))
    if std <= 1e-12:
        return None
    return [(v - mean) / std for v in values]


def disagreement_keep_mask(
    scores: Sequence[Sequence[float]],
    target: int = 0,
    kind: str = "signed",
    threshold: float = Z_KEEP,
    baseline_scores: Sequence[Sequence[float]] | None = None,
) -> tuple[list[bool], list[float]]:
    """(keep mask, disagreement z-scores) for the samples in `scores` (see module docstring)."""
    if not math.isfinite(threshold):
        raise ValueError(f"z threshold={threshold!r} must be finite")
    d = ensemble_disagreement(scores, target, kind)
    base = None if baseline_scores is None else ensemble_disagreement(baseline_scores, target, kind)
    z = zscores(d, base)
    if z is None:
        return [False] * len(d), [0.0] * len(d)
    return [v > threshold for v in z], z
