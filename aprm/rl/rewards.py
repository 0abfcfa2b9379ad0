"""A sampled solution's reward: a method's PRM score (aggregated over steps, optionally mixed with
the final-answer check) or the oracle's outcome or step labels. Generated text is untrusted: no
steps, text cut at the length limit, or a PRM score that is not a finite number gets the failure
reward, and each case is counted."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from aprm.eval.aggregate import aggregate
from aprm.models.scorer import NonFiniteScoreError
from aprm.models.text_format import parse_solution_text
from aprm.oracle import first_error
from aprm.pipeline.samples_stage import is_correct
from aprm.schema import Problem

ORACLE_OUTCOME, ORACLE_STEP = "oracle_outcome", "oracle_step"


@dataclass
class Judged:
    """One batch of solutions: the reward, what the PRM judged (its aggregated score; the oracle's
    own for a reference reward) and what the oracle says."""

    rewards: list[float] = field(default_factory=list)
    judged: list[float] = field(default_factory=list)
    correct: list[bool] = field(default_factory=list)
    first_errors: list[int] = field(default_factory=list)  # the oracle's first wrong step, -1 = none (judge_steps)
    failed: int = 0  # no steps or cut at the length limit
    not_a_number: int = 0  # the PRM gave NaN or inf


class SolutionReward:
    """reward(problems, texts, truncated) -> Judged. `scorer` is a step scorer
    (aprm.pipeline.evaluate_stage.load_step_scorer) for a method's PRM; None for a reference.
    The oracle judges every step only where it is read (`oracle_step`, or `judge_steps` for the
    curves): a PRM reward's training call checks the final answer alone."""

    def __init__(self, kind: str, scorer: Any, rl_cfg: Mapping[str, Any], judge_steps: bool = False):
        self.kind, self.scorer = kind, scorer
        self.agg = str(rl_cfg["aggregation"])
        self.answer_weight = float(rl_cfg["answer_weight"])
        self.failure = float(rl_cfg["failure_reward"])
        self.judge_steps = judge_steps or kind == ORACLE_STEP
        self.totals = {"failed": 0, "not_a_number": 0, "completions": 0}

    def __call__(self, problems: Sequence[Problem], texts: Sequence[str], truncated: Sequence[bool]) -> Judged:
        parsed = [parse_solution_text(text) for text in texts]
        usable = [i for i, (sol, cut) in enumerate(zip(parsed, truncated)) if sol.steps and not cut]
        out = Judged(correct=[is_correct(sol.final_answer, p.answer) and not cut
                              for p, sol, cut in zip(problems, parsed, truncated)])
        if self.judge_steps:
            out.first_errors = [first_error(p, sol.steps, reference=list(p.reference_steps))
                                for p, sol in zip(problems, parsed)]
        scores = self._scores(problems, parsed, out, usable)
        for i in range(len(texts)):
            if i not in scores:
                out.failed += 1
                out.rewards.append(self.failure)
                out.judged.append(0.0)
            elif not math.isfinite(score := scores[i]):
                out.not_a_number += 1
                out.rewards.append(self.failure)
                out.judged.append(0.0)
            else:
                out.judged.append(score)
                out.rewards.append((1.0 - self.answer_weight) * score + self.answer_weight * float(out.correct[i]))
        self.totals["failed"] += out.failed
        self.totals["not_a_number"] += out.not_a_number
        self.totals["completions"] += len(texts)
        return out

    def _scores(self, problems, parsed, judged: Judged, usable) -> dict[int, float]:
        """{index of a usable solution: its score}; unusable ones are absent."""
        if self.kind == ORACLE_OUTCOME:
            return {i: float(judged.correct[i]) for i in usable}
        if self.kind == ORACLE_STEP:
            return {i: aggregate(_oracle_step_labels(judged.first_errors[i], judged.correct[i], len(parsed[i].steps)),
                                 self.agg) for i in usable}
        items = [(problems[i], list(parsed[i].steps)) for i in usable]
        try:
            step_scores = self.scorer.score_batch(items)
        except NonFiniteScoreError:  # find which: each alone, the broken ones score NaN
            step_scores = [self._alone(item) for item in items]
        return {i: _aggregate_or_nan(s, self.agg) for i, s in zip(usable, step_scores)}

    def _alone(self, item) -> list[float]:
        try:
            return self.scorer.score_batch([item])[0]
        except NonFiniteScoreError:
            return [math.nan]


def _oracle_step_labels(first: int, correct: bool, n_steps: int) -> list[float]:
    """What a perfect PRM would say: 1 up to the oracle's first error, 0 from it; a solution with
    no flagged step gets its outcome on every step."""
    if first >= 0:
        return [1.0] * first + [0.0] * (n_steps - first)
    return [float(correct)] * n_steps


def _aggregate_or_nan(step_scores: Sequence[float], how: str) -> float:
    try:
        return aggregate(step_scores, how)
    except (ValueError, TypeError):
        return math.nan
