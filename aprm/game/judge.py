"""Turn G's completions into rewards, and remember every judged sample.

`CorruptionJudge` (APRM): structural checks, the symbolic oracle, then R's P(correct) for the
step in context; the reward is `rewards.generator_reward`. `EnsembleJudge` (Adv-RM): structural
checks, then R_target - lambda * mean(R_others); no oracle. Both are callables
`(slot_indices, texts, truncated) -> rewards` as `generator_rl.train_generator_round` takes them,
and both keep a record of what they judged, from which the round takes its negatives and metrics.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence

from aprm.game.advrm import adversary_reward, check_lambda
from aprm.game.generator import Slot
from aprm.game.replay import Negative
from aprm.game.rewards import (
    CAUGHT,
    FAILED,
    FOOLED,
    Corruption,
    RewardConfig,
    classify,
    generator_reward,
    outcome_rates,
    text_defect,
)

JudgeStep = Callable[..., Any]  # aprm.oracle.judge_step(problem, prefix, step, reference=None) -> Verdict


@dataclass
class JudgedSample:
    slot_id: str
    text: str
    truncated: bool
    outcome: str  # fooled | caught | failed (APRM); kept | dropped | failed (Adv-RM, set later)
    why: str
    label: str | None = None  # oracle label (None: not asked)
    reason: str | None = None
    scores: list[float] = field(default_factory=list)  # R's P(correct) (one per ensemble member)
    reward: float = 0.0
    source: str = "train"  # train (GRPO rollouts) | probe (the round's evaluation sample)

    def to_dict(self) -> dict:
        return asdict(self)


def score_in_context(scorer, slots: Sequence[Slot], pairs: Sequence[tuple[int, str]]) -> list[float]:
    """P(correct) of each (slot index, step) as the next step after the slot's prefix, one batch."""
    if not pairs:
        return []
    items = [(slots[i].problem, [*slots[i].prefix, text]) for i, text in pairs]
    return [scores[-1] for scores in scorer.score_batch(items)]


def oracle_verdict(judge_step: JudgeStep, slot: Slot, text: str, use_reference: bool):
    """The oracle on `text` as the slot's step; with the reference solution its progress rule
    also catches a true equation on the wrong route (e.g. an operator swap)."""
    reference = list(slot.problem.reference_steps) if use_reference else None
    return judge_step(slot.problem, list(slot.prefix), text, reference=reference)


class CorruptionJudge:
    __name__ = "aprm_corruption_reward"

    def __init__(self, slots: Sequence[Slot], judge_step: JudgeStep, scorer, reward_cfg: RewardConfig,
                 source: str = "train", use_reference: bool = True):
        self.slots, self.judge_step, self.scorer, self.cfg = list(slots), judge_step, scorer, reward_cfg
        self.source, self.use_reference = source, use_reference
        self.records: list[JudgedSample] = []

    def judge(self, slot_indices: Sequence[int], texts: Sequence[str], truncated: Sequence[bool]) -> list[JudgedSample]:
        verdicts: list[Any] = [None] * len(texts)
        to_score: list[tuple[int, str]] = []
        rows: list[int] = []
        for row, (i, text, trunc) in enumerate(zip(slot_indices, texts, truncated)):
            slot = self.slots[i]
            if text_defect(text, slot.correct_step, self.cfg.max_step_chars, trunc) is not None:
                continue
            verdict = oracle_verdict(self.judge_step, slot, text, self.use_reference)
            verdicts[row] = verdict
            if verdict.label in ("correct", "incorrect"):
                to_score.append((i, text))
                rows.append(row)
        scores: list[float | None] = [None] * len(texts)
        for row, p in zip(rows, score_in_context(self.scorer, self.slots, to_score)):
            scores[row] = p
        out = []
        for row, (i, text, trunc) in enumerate(zip(slot_indices, texts, truncated)):
            slot, verdict = self.slots[i], verdicts[row]
            sample = Corruption(f"{slot.slot_id}/{self.source}{len(self.records) + row}", text, slot.correct_step,
                                verdict, scores[row], bool(trunc))
            outcome, why = classify(sample, self.cfg)
            out.append(JudgedSample(
                slot.slot_id, text, bool(trunc), outcome, why,
                None if verdict is None else verdict.label, None if verdict is None else verdict.reason,
                [] if scores[row] is None else [scores[row]], generator_reward(sample, self.cfg), self.source,
            ))
        return out

    def __call__(self, slot_indices: Sequence[int], texts: Sequence[str], truncated: Sequence[bool]) -> list[float]:
        judged = self.judge(slot_indices, texts, truncated)
        self.records.extend(judged)
        return [j.reward for j in judged]


