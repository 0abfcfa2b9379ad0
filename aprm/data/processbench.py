"""ProcessBench loader (QwenLM/ProcessBench: one JSON array per split of {id, generator, problem,
steps, final_answer_correct, label}).

Each row becomes a LabeledSolution whose first_error is `label` (earliest wrong step, -1 if
none); a label outside [-1, len(steps) - 1] is a bad row. Steps are flattened to one line each
(the schema's step separator is a newline; a few source steps hold bullet lists). The gold
answer is not in the file, so Problem.answer is ""; the solution's final answer is its last
\\boxed{...}, or None.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Mapping

from aprm.data.errors import DataError, SkipLog
from aprm.data.latex import last_boxed, single_line
from aprm.data.paths import config_key, resolve_data_path
from aprm.data.records import Record, collect, iter_json_array, require_file
from aprm.schema import LabeledSolution, Problem, Solution

PROCESSBENCH_SPLITS = ("gsm8k", "math", "olympiadbench", "omnimath")
SUITE_PREFIX = "processbench-"  # a run's suite of one split: processbench-gsm8k, ...


def suite_name(split: str) -> str:
    return f"{SUITE_PREFIX}{split}"


def is_processbench_suite(suite: str) -> bool:
    return suite.startswith(SUITE_PREFIX)
_SPLIT_NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")


def load_processbench(path: str | os.PathLike, *, split: str | None = None,
                      on_error: str = "raise", skips: SkipLog | None = None
                      ) -> list[LabeledSolution]:
    """Labeled solutions from one ProcessBench JSON file; `split` defaults to the file stem."""
    file = require_file(path, config_key("processbench_dir"))
    split_name = split or Path(file).stem
    return collect(iter_json_array(file), lambda record: _to_labeled(record, split_name),
                   on_error, skips)


def load_processbench_split(paths_cfg: Mapping[str, object] | None, split_name: str,
                            on_error: str = "raise", skips: SkipLog | None = None
                            ) -> list[LabeledSolution]:
    """One ProcessBench split ('gsm8k', 'math', 'olympiadbench', 'omnimath') found through
    `paths_cfg['processbench_dir']` (or the default data root)."""
    if not isinstance(split_name, str) or not _SPLIT_NAME_RE.fullmatch(split_name):
        raise ValueError(f"bad ProcessBench split name {split_name!r}; "
                         f"known: {', '.join(PROCESSBENCH_SPLITS)}")
    folder = resolve_data_path(paths_cfg, "processbench_dir")
    file = folder / f"{split_name}.json"
    if not file.is_file():
        raise DataError(f"no ProcessBench split '{split_name}' at {file} (known: "
                        f"{', '.join(PROCESSBENCH_SPLITS)}); set {config_key('processbench_dir')} "
                        f"to the folder holding <split>.json")
    return load_processbench(file, split=split_name, on_error=on_error, skips=skips)


def _to_labeled(record: Record, split: str) -> LabeledSolution:
    ident = record.text("id").strip()
    steps = tuple(single_line(step) for step in record.text_list("steps"))
    label = record.integer("label")
    if not -1 <= label <= len(steps) - 1:
        raise record.error("label", f"{label} is outside [-1, {len(steps) - 1}] for "
                                    f"{len(steps)} steps")
    problem = Problem(
        id=f"processbench-{ident}",
        question=record.text("problem").strip(),
        answer="",
        reference_steps=(),
        meta={"source": "processbench", "split": split, "processbench_id": ident,
              "generator": record.text("generator").strip(),
              "final_answer_correct": record.boolean("final_answer_correct")},
    )
    solution = Solution(steps=steps, final_answer=last_boxed(steps[-1]))
    return LabeledSolution(problem=problem, solution=solution, first_error=label)
