"""Utilities of the two players in the APRM game.

G (the generator) rewrites a correct step into a wrong one. Its reward has three cases (APRM,
arXiv 2511.22888; the values are not published, so they are config):

- fooled: the oracle says the step is wrong and R still gives it P(correct) >= threshold;
- caught: the oracle says the step is wrong and R gives it P(correct) < threshold;
- failed: G did not produce a checkable wrong step: the oracle says correct or cannot decide
  (unknown, unparseable, out of bounds), or the text is empty, endless (truncated / too long),
  multi-line, not text, holds the PRM's step separator, or copies the correct step verbatim.

With `fooled_scaled` every oracle-wrong step earns caught + (fooled - caught) * P_R(correct),
a dense signal (equal to P_R(correct) with the default values) instead of a 0/1 step at the
threshold, so G's policy gradient is not zero while R catches everything.

R's reward is 1 for agreeing with the oracle on a decided step, 0 otherwise.
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import asdict, dataclass
from typing import Any, Iterable, Mapping, Protocol

from aprm.models.text_format import STEP_TOKEN, has_line_break
from aprm.structured import build_config

FOOLED, CAUGHT, FAILED = "fooled", "caught", "failed"
OUTCOMES = (FOOLED, CAUGHT, FAILED)

# Oracle reasons that mean "could not check", even if a label came with them.
_UNDECIDED_REASONS = frozenset({"unparseable", "bounds"})
_BAD_CATEGORIES = frozenset({"Cc", "Cs", "Co", "Cn"})  # control, surrogate, private use, unassigned
# A step that contains the PRM's step separator would be read as two steps and shift every label.
RESERVED_MARKERS = (STEP_TOKEN,)


class VerdictLike(Protocol):
    """What the game reads from `aprm.oracle.Verdict`."""

    label: str
    reason: str


@dataclass
class RewardConfig:
    fooled: float = 1.0
    caught: float = 0.0
    failed: float = -1.0
    fooled_scaled: bool = False
    threshold: float = 0.5  # R "accepts" a step when P(correct) >= threshold
    max_step_chars: int = 400  # longer than any synthetic step by ~5x: treated as endless

    def __post_init__(self) -> None:
        for name in ("fooled", "caught", "failed", "threshold"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"{name}={value!r} must be a finite number")
        if not self.fooled > self.caught > self.failed:
            raise ValueError(
                "caught: need fooled > caught > failed so that fooling R pays most and a "
                f"failed corruption least; got fooled={self.fooled}, caught={self.caught}, failed={self.failed}"
            )
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"threshold={self.threshold} must be in (0, 1)")
        if isinstance(self.max_step_chars, bool) or not isinstance(self.max_step_chars, int) or self.max_step_chars < 1:
            raise ValueError(f"max_step_chars={self.max_step_chars!r} must be a positive int")

    @classmethod
    def from_dict(cls, cfg: Mapping[str, Any] | None) -> "RewardConfig":
        """Defaults for missing keys; an unknown key or a bad value names `method.rewards.<key>`."""
        return build_config(cls, cfg, "method.rewards")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Corruption:
    """One G sample, ready to be rewarded.

    text: G's step as generated (untrusted; may be anything); verdict: the oracle's verdict on it,
    None when the text never reached the oracle; p_correct: R's P(correct) for it, None when R did
    not score it; truncated: generation stopped at its token limit (no end of line).
    """

    sample_id: str
    text: Any
    correct_step: str
    verdict: VerdictLike | None = None
    p_correct: float | None = None
    truncated: bool = False


def text_defect(text: Any, correct_step: str, max_chars: int, truncated: bool = False) -> str | None:
    """Why `text` cannot be a corrupted step before any oracle looks at it, or None if it can."""
    if not isinstance(text, str):
        return "non_text"
    if truncated or len(text) > max_chars:
        return "endless"
    stripped = text.strip()
    if not stripped:
        return "empty"
    if has_line_break(stripped):
        return "multi_line"
    if any(unicodedata.category(ch) in _BAD_CATEGORIES for ch in stripped):
        return "non_text"
    if any(marker in stripped for marker in RESERVED_MARKERS):
        return "reserved_marker"
    if _normalise(stripped) == _normalise(correct_step):
        return "copy"
    return None


def _normalise(step: str) -> str:
    return " ".join(step.split())


def check_probability(sample_id: str, p: Any) -> float:
    """R's P(correct) as a float in [0, 1]; anything else (NaN included) is an error naming the sample."""
    if isinstance(p, bool) or not isinstance(p, (int, float)):
        raise ValueError(f"sample {sample_id}: R's P(correct) must be a number, got {type(p).__name__} {p!r}")
    p = float(p)
    if math.isnan(p) or not 0.0 <= p <= 1.0:
        raise ValueError(f"sample {sample_id}: R's P(correct)={p!r} is not a probability in [0, 1]")
    return p


