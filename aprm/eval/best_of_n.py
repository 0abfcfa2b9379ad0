"""Best-of-n selection accuracy over the solver samples of one (method, suite).

Estimator: for each n the selector sees the *first* n samples of every problem. Samples are
drawn i.i.d., so the first n are a uniform random n-subset and the accuracy is an unbiased
estimate of best-of-n accuracy (higher variance than averaging over all n-subsets, but it keeps
one 0/1 outcome per problem, which the paired bootstrap in the report needs).

Deterministic tie-breaking everywhere: equal solution scores -> lowest sample index; equal vote
totals -> the answer that occurs first. A problem where the selector has nothing to pick (no
scorable sample, or no answer to vote for) counts as wrong.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from aprm.eval.aggregate import AGGREGATIONS, check_aggregation, is_scorable, solution_score
from aprm.eval.samples import ProblemSamples, Sample, answer_key, sample_count


def n_values(n_max: int) -> list[int]:
    """1, 2, 4, ... (powers of two below n_max), then n_max itself."""
    if isinstance(n_max, bool) or not isinstance(n_max, int) or n_max < 1:
        raise ValueError(f"n_max must be a positive integer, got {n_max!r}")
    out, n = [], 1
    while n < n_max:
        out.append(n)
        n *= 2
    return out + [n_max]


@dataclass(frozen=True)
class ScoredSamples:
    """What the selectors need from a problem's samples, computed once for every prefix n."""

    correct: tuple[bool, ...]
    scorable: tuple[bool, ...]
    vote_keys: tuple[str | None, ...]  # answer key of a valid sample, else None
    scores: dict[str, tuple[float, ...]]  # aggregation -> solution score per sample

    @classmethod
    def of(cls, samples: Sequence[Sample], aggs: Sequence[str]) -> "ScoredSamples":
        return cls(
            correct=tuple(s.correct for s in samples),
            scorable=tuple(is_scorable(s) for s in samples),
            vote_keys=tuple(answer_key(s.final_answer) if s.valid else None for s in samples),
            scores={a: tuple(solution_score(s, check_aggregation(a)) for s in samples)
                    for a in aggs},
        )

    def best(self, how: str, n: int) -> int | None:
        best, best_score = None, -math.inf
        for i in range(min(n, len(self.correct))):
            if self.scorable[i] and (best is None or self.scores[how][i] > best_score):
                best, best_score = i, self.scores[how][i]
        return best

    def weighted(self, how: str, n: int) -> int | None:
        idx = [i for i in range(min(n, len(self.correct)))
               if self.scorable[i] and self.vote_keys[i] is not None]
        if not idx:
            return None
        scores = self.scores[how]
        if how == "prod":  # log scores: exp(score - max) is a shared rescaling, no underflow
            top = max(scores[i] for i in idx)
            weights = [0.0 if top == -math.inf else math.exp(scores[i] - top) for i in idx]
        else:
            weights = [scores[i] for i in idx]
        groups: dict[str, list] = {}
        for i, weight in zip(idx, weights):
            groups.setdefault(self.vote_keys[i], [i, []])[1].append(weight)
        return _first_of_largest({k: (first, math.fsum(ws)) for k, (first, ws) in groups.items()})

    def majority(self, n: int) -> int | None:
        groups: dict[str, list] = {}
        for i in range(min(n, len(self.correct))):
            if self.vote_keys[i] is not None:
                groups.setdefault(self.vote_keys[i], [i, 0])[1] += 1
        if not groups:
            return None
        return _first_of_largest({k: (first, count) for k, (first, count) in groups.items()})

    def outcome(self, index: int | None) -> int:
        return int(index is not None and self.correct[index])


def _first_of_largest(totals: dict[str, tuple[int, float]]) -> int:
    """totals: answer -> (index of its first sample, total). Dicts keep insertion order, which
    is first-occurrence order, so max() returns the earliest answer among equal totals."""
    first, _ = max(totals.values(), key=lambda item: item[1])
    return first


def pick_best(samples: Sequence[Sample], how: str) -> int | None:
    """Index of the highest-scoring scorable sample (lowest index on ties); None if none."""
    return ScoredSamples.of(samples, [how]).best(how, len(samples))


def pick_weighted(samples: Sequence[Sample], how: str) -> int | None:
    """First sample of the answer with the largest total solution score among scorable samples
    (ties: the answer that occurs first); None if no scorable sample has an answer."""
    return ScoredSamples.of(samples, [how]).weighted(how, len(samples))


def pick_majority(samples: Sequence[Sample]) -> int | None:
    """First sample of the most frequent answer among valid samples (ties: first answer)."""
    return ScoredSamples.of(samples, []).majority(len(samples))


