"""Curves of an RL run, every k steps on fixed ID validation problems: the mean reward, what the
PRM judges (its mean aggregated score) against what the oracle knows (accuracy, first-error
rate), the hacking gap between the two, and GRPO's KL to the SFT solver."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from transformers import TrainerCallback

from aprm.models.sampling import sample_solutions
from aprm.rl.rewards import SolutionReward
from aprm.schema import Problem

CURVE_KEYS = ("step", "reward", "prm_judged", "oracle_accuracy", "first_error_rate", "gap", "kl")


class CurveRecorder(TrainerCallback):
    """Measures the policy at step 0 and every `every` steps (and the last), appending one JSON
    row per point to `path`, so a resumed run keeps the points it had."""

    def __init__(self, problems: Sequence[Problem], reward: SolutionReward, tokenizer, every: int, samples: int,
                 temperature: float, max_new_tokens: int, seed: int, path: Path):
        self.problems, self.reward, self.tokenizer = list(problems), reward, tokenizer
        self.every, self.samples, self.temperature = every, samples, temperature
        self.max_new_tokens, self.seed, self.path = max_new_tokens, seed, Path(path)

    def rows(self) -> list[dict]:
        if not self.path.is_file():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]

    def on_train_begin(self, args, state, control, model=None, **_: Any):
        kept = [row for row in self.rows() if row["step"] <= state.global_step]
        self.path.write_text("".join(json.dumps(row) + "\n" for row in kept))  # drop points past a checkpoint
        if not kept:
            self._measure(model, 0, None)

    def on_step_end(self, args, state, control, model=None, **_: Any):
        step = state.global_step
        if step % self.every == 0 or step == state.max_steps:
            kl = next((row["kl"] for row in reversed(state.log_history) if "kl" in row), None)
            self._measure(model, step, kl)

    def _measure(self, model, step: int, kl: float | None) -> None:
        was_training = model.training
        model.eval()
        samples = sample_solutions(model, self.tokenizer, self.problems, n=self.samples, temperature=self.temperature,
                                   top_p=1.0, max_new_tokens=self.max_new_tokens, seed=self.seed, desc="RL curve")
        model.train(was_training)
        problems = [p for p, row in zip(self.problems, samples) for _ in row]
        flat = [s for row in samples for s in row]
        judged = self.reward(problems, [s.text for s in flat], [s.truncated for s in flat])
        n = len(flat)
        row = {"step": step, "reward": sum(judged.rewards) / n, "prm_judged": sum(judged.judged) / n,
               "oracle_accuracy": sum(judged.correct) / n, "first_error_rate": sum(fe >= 0 for fe in judged.first_errors) / n,
               "kl": kl}
        row["gap"] = row["prm_judged"] - row["oracle_accuracy"]
        with self.path.open("a") as fh:
            fh.write(json.dumps(row) + "\n")


def hacking_step(curve: Sequence[dict], margin: float) -> int | None:
    """The first curve step where the gap exceeds its step-0 value by `margin`; None if never."""
    if not curve:
        return None
    start = curve[0]["gap"]
    return next((row["step"] for row in curve if row["gap"] - start > margin), None)