def invalid_reason(text: Any, correct_step: str, verdict: VerdictLike | None, max_step_chars: int,
                   truncated: bool = False) -> str | None:
    """Why a corruption is no verified wrong step (a text defect, or what the oracle said), or
    None when the oracle calls it wrong for a decided reason: a valid corruption."""
    defect = text_defect(text, correct_step, max_step_chars, truncated)
    if defect is not None:
        return defect
    if verdict is None:
        raise ValueError("a well-formed step needs an oracle verdict")
    if verdict.label == "correct":
        return "oracle_correct"
    if verdict.label != "incorrect":
        return f"oracle_{verdict.label}"
    if verdict.reason in _UNDECIDED_REASONS:
        return f"oracle_{verdict.reason}"
    return None


def classify(sample: Corruption, cfg: RewardConfig) -> tuple[str, str]:
    """(outcome, why): outcome in OUTCOMES; why is a text defect, an oracle label/reason, or R's call."""
    if sample.p_correct is not None:
        check_probability(sample.sample_id, sample.p_correct)  # a broken R must not hide behind a failure
    if text_defect(sample.text, sample.correct_step, cfg.max_step_chars, sample.truncated) is None and sample.verdict is None:
        raise ValueError(f"sample {sample.sample_id}: a well-formed step needs an oracle verdict")
    why = invalid_reason(sample.text, sample.correct_step, sample.verdict, cfg.max_step_chars, sample.truncated)
    if why is not None:
        return FAILED, why
    if sample.p_correct is None:
        raise ValueError(f"sample {sample.sample_id}: an oracle-wrong step needs R's P(correct)")
    p = check_probability(sample.sample_id, sample.p_correct)
    return (FOOLED, "r_accepted") if p >= cfg.threshold else (CAUGHT, "r_rejected")


def generator_reward(sample: Corruption, cfg: RewardConfig) -> float:
    """G's scalar reward for one sample (see module docstring)."""
    outcome, _ = classify(sample, cfg)
    if outcome == FAILED:
        reward = cfg.failed
    elif cfg.fooled_scaled:
        reward = cfg.caught + (cfg.fooled - cfg.caught) * float(sample.p_correct)
    else:
        reward = cfg.fooled if outcome == FOOLED else cfg.caught
    if not math.isfinite(reward):
        raise ValueError(f"sample {sample.sample_id}: reward {reward!r} is not finite")
    return float(reward)


def prm_reward(p_correct: float, oracle_label: str, threshold: float = 0.5, sample_id: str = "?") -> float:
    """R's reward: 1.0 when its call (P(correct) >= threshold) agrees with the oracle's label."""
    p = check_probability(sample_id, p_correct)
    if oracle_label not in ("correct", "incorrect"):
        raise ValueError(f"sample {sample_id}: R is rewarded only on decided labels, got {oracle_label!r}")
    return float((p >= threshold) == (oracle_label == "correct"))


def prm_accuracy(pairs: Iterable[tuple[float, str]], threshold: float = 0.5) -> float | None:
    """Mean R reward over (P(correct), oracle label) pairs with a decided label; None if there are none."""
    rewards = [
        prm_reward(p, label, threshold, sample_id=str(i))
        for i, (p, label) in enumerate(pairs)
        if label in ("correct", "incorrect")
    ]
    return sum(rewards) / len(rewards) if rewards else None


def outcome_rates(outcomes: Iterable[str]) -> dict[str, float]:
    """Fractions of fooled / caught / failed samples, plus valid_rate (oracle-wrong) and fool_rate.

    fool_rate is over all samples (what G achieves per attempt); fooled_given_valid is over the
    oracle-wrong ones (how often R is fooled by a real error). Empty input gives zeros.
    """
    outcomes = list(outcomes)
    bad = sorted({o for o in outcomes if o not in OUTCOMES})
    if bad:
        raise ValueError(f"unknown outcome(s) {bad}; expected {OUTCOMES}")
    n = len(outcomes)
    counts = {o: outcomes.count(o) for o in OUTCOMES}
    valid = counts[FOOLED] + counts[CAUGHT]
    return {
        "fool_rate": counts[FOOLED] / n if n else 0.0,
        "caught_rate": counts[CAUGHT] / n if n else 0.0,
        "failed_rate": counts[FAILED] / n if n else 0.0,
        "valid_rate": valid / n if n else 0.0,
        "fooled_given_valid": counts[FOOLED] / valid if valid else 0.0,
    }
