"""`results.json`: the machine-readable outcome of a pipeline run (schema: docs/results_schema.md).

Build it with `build_run` (one per seed x method x suite) and `build_results`; both return
normalised, validated plain dicts. Output is deterministic: runs sorted by (seed, method, suite),
rounds by (seed, method, round), floats rounded to 6 digits, keys sorted when written.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from aprm.eval.results_check import SCHEMA_VERSION, ResultsSchemaError, validate_results
from aprm.io import read_json, write_text

FLOAT_DIGITS = 6
SELECTION_KEYS = ("best_of_n", "weighted", "majority", "pass_at", "random")

__all__ = ["SCHEMA_VERSION", "ResultsSchemaError", "validate_results", "normalize", "build_run",
           "build_results", "dumps_results", "write_results", "load_results"]


def normalize(obj: Any, where: str = "results") -> Any:
    """JSON-shaped copy: floats rounded, tuples -> lists, int keys -> str, numpy scalars -> Python.

    NaN/inf are rejected (strict JSON has no spelling for them): report an undefined metric as None.
    """
    if isinstance(obj, bool) or obj is None or isinstance(obj, str):
        return obj
    if hasattr(obj, "item") and callable(obj.item) and getattr(obj, "shape", None) == ():
        obj = obj.item()  # numpy scalar
        if isinstance(obj, bool):
            return obj
    if isinstance(obj, int):
        return obj
    if isinstance(obj, float):
        if not math.isfinite(obj):
            raise ResultsSchemaError(
                f"{where}: {obj} is not allowed; use null for an undefined value")
        return round(obj, FLOAT_DIGITS) + 0.0  # + 0.0 turns -0.0 into 0.0
    if isinstance(obj, Mapping):
        out = {}
        for key, value in obj.items():
            if isinstance(key, bool) or not isinstance(key, (str, int)):
                raise ResultsSchemaError(f"{where}: key {key!r} must be a string or an integer")
            out[str(key)] = normalize(value, f"{where}[{json.dumps(str(key))}]")
        return out
    if isinstance(obj, (list, tuple)):
        return [normalize(v, f"{where}[{i}]") for i, v in enumerate(obj)]
    raise ResultsSchemaError(f"{where}: cannot store a {type(obj).__name__} in results.json")


def build_run(*, seed: int, method: str, suite: str, selection: Mapping | None = None,
              first_error: Mapping | None = None) -> dict:
    """One runs[] entry from `evaluate_selection` output and/or `evaluate_first_error` output.

    A suite with step labels only (e.g. ProcessBench) has no selection: its selection fields
    are empty, n_max is 0 and counts are zeros.
    """
    if selection is None:
        selection = {"n_max": 0, **{k: {} for k in SELECTION_KEYS},
                     "per_problem": {"problem_ids": []},
                     "counts": {"samples": 0, "invalid": 0, "truncated": 0, "unscored": 0}}
    missing = [k for k in ("n_max", *SELECTION_KEYS, "per_problem", "counts") if k not in selection]
    if missing:
        raise ResultsSchemaError(f"selection: missing {missing} (pass evaluate_selection's output)")
    run = {"seed": seed, "method": method, "suite": suite, "first_error": first_error,
           **{k: selection[k] for k in ("n_max", *SELECTION_KEYS, "per_problem", "counts")}}
    return normalize(run, "run")


def build_results(*, name: str, config_hash: str, git_sha: str, seeds: Sequence[int],
                  runs: Iterable[Mapping], rounds: Iterable[Mapping] = (),
                  stages: Iterable[Mapping] = (), methods: Sequence[str] | None = None,
                  suites: Sequence[str] | None = None, references: Iterable[Mapping] = (),
                  crossplay: Iterable[Mapping] = (), rl: Iterable[Mapping] = ()) -> dict:
    """The whole document, validated. methods/suites default to first-appearance order in runs;
    pass them to fix the order tables use. `references`: {name, suite, first_error} of scorers
    that are no method (the oracle on ProcessBench); `crossplay`: (seed, attacker, defender) cells
    (aprm.game.crossplay); `rl`: (seed, reward) RL runs of the solver (aprm.pipeline.rl_stage).
    Each of these keys is written only when there are some."""
    runs = [normalize(r, f"runs[{i}]") for i, r in enumerate(runs)]
    references = list(references)
    crossplay = sorted(crossplay, key=lambda c: c["seed"])
    rl = list(rl)  # within a seed: the stage's order (rules, G0, rounds)
    methods = list(methods) if methods is not None else _first_seen(r.get("method") for r in runs)
    suites = list(suites) if suites is not None else _first_seen(r.get("suite") for r in runs)
    method_pos = {m: i for i, m in enumerate(methods)}
    suite_pos = {s: i for i, s in enumerate(suites)}
    runs.sort(key=lambda r: (r.get("seed", 0), method_pos.get(r.get("method"), len(methods)),
                             suite_pos.get(r.get("suite"), len(suites))))
    rounds = sorted((normalize(r, "rounds[]") for r in rounds),
                    key=lambda r: (r.get("seed", 0), str(r.get("method")), r.get("round", 0)))
    results = normalize({
        "schema_version": SCHEMA_VERSION,
        "experiment": {"name": name, "config_hash": config_hash, "git_sha": git_sha,
                       "seeds": sorted(seeds)},
        "methods": methods, "suites": suites, "runs": runs, "rounds": rounds,
        "stages": list(stages),
        **({"references": references} if references else {}),
        **({"crossplay": crossplay} if crossplay else {}),
        **({"rl": sorted(rl, key=lambda r: r["seed"])} if rl else {}),
    })
    validate_results(results)
    return results


def _first_seen(values: Iterable[Any]) -> list:
    out: list = []
    for value in values:
        if value not in out:
            out.append(value)
    return out


def dumps_results(results: Mapping) -> str:
    """Canonical text: validated, sorted keys, 2-space indent, strict JSON (no NaN); lists of
    plain values stay on one line, so per-problem outcomes don't take one line per problem."""
    results = normalize(results)
    validate_results(results)
    return _pretty(results, 0) + "\n"


def _key_order(key: str) -> tuple:
    """Sample-count keys in numeric order ('2' before '16'), other keys alphabetically."""
    return (0, int(key), key) if key.isascii() and key.isdigit() else (1, 0, key)


def _pretty(obj: Any, depth: int) -> str:
    pad, inner = "  " * depth, "  " * (depth + 1)
    if isinstance(obj, Mapping) and obj:
        items = [f"{inner}{json.dumps(k)}: {_pretty(obj[k], depth + 1)}"
                 for k in sorted(obj, key=_key_order)]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(obj, list) and any(isinstance(v, (Mapping, list)) for v in obj):
        items = [f"{inner}{_pretty(v, depth + 1)}" for v in obj]
        return "[\n" + ",\n".join(items) + f"\n{pad}]"
    if isinstance(obj, list):
        return "[" + ", ".join(json.dumps(v, allow_nan=False) for v in obj) + "]"
    return json.dumps(obj, allow_nan=False)


def write_results(path: str | os.PathLike, results: Mapping) -> Path:
    """Validate, then write atomically (temp file + rename)."""
    return write_text(path, dumps_results(results))


def load_results(path: str | os.PathLike) -> dict:
    """Read and validate; a bad document raises ResultsSchemaError naming the file and field."""
    try:
        obj = read_json(path)
    except json.JSONDecodeError as err:
        raise ResultsSchemaError(f"{path}: not JSON ({err})") from err
    try:
        validate_results(obj)
    except ResultsSchemaError as err:
        raise ResultsSchemaError(f"{path}: {err}") from err
    return obj
