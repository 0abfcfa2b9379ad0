"""The files a game round reads and writes. A round is a pure function of these paths, so the
flow can cache each round as its own task and resume a killed run at the last finished round.

State keys (all values are paths, as strings):
  generator, generator_ref   G of this round and the fixed reference G_ref (model folders)
  prm, prm_ref               R of this round and R_0, its anchor (model folders)
  prm_optimizer              R's optimizer state from the previous round (torch file; may be absent)
  replay                     replay buffer of negatives (JSONL, see replay.py)
  problems                   training problems whose reference steps G corrupts (JSONL of Problem)
  positives                  R's positive items (JSONL of {problem, steps, labels})
  static_eval                fixed rule-perturbation negatives to track R on (JSONL of Negative)
Adv-RM replaces prm/prm_ref/prm_optimizer with prm_ensemble / prm_ensemble_ref (lists of folders).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from aprm.game.replay import Negative, ReplayBuffer
from aprm.io import write_jsonl
from aprm.method_configs import ReplayConfig
from aprm.schema import LabeledSolution, Problem
from aprm.structured import build_config

APRM_KEYS = ("generator", "generator_ref", "prm", "prm_ref", "replay", "problems", "positives", "static_eval")
ADVRM_KEYS = ("generator", "generator_ref", "prm_ensemble", "prm_ensemble_ref", "replay", "problems",
              "positives", "static_eval")


def check_state(state: Mapping[str, Any], keys: Sequence[str]) -> dict[str, Any]:
    """The state as a plain dict; a missing key or path is an error naming it."""
    missing = [k for k in keys if k not in state]
    if missing:
        raise ValueError(f"game state lacks key(s) {missing}; has {sorted(state)}")
    for key in keys:
        for path in state[key] if isinstance(state[key], (list, tuple)) else [state[key]]:
            if not Path(path).exists():
                raise FileNotFoundError(f"game state {key}: {path} does not exist")
    return dict(state)


def _read_rows(path: str | os.PathLike) -> Iterable[tuple[int, dict]]:
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}:{lineno}: not JSON: {err}") from err
            if not isinstance(row, dict):
                raise ValueError(f"{path}:{lineno}: expected a JSON object")
            yield lineno, row


def read_problems(path: str | os.PathLike) -> list[Problem]:
    out = []
    for lineno, row in _read_rows(path):
        try:
            out.append(Problem.from_dict(row))
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"{path}:{lineno}: bad problem: {err!r}") from err
    return out


def read_items(path: str | os.PathLike) -> list[tuple[Problem, list[str], list[int]]]:
    """(problem, steps, labels) rows; labels are 0/1, one per step."""
    out = []
    for lineno, row in _read_rows(path):
        try:
            problem, steps, labels = Problem.from_dict(row["problem"]), row["steps"], row["labels"]
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"{path}:{lineno}: bad item: {err!r}") from err
        if not isinstance(steps, list) or not steps or not all(isinstance(s, str) for s in steps):
            raise ValueError(f"{path}:{lineno}: field 'steps' must be a non-empty list of strings")
        if not isinstance(labels, list) or len(labels) != len(steps) or any(v not in (0, 1) for v in labels):
            raise ValueError(f"{path}:{lineno}: field 'labels' must be 0/1, one per step")
        out.append((problem, steps, [int(v) for v in labels]))
    return out


def write_items(path: str | os.PathLike, items: Iterable[tuple[Problem, Sequence[str], Sequence[int]]]) -> Path:
    return write_jsonl(path, ({"problem": p.to_dict(), "steps": list(s), "labels": [int(v) for v in l]}
                              for p, s, l in items))


def write_negatives(path: str | os.PathLike, negatives: Iterable[Negative]) -> Path:
    return write_jsonl(path, (n.to_dict() for n in negatives))


def read_negatives(path: str | os.PathLike) -> list[Negative]:
    out = []
    for lineno, row in _read_rows(path):
        try:
            out.append(Negative.from_dict(row))
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"{path}:{lineno}: bad negative: {err!r}") from err
    return out


def reference_positives(problems: Iterable[Problem]) -> list[tuple[Problem, list[str], list[int]]]:
    """Every reference solution, all steps labelled correct."""
    return [(p, list(p.reference_steps), [1] * len(p.reference_steps)) for p in problems if p.reference_steps]


def solver_positives(labeled: Iterable[LabeledSolution]) -> list[tuple[Problem, list[str], list[int]]]:
    """The oracle-correct prefix of each labelled solver sample (all of it when first_error = -1)."""
    out = []
    for item in labeled:
        steps = list(item.solution.steps)
        keep = steps if item.first_error < 0 else steps[: item.first_error]
        if keep:
            out.append((item.problem, keep, [1] * len(keep)))
    return out


def final_prm(state: Mapping[str, Any]) -> str:
    """The scorer a game produces: R after the last round (Adv-RM: the target, member 0)."""
    return state["prm"] if "prm" in state else state["prm_ensemble"][0]


def copy_model_dir(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Copy a model folder (so a round's outputs never alias its inputs)."""
    dst = Path(dst)
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst)
    return dst


def prepare_state(
    out_dir: str | os.PathLike,
    generator_dir: str | os.PathLike,
    prm_dirs: Sequence[str | os.PathLike],
    problems: Sequence[Problem],
    positives: Sequence[tuple[Problem, Sequence[str], Sequence[int]]],
    static_eval: Sequence[Negative],
    replay_cfg: Mapping[str, Any],
    initial_negatives: Sequence[Negative] = (),
) -> dict[str, Any]:
    """Round-0 state: data files under out_dir; G_ref = the given G, R_0 = the given PRM(s).

    One PRM folder gives an APRM state; two or more give an Adv-RM ensemble state.
    initial_negatives seed the replay buffer (e.g. the rule perturbations R_0 was trained on),
    so R's first update has negatives even if G_0 breaks no step; keep them apart from static_eval.
    """
    if not prm_dirs:
        raise ValueError("prepare_state needs at least one PRM folder")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_jsonl(out / "problems.jsonl", (p.to_dict() for p in problems))
    write_items(out / "positives.jsonl", positives)
    write_negatives(out / "static_eval.jsonl", static_eval)
    settings = build_config(ReplayConfig, replay_cfg, "method.replay")
    replay = ReplayBuffer(settings.capacity, settings.policy, settings.seed)
    replay.extend(initial_negatives)
    replay.save(out / "replay.jsonl")
    state: dict[str, Any] = {
        "generator": str(generator_dir),
        "generator_ref": str(generator_dir),
        "replay": str(out / "replay.jsonl"),
        "problems": str(out / "problems.jsonl"),
        "positives": str(out / "positives.jsonl"),
        "static_eval": str(out / "static_eval.jsonl"),
    }
    if len(prm_dirs) == 1:
        state.update(prm=str(prm_dirs[0]), prm_ref=str(prm_dirs[0]))
    else:
        state.update(prm_ensemble=[str(d) for d in prm_dirs], prm_ensemble_ref=[str(d) for d in prm_dirs])
    return state
