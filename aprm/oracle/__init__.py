"""Symbolic step oracle: exact arithmetic, grounding, progress and final-answer checks.

Public API: `judge_step`, `label_steps`, `first_error`, `Verdict`, and the safe evaluator
`evaluate` / `ArithResult` (never eval/exec/sympify; bounded work for any input). For many
steps of one solution, `build_context` + `judge_in_context` + `Context.add_step` avoid
re-reading the prefix.
"""

from aprm.oracle.arith import ArithResult, evaluate
from aprm.oracle.context import MAX_STEP_CHARS, Context, build_context
from aprm.oracle.judge import Verdict, first_error, judge_in_context, judge_step, label_steps

__all__ = ["ArithResult", "Context", "MAX_STEP_CHARS", "Verdict", "build_context", "evaluate",
           "first_error", "judge_in_context", "judge_step", "label_steps"]