class EnsembleJudge:
    """Adv-RM's adversary reward over an ensemble; member 0 is the target R."""

    __name__ = "advrm_adversary_reward"

    def __init__(self, slots: Sequence[Slot], scorers: Sequence[Any], lam: float, failed_reward: float,
                 max_step_chars: int, source: str = "train"):
        if len(scorers) < 2:
            raise ValueError(f"Adv-RM needs an ensemble of >= 2 PRMs, got {len(scorers)}")
        self.slots, self.scorers, self.lam = list(slots), list(scorers), check_lambda(lam)
        self.failed_reward, self.max_step_chars, self.source = float(failed_reward), max_step_chars, source
        self.records: list[JudgedSample] = []

    def judge(self, slot_indices: Sequence[int], texts: Sequence[str], truncated: Sequence[bool]) -> list[JudgedSample]:
        out: list[JudgedSample] = []
        ok = []
        for i, text, trunc in zip(slot_indices, texts, truncated):
            slot = self.slots[i]
            defect = text_defect(text, slot.correct_step, self.max_step_chars, trunc)
            out.append(JudgedSample(slot.slot_id, text if isinstance(text, str) else repr(text), bool(trunc),
                                    FAILED if defect else "scored", defect or "scored",
                                    reward=self.failed_reward, source=self.source))
            if defect is None:
                ok.append((len(out) - 1, i, text))
        member_scores = [score_in_context(s, self.slots, [(i, t) for _, i, t in ok]) for s in self.scorers]
        if ok:
            others = [sum(col) / len(col) for col in zip(*member_scores[1:])]
            rewards = adversary_reward(member_scores[0], others, self.lam)
            for k, (row, _, _) in enumerate(ok):
                out[row].scores = [m[k] for m in member_scores]
                out[row].reward = rewards[k]
        return out

    def __call__(self, slot_indices: Sequence[int], texts: Sequence[str], truncated: Sequence[bool]) -> list[float]:
        judged = self.judge(slot_indices, texts, truncated)
        self.records.extend(judged)
        return [j.reward for j in judged]


def verified_negatives(records: Sequence[JudgedSample], slots_by_id: dict[str, Slot], round_idx: int,
                       source: str = "generator") -> list[Negative]:
    """The oracle-wrong (fooled or caught) samples as replay entries."""
    out = []
    for rec in records:
        if rec.outcome in (FOOLED, CAUGHT):
            slot = slots_by_id[rec.slot_id]
            out.append(Negative(slot.problem, slot.prefix, rec.text, rec.reason or "unknown", round_idx, source))
    return out


def aprm_sample_metrics(records: Sequence[JudgedSample], threshold: float) -> dict[str, Any]:
    """Fool/valid rates, R's accuracy on the oracle-wrong and oracle-right samples, error-type mix."""
    rates = outcome_rates([r.outcome for r in records])
    wrong = [r for r in records if r.outcome in (FOOLED, CAUGHT)]
    right = [r for r in records if r.label == "correct" and r.scores]
    reasons = Counter(r.reason for r in wrong)
    failures = Counter(r.why for r in records if r.outcome == FAILED)
    return {
        **rates,
        "samples": len(records),
        "prm_acc_on_negatives": (sum(r.scores[0] < threshold for r in wrong) / len(wrong)) if wrong else None,
        "prm_acc_on_correct_rewrites": (sum(r.scores[0] >= threshold for r in right) / len(right)) if right else None,
        "reward_mean": sum(r.reward for r in records) / len(records) if records else None,
        "error_mix": {k: v / len(wrong) for k, v in sorted(reasons.items())} if wrong else {},
        "failure_mix": {k: v / len(records) for k, v in sorted(failures.items())} if records else {},
    }