def _prepare(problems: Sequence[ProblemSamples], aggs: Sequence[str]) -> list[ScoredSamples]:
    return [ScoredSamples.of(p.samples, aggs) for p in problems]


def _check_n(problems: Sequence[ProblemSamples], n: int) -> None:
    n_max = sample_count(problems)
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= n_max:
        raise ValueError(f"n must be an integer in [1, {n_max}] (samples per problem), got {n!r}")


def best_of_n_outcomes(problems: Sequence[ProblemSamples], n: int, how: str) -> list[int]:
    _check_n(problems, n)
    return [s.outcome(s.best(how, n)) for s in _prepare(problems, [how])]


def weighted_outcomes(problems: Sequence[ProblemSamples], n: int, how: str) -> list[int]:
    _check_n(problems, n)
    return [s.outcome(s.weighted(how, n)) for s in _prepare(problems, [how])]


def majority_outcomes(problems: Sequence[ProblemSamples], n: int) -> list[int]:
    _check_n(problems, n)
    return [s.outcome(s.majority(n)) for s in _prepare(problems, [])]


def pass_at_outcomes(problems: Sequence[ProblemSamples], n: int) -> list[int]:
    """Oracle ceiling: 1 when any of the first n samples is correct (an upper bound only)."""
    _check_n(problems, n)
    return [int(any(s.correct for s in p.samples[:n])) for p in problems]


def random_outcomes(problems: Sequence[ProblemSamples], n: int, seed: int) -> list[int]:
    """Uniform choice among the first n samples, from a generator seeded by (seed, n)."""
    _check_n(problems, n)
    picks = np.random.default_rng([seed, n]).integers(0, n, size=len(problems))
    return [int(p.samples[int(k)].correct) for p, k in zip(problems, picks)]


def accuracy(outcomes: Sequence[int]) -> float:
    if not outcomes:
        raise ValueError("accuracy of an empty outcome list")
    return sum(outcomes) / len(outcomes)


def sample_counts(problems: Sequence[ProblemSamples]) -> dict[str, int]:
    """samples; invalid (valid=False); truncated; unscored (valid but no usable step scores)."""
    samples = [s for p in problems for s in p.samples]
    return {
        "samples": len(samples),
        "invalid": sum(not s.valid for s in samples),
        "truncated": sum(s.truncated for s in samples),
        "unscored": sum(s.valid and not is_scorable(s) for s in samples),
    }


def evaluate_selection(problems: Sequence[ProblemSamples], *, aggs: Sequence[str] = AGGREGATIONS,
                       seed: int = 0) -> dict:
    """Every selector at every n, keyed by str(n) so the dict is already JSON-shaped.

    per_problem holds the 0/1 outcomes at n = N (plus pass@1) aligned with problem_ids.
    """
    n_max = sample_count(problems)
    ns = n_values(n_max)
    aggs = [check_aggregation(a) for a in aggs]
    if not aggs:
        raise ValueError("aggs: expected at least one aggregation")
    prepared = _prepare(problems, aggs)
    per_n = {
        "best_of_n": {a: {n: [s.outcome(s.best(a, n)) for s in prepared] for n in ns}
                      for a in aggs},
        "weighted": {a: {n: [s.outcome(s.weighted(a, n)) for s in prepared] for n in ns}
                     for a in aggs},
        "majority": {n: [s.outcome(s.majority(n)) for s in prepared] for n in ns},
        "pass_at": {n: pass_at_outcomes(problems, n) for n in ns},
        "random": {n: random_outcomes(problems, n, seed) for n in ns},
    }
    per_problem = {"problem_ids": [p.problem_id for p in problems],
                   "pass_at_1": per_n["pass_at"][1], "pass_at_N": per_n["pass_at"][n_max],
                   "majority_N": per_n["majority"][n_max], "random_N": per_n["random"][n_max]}
    for a in aggs:
        per_problem[f"best_of_N_{a}"] = per_n["best_of_n"][a][n_max]
        per_problem[f"weighted_N_{a}"] = per_n["weighted"][a][n_max]
    return {
        "n_max": n_max,
        "best_of_n": {a: _accuracies(per_n["best_of_n"][a]) for a in aggs},
        "weighted": {a: _accuracies(per_n["weighted"][a]) for a in aggs},
        "majority": _accuracies(per_n["majority"]),
        "pass_at": _accuracies(per_n["pass_at"]),
        "random": _accuracies(per_n["random"]),
        "per_problem": per_problem,
        "counts": sample_counts(problems),
    }


def _accuracies(outcomes_by_n: dict[int, list[int]]) -> dict[str, float]:
    return {str(n): accuracy(outcomes) for n, outcomes in outcomes_by_n.items()}
