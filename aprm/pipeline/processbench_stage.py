"""Stage: a ProcessBench split as a suite of human step labels (no sampling: n_max = 0).

Each labelled solution is written as the one sample of its problem, in the sample-file format
that evaluation reads (`samples_stage.read_samples`): `first_error` is the human label (-1 when
no step is wrong) and `correct` says the label found no wrong step; the gold answer is not in
ProcessBench, so best-of-N cannot be asked of it, only first-error prediction. The symbolic
oracle predicts the first error of the same solutions too: its F1 is the report's reference row.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

from aprm.data import load_processbench_split
from aprm.data.errors import SkipLog
from aprm.eval.first_error import first_error_f1
from aprm.io import write_jsonl
from aprm.oracle import first_error
from aprm.progress import progress

def processbench_suite_stage(paths_cfg: Mapping[str, object] | None, split: str, on_error: str,
                             out_path: Path) -> dict:
    skips = SkipLog()
    items = load_processbench_split(paths_cfg, split, on_error=on_error, skips=skips)
    rows, oracle = [], []
    for item in progress(items, f"ProcessBench {split}: oracle labels", len(items), "solution"):
        steps = list(item.solution.steps)
        rows.append({"problem": item.problem.to_dict(), "samples": [{
            "steps": steps, "final_answer": item.solution.final_answer, "truncated": False,
            "correct": item.first_error == -1, "first_error": item.first_error}]})
        oracle.append(first_error(item.problem, steps))  # no reference solution, no gold answer
    write_jsonl(out_path, rows)
    labels = [item.first_error for item in items]
    scored = first_error_f1(oracle, labels)
    return {"solutions": len(rows), "erroneous": sum(label >= 0 for label in labels),
            "skipped_rows": skips.skipped, "skip_reasons": skips.reasons,
            "oracle_first_error": scored, "oracle_f1": scored["f1"]}
