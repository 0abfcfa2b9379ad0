"""A bounded buffer of oracle-verified wrong steps, carried across game rounds.

Each entry is a problem, the correct steps before the error and one wrong step. R trains on it as
the solution `prefix + [step]` labelled 1 (correct) on the prefix and 0 on the last step. Keeping
earlier rounds' negatives stops R from forgetting errors G no longer proposes (the game cycles).

Policies: "fifo" keeps the newest `capacity` entries; "reservoir" keeps a uniform sample of all
entries ever offered (Vitter's algorithm R). The reservoir draw for the n-th offered entry comes
from a generator seeded by (seed, n), so a buffer reloaded from JSONL continues exactly as an
uninterrupted one would. Duplicates (same problem, prefix and step) are dropped on entry.
"""

from __future__ import annotations

import json
import os
import random
from collections import deque
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from aprm.io import write_jsonl
from aprm.schema import Problem

POLICIES = ("fifo", "reservoir")
_FORMAT = "aprm.replay/1"


@dataclass(frozen=True)
class Negative:
    problem: Problem
    prefix: tuple[str, ...]
    step: str
    reason: str  # the oracle's reason (arithmetic, grounding, ...)
    round: int
    source: str = "generator"  # generator | advrm | perturbation

    @property
    def key(self) -> tuple[str, tuple[str, ...], str]:
        return (self.problem.id, self.prefix, " ".join(self.step.split()))

    def training_item(self) -> tuple[Problem, list[str], list[int]]:
        """(problem, steps, labels) as `train_prm` takes them: 1 on the prefix, 0 on the wrong step."""
        return self.problem, [*self.prefix, self.step], [1] * len(self.prefix) + [0]

    def to_dict(self) -> dict:
        return {
            "problem": self.problem.to_dict(),
            "prefix": list(self.prefix),
            "step": self.step,
            "reason": self.reason,
            "round": self.round,
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, row: Mapping[str, Any]) -> "Negative":
        prefix = row["prefix"]
        if not isinstance(prefix, list) or not all(isinstance(s, str) for s in prefix):
            raise ValueError("field 'prefix' must be a list of strings")
        if not isinstance(row["step"], str) or not row["step"].strip():
            raise ValueError("field 'step' must be a non-empty string")
        return cls(
            problem=Problem.from_dict(row["problem"]),
            prefix=tuple(prefix),
            step=row["step"],
            reason=str(row["reason"]),
            round=int(row["round"]),
            source=str(row.get("source", "generator")),
        )


class ReplayBuffer:
    def __init__(self, capacity: int, policy: str = "fifo", seed: int = 0):
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise ValueError(f"replay capacity={capacity!r} must be a positive int")
        if policy not in POLICIES:
            raise ValueError(f"unknown replay policy {policy!r}; choose one of {', '.join(POLICIES)}")
        self.capacity, self.policy, self.seed = capacity, policy, int(seed)
        self._items: deque[Negative] | list[Negative] = deque() if policy == "fifo" else []
        self._keys: set = set()
        self.offered = 0  # distinct entries ever offered (the reservoir's n)

    def __len__(self) -> int:
        return len(self._items)

    def items(self) -> list[Negative]:
        return list(self._items)

    def add(self, negative: Negative) -> bool:
        """Offer one entry; True if it is in the buffer afterwards."""
        if negative.key in self._keys:
            return False
        n = self.offered
        self.offered += 1
        if self.policy == "fifo":
            if len(self._items) == self.capacity:
                self._keys.discard(self._items.popleft().key)
            self._items.append(negative)
        elif len(self._items) < self.capacity:
            self._items.append(negative)
        else:
            slot = random.Random(f"{self.seed}:{n}").randrange(n + 1)
            if slot >= self.capacity:
                return False
            self._keys.discard(self._items[slot].key)
            self._items[slot] = negative
        self._keys.add(negative.key)
        return True

    def extend(self, negatives: Iterable[Negative]) -> int:
        """Offer many; returns how many were taken in."""
        return sum(self.add(n) for n in negatives)

    def save(self, path: str | os.PathLike) -> None:
        header = {"format": _FORMAT, "capacity": self.capacity, "policy": self.policy,
                  "seed": self.seed, "offered": self.offered}
        write_jsonl(path, [header, *(n.to_dict() for n in self._items)])

    @classmethod
    def load(cls, path: str | os.PathLike) -> "ReplayBuffer":
        with open(path, encoding="utf-8") as fh:
            lines = [(i, line) for i, line in enumerate(fh, 1) if line.strip()]
        if not lines:
            raise ValueError(f"{path}: empty replay file (no header line)")
        rows = []
        for lineno, line in lines:
            try:
                rows.append((lineno, json.loads(line)))
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}:{lineno}: not JSON: {err}") from err
        lineno, header = rows[0]
        if not isinstance(header, dict) or header.get("format") != _FORMAT:
            raise ValueError(f"{path}:{lineno}: first line must be a header with format {_FORMAT!r}")
        try:
            buf = cls(header["capacity"], header["policy"], header["seed"])
            offered = int(header["offered"])
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"{path}:{lineno}: bad replay header: {err}") from err
        if len(rows) - 1 > buf.capacity:
            raise ValueError(f"{path}: {len(rows) - 1} entries exceed the capacity {buf.capacity}")
        for lineno, row in rows[1:]:
            try:
                neg = Negative.from_dict(row)
            except (KeyError, TypeError, ValueError, AttributeError) as err:
                raise ValueError(f"{path}:{lineno}: bad replay entry: {err!r}") from err
            if neg.key in buf._keys:
                raise ValueError(f"{path}:{lineno}: duplicate entry for problem {neg.problem.id!r}")
            buf._items.append(neg)
            buf._keys.add(neg.key)
        buf.offered = max(offered, len(buf))
        return buf
