"""Cross-play: every attacker against every final PRM, on the same test problems.

An attacker writes one wrong step per slot (a place in a reference solution): the rule
perturbations, or a generator (APRM's G after each round, Adv-RM's adversary). The oracle checks
every step; only a valid corruption (well-formed, and wrong by the oracle for a decided reason:
`rewards.invalid_reason`) counts. A PRM is fooled when it gives a valid corruption, in context,
P(correct) >= threshold. The matrix holds, per (attacker, defender), the fool rate over valid
corruptions and the counts behind it; an attacker with no valid corruption has fool rate 0 with
n_valid = 0.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Mapping, Sequence

from aprm.game.generator import Slot
from aprm.game.judge import oracle_verdict
from aprm.game.rewards import invalid_reason


@dataclass
class CrossplayAttack:
    attacker: str
    slot: Slot
    text: str
    truncated: bool = False
    why_invalid: str | None = None  # None: a valid corruption
    oracle_label: str | None = None
    oracle_reason: str | None = None
    scores: dict[str, float] = field(default_factory=dict)  # defender -> P(correct), valid ones only

    @property
    def valid(self) -> bool:
        return self.why_invalid is None

    def to_dict(self) -> dict:
        row = asdict(self)
        row.pop("slot")
        return {"slot_id": self.slot.slot_id, "problem": self.slot.problem.to_dict(), "index": self.slot.index,
                **row}


def judge_attacks(attacks: Sequence[CrossplayAttack], judge_step: Callable[..., Any], max_step_chars: int,
                  use_reference: bool = True) -> None:
    """Fill in each attack's validity and the oracle's verdict (in place)."""
    from aprm.game.rewards import text_defect

    for attack in attacks:
        verdict = None
        if text_defect(attack.text, attack.slot.correct_step, max_step_chars, attack.truncated) is None:
            verdict = oracle_verdict(judge_step, attack.slot, attack.text, use_reference)
            attack.oracle_label, attack.oracle_reason = verdict.label, verdict.reason
        attack.why_invalid = invalid_reason(attack.text, attack.slot.correct_step, verdict, max_step_chars,
                                            attack.truncated)


def score_attacks(attacks: Sequence[CrossplayAttack], defenders: Mapping[str, Any]) -> None:
    """Each defender's P(correct) of every valid corruption as the next step of its slot (in place)."""
    valid = [a for a in attacks if a.valid]
    items = [(a.slot.problem, [*a.slot.prefix, a.text]) for a in valid]
    for name, scorer in defenders.items():
        for attack, scores in zip(valid, scorer.score_batch(items) if items else []):
            attack.scores[name] = float(scores[-1])


def crossplay_cells(attacks: Sequence[CrossplayAttack], attackers: Sequence[str], defenders: Sequence[str],
                    threshold: float) -> list[dict]:
    """One cell per (attacker, defender): n_total, n_valid, fooled, fool_rate (0 when n_valid = 0)."""
    cells = []
    for attacker in attackers:
        mine = [a for a in attacks if a.attacker == attacker]
        valid = [a for a in mine if a.valid]
        for defender in defenders:
            fooled = sum(a.scores[defender] >= threshold for a in valid)
            cells.append({"attacker": attacker, "defender": defender, "n_total": len(mine), "n_valid": len(valid),
                          "fooled": fooled, "fool_rate": fooled / len(valid) if valid else 0.0})
    return cells
