"""Solution scores from step scores.

A solution score ranks samples for best-of-n; larger is better. `prod` is kept in log space
(the sum of log step scores): a product of many probabilities underflows to 0.0 and would turn
every long solution into a tie, while its logarithm keeps the order exact.

A sample is *unscorable* when it is invalid, has no step scores, or has a non-finite step score
(NaN = the scorer failed). Its score is -inf and the selectors never pick it; note that a valid
sample whose `prod` contains a 0.0 step also scores -inf but stays eligible, so selectors use
`is_scorable` rather than the score to tell the two apart.
"""

from __future__ import annotations

import math
from typing import Sequence

from aprm.eval.samples import Sample

AGGREGATIONS = ("last", "min", "prod", "mean")


def check_aggregation(how: str) -> str:
    if how not in AGGREGATIONS:
        raise ValueError(f"aggregation must be one of {AGGREGATIONS}, got {how!r}")
    return how


def scores_usable(step_scores: Sequence[float]) -> bool:
    return bool(step_scores) and all(math.isfinite(s) for s in step_scores)


def is_scorable(sample: Sample) -> bool:
    return sample.valid and scores_usable(sample.step_scores)


def aggregate(step_scores: Sequence[float], how: str) -> float:
    """Solution score: last step, weakest step, log of the product, or mean; -inf if unusable."""
    check_aggregation(how)
    scores = [float(s) for s in step_scores]
    if not scores_usable(scores):
        return -math.inf
    for i, s in enumerate(scores):
        if not 0.0 <= s <= 1.0:
            raise ValueError(f"step_scores[{i}]: a step score is a probability in [0, 1], got {s}")
    if how == "last":
        return scores[-1]
    if how == "min":
        return min(scores)
    if how == "mean":
        return math.fsum(scores) / len(scores)
    if any(s == 0.0 for s in scores):
        return -math.inf
    return math.fsum(math.log(s) for s in scores)


def solution_score(sample: Sample, how: str) -> float:
    """`aggregate` for a sample, -inf when the sample is unscorable (invalid, empty, NaN)."""
    return aggregate(sample.step_scores, how) if is_scorable(sample) else -math.inf

