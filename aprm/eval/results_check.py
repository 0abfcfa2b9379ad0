"""Validation of a results.json document; every error names the path of the bad field,
e.g. `results.runs[2].best_of_n.min["16"]: expected a number in [0, 1], got 1.5`."""

from __future__ import annotations

import json
import math
import re
from typing import Any, Mapping

from aprm.eval.aggregate import AGGREGATIONS

SCHEMA_VERSION = 1
COUNT_KEYS = ("samples", "invalid", "truncated", "unscored")
FIRST_ERROR_KEYS = ("acc_err", "acc_cor", "f1", "n", "n_err", "n_cor")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ResultsSchemaError(ValueError):
    """results.json does not follow docs/results_schema.md; the message starts with the path."""


def _at(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if _IDENT.match(key) else f"{path}[{json.dumps(key)}]"


def _fail(path: str, message: str) -> None:
    raise ResultsSchemaError(f"{path}: {message}")


def _obj(value: Any, path: str, required: tuple[str, ...],
         optional: tuple[str, ...] = ()) -> Mapping:
    if not isinstance(value, Mapping):
        _fail(path, f"expected an object, got {type(value).__name__}")
    for key in required:
        if key not in value:
            _fail(_at(path, key), "missing")
    extra = sorted(set(value) - set(required) - set(optional))
    if extra:
        _fail(_at(path, extra[0]), f"unknown field (allowed: {', '.join(required + optional)})")
    return value


def _list(value: Any, path: str) -> list:
    if not isinstance(value, list):
        _fail(path, f"expected a list, got {type(value).__name__}")
    return value


def _str(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value:
        _fail(path, f"expected a non-empty string, got {value!r}")
    return value


def _int(value: Any, path: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        _fail(path, f"expected an integer >= {minimum}, got {value!r}")
    return value


def _num(value: Any, path: str, lo: float = -math.inf, hi: float = math.inf,
         nullable: bool = False) -> None:
    if value is None and nullable:
        return
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
    if not ok or not lo <= value <= hi:
        rng = "a number" if (lo, hi) == (-math.inf, math.inf) else f"a number in [{lo:g}, {hi:g}]"
        _fail(path, f"expected {rng}{' or null' if nullable else ''}, got {value!r}")


def _unique_strs(value: Any, path: str) -> list[str]:
    items = _list(value, path)
    for i, item in enumerate(items):
        _str(item, _at(path, i))
    if len(set(items)) != len(items):
        _fail(path, "contains duplicates")
    return items


def _acc_by_n(value: Any, path: str, n_max: int) -> None:
    if not isinstance(value, Mapping):
        _fail(path, f"expected an object {{n: accuracy}}, got {type(value).__name__}")
    if n_max == 0:
        if value:
            _fail(path, "must be empty when n_max is 0")
        return
    for key, acc in value.items():
        plain = isinstance(key, str) and key.isascii() and key.isdigit() and key == str(int(key))
        if not (plain and 1 <= int(key) <= n_max):
            _fail(_at(path, key), f"key must be a sample count '1'..'{n_max}' in plain digits")
        _num(acc, _at(path, key), 0.0, 1.0)
    if str(n_max) not in value:
        _fail(_at(path, str(n_max)), f"missing (accuracy at n = n_max = {n_max})")


def _check_first_error(fe: Any, fe_path: str) -> None:
    _obj(fe, fe_path, FIRST_ERROR_KEYS, ("threshold",))
    for key in ("acc_err", "acc_cor", "f1"):
        _num(fe[key], _at(fe_path, key), 0.0, 1.0, nullable=True)
    for key in ("n", "n_err", "n_cor"):
        _int(fe[key], _at(fe_path, key))
    if fe["n_err"] + fe["n_cor"] != fe["n"]:
        _fail(_at(fe_path, "n"), "must equal n_err + n_cor")
    if "threshold" in fe:
        _num(fe["threshold"], _at(fe_path, "threshold"))


def _check_reference(entry: Any, path: str, top: Mapping) -> None:
    """A non-method's first-error scores on a suite (the symbolic oracle on ProcessBench)."""
    _obj(entry, path, ("name", "suite", "first_error"))
    _str(entry["name"], _at(path, "name"))
    if _str(entry["suite"], _at(path, "suite")) not in top["suites"]:
        _fail(_at(path, "suite"), f"{entry['suite']!r} is not listed in suites")
    _check_first_error(entry["first_error"], _at(path, "first_error"))


def _check_crossplay(cell: Any, path: str, top: Mapping) -> tuple:
    """One (seed, attacker, defender) cell: counts consistent, fool rate = fooled / n_valid (0 with
    no valid corruption), the defender one of the methods."""
    _obj(cell, path, ("seed", "attacker", "defender", "n_total", "n_valid", "fooled", "fool_rate"))
    if _int(cell["seed"], _at(path, "seed")) not in top["experiment"]["seeds"]:
        _fail(_at(path, "seed"), f"{cell['seed']} is not in experiment.seeds")
    _str(cell["attacker"], _at(path, "attacker"))
    if _str(cell["defender"], _at(path, "defender")) not in top["methods"]:
        _fail(_at(path, "defender"), f"{cell['defender']!r} is not listed in methods")
    for key in ("n_total", "n_valid", "fooled"):
        _int(cell[key], _at(path, key))
    total, valid, fooled = cell["n_total"], cell["n_valid"], cell["fooled"]
    if not fooled <= valid <= total:
        _fail(path, f"expected fooled <= n_valid <= n_total, got {fooled}, {valid}, {total}")
    _num(cell["fool_rate"], _at(path, "fool_rate"), 0.0, 1.0)
    rate = cell["fool_rate"]
    if abs(rate - (fooled / valid if valid else 0.0)) > 1e-6:
        _fail(_at(path, "fool_rate"), f"{rate} is not fooled / n_valid = {fooled} / {valid}")
    return cell["seed"], cell["attacker"], cell["defender"]


def _check_run(run: Any, path: str, top: Mapping) -> tuple:
    required = ("seed", "method", "suite", "n_max", "best_of_n", "weighted", "majority", "pass_at",
                "random", "first_error", "per_problem", "counts")
    _obj(run, path, required)
    seed = _int(run["seed"], _at(path, "seed"))
    if seed not in top["experiment"]["seeds"]:
        _fail(_at(path, "seed"), f"{seed} is not in experiment.seeds")
    for key, listed in (("method", "methods"), ("suite", "suites")):
        if _str(run[key], _at(path, key)) not in top[listed]:
            _fail(_at(path, key), f"{run[key]!r} is not listed in {listed}")
    n_max = _int(run["n_max"], _at(path, "n_max"))
    for key in ("best_of_n", "weighted"):
        by_agg = run[key]
        if not isinstance(by_agg, Mapping):
            _fail(_at(path, key), f"expected an object {{agg: {{n: acc}}}}, got {type(by_agg).__name__}")
        if n_max and not by_agg:
            _fail(_at(path, key), "expected at least one aggregation")
        for agg, accs in by_agg.items():
            if agg not in AGGREGATIONS:
                _fail(_at(_at(path, key), agg),
                      f"unknown aggregation (known: {', '.join(AGGREGATIONS)})")
            _acc_by_n(accs, _at(_at(path, key), agg), n_max)
    for key in ("majority", "pass_at", "random"):
        _acc_by_n(run[key], _at(path, key), n_max)
    if run["first_error"] is not None:
        _check_first_error(run["first_error"], _at(path, "first_error"))
    needed = [f"best_of_N_{agg}" for agg in run["best_of_n"]] + ["majority_N", "pass_at_N"]
    _check_per_problem(run["per_problem"], _at(path, "per_problem"), needed if n_max else [])
    counts = _obj(run["counts"], _at(path, "counts"), COUNT_KEYS)
    for key in COUNT_KEYS:
        _int(counts[key], _at(_at(path, "counts"), key))
    return seed, run["method"], run["suite"]


def _check_per_problem(value: Any, path: str, needed: list[str]) -> None:
    extra = tuple(value) if isinstance(value, Mapping) else ()
    table = _obj(value, path, ("problem_ids", *needed), extra)
    ids = _unique_strs(table["problem_ids"], _at(path, "problem_ids"))
    if needed and not ids:
        _fail(_at(path, "problem_ids"), "expected at least one problem when n_max > 0")
    for key, outcomes in table.items():
        if key == "problem_ids":
            continue
        _list(outcomes, _at(path, key))
        if len(outcomes) != len(ids):
            _fail(_at(path, key), f"has {len(outcomes)} entries, problem_ids has {len(ids)}")
        for i, outcome in enumerate(outcomes):
            if outcome not in (0, 1) or isinstance(outcome, (bool, float)):
                _fail(_at(_at(path, key), i), f"expected 0 or 1, got {outcome!r}")


def _check_round(entry: Any, path: str, top: Mapping) -> None:
    _obj(entry, path, ("seed", "method", "round", "metrics"), ("error_types",))
    if _int(entry["seed"], _at(path, "seed")) not in top["experiment"]["seeds"]:
        _fail(_at(path, "seed"), f"{entry['seed']} is not in experiment.seeds")
    _str(entry["method"], _at(path, "method"))
    _int(entry["round"], _at(path, "round"))
    metrics = entry["metrics"]
    if not isinstance(metrics, Mapping):
        _fail(_at(path, "metrics"), "expected an object {name: number}")
    for key, value in metrics.items():
        _num(value, _at(_at(path, "metrics"), key), nullable=True)
    if "error_types" in entry:
        types = entry["error_types"]
        if not isinstance(types, Mapping):
            _fail(_at(path, "error_types"), "expected an object {error type: count}")
        for key, value in types.items():
            _int(value, _at(_at(path, "error_types"), key))


def _check_stage(entry: Any, path: str) -> None:
    _obj(entry, path, ("name", "wall_s"), ("cached", "seed", "path", "metrics"))
    _str(entry["name"], _at(path, "name"))
    _num(entry["wall_s"], _at(path, "wall_s"), 0.0)
    if "cached" in entry and not isinstance(entry["cached"], bool):
        _fail(_at(path, "cached"), f"expected true/false, got {entry['cached']!r}")
    if "seed" in entry:
        _int(entry["seed"], _at(path, "seed"))
    if "path" in entry and entry["path"] is not None and not isinstance(entry["path"], str):
        _fail(_at(path, "path"), f"expected a string or null, got {entry['path']!r}")
    if "metrics" in entry:
        if not isinstance(entry["metrics"], Mapping):
            _fail(_at(path, "metrics"), "expected an object {name: number}")
        for key, value in entry["metrics"].items():
            _num(value, _at(_at(path, "metrics"), key), nullable=True)


RL_CURVE_KEYS = ("step", "reward", "prm_judged", "oracle_accuracy", "first_error_rate", "gap", "kl")
RL_SUITE_KEYS = tuple(f"{name}{part}" for name in ("pass1", "majority") for part in ("", "_sft", "_diff", "_ci"))


def _check_rl(entry: Any, path: str, top: Mapping) -> tuple:
    """One (seed, reward) RL run: its curve (steps increasing, rates in [0, 1]), the step where
    the PRM's judgment left the oracle's (or null), and per test suite the RL'd solver's pass@1 and
    majority@N against the SFT solver's with the paired CI of the difference."""
    _obj(entry, path, ("seed", "reward", "curve", "hacking_step", "metrics", "suites"))
    if _int(entry["seed"], _at(path, "seed")) not in top["experiment"]["seeds"]:
        _fail(_at(path, "seed"), f"{entry['seed']} is not in experiment.seeds")
    _str(entry["reward"], _at(path, "reward"))
    steps = []
    for i, row in enumerate(_list(entry["curve"], _at(path, "curve"))):
        where = _at(_at(path, "curve"), i)
        _obj(row, where, RL_CURVE_KEYS)
        steps.append(_int(row["step"], _at(where, "step")))
        for key in ("oracle_accuracy", "first_error_rate"):
            _num(row[key], _at(where, key), 0.0, 1.0)
        for key in ("reward", "prm_judged", "gap"):
            _num(row[key], _at(where, key))
        if row["kl"] is not None:
            _num(row["kl"], _at(where, "kl"))
    if steps != sorted(set(steps)):
        _fail(_at(path, "curve"), f"steps must increase, got {steps}")
    if entry["hacking_step"] is not None and _int(entry["hacking_step"], _at(path, "hacking_step")) not in steps:
        _fail(_at(path, "hacking_step"), f"{entry['hacking_step']} is not a curve step")
    suites = entry["suites"]
    if not isinstance(suites, Mapping):
        _fail(_at(path, "suites"), "expected a mapping suite -> metrics")
    for suite, row in suites.items():
        where = _at(_at(path, "suites"), suite)
        if suite not in top["suites"]:
            _fail(where, f"{suite!r} is not listed in suites")
        _obj(row, where, RL_SUITE_KEYS)
        for name in ("pass1", "majority"):
            _num(row[name], _at(where, name), 0.0, 1.0)
            _num(row[f"{name}_sft"], _at(where, f"{name}_sft"), 0.0, 1.0)
            _num(row[f"{name}_diff"], _at(where, f"{name}_diff"), -1.0, 1.0)
    return entry["seed"], entry["reward"]


def validate_results(obj: Any) -> None:
    """Raise ResultsSchemaError naming the first bad field; return None for a valid document."""
    root = "results"
    _obj(obj, root, ("schema_version", "experiment", "methods", "suites", "runs", "rounds",
                     "stages"), ("references", "crossplay", "rl"))
    if obj["schema_version"] != SCHEMA_VERSION or isinstance(obj["schema_version"], bool):
        _fail(_at(root, "schema_version"),
              f"expected {SCHEMA_VERSION}, got {obj['schema_version']!r}")
    exp_path = _at(root, "experiment")
    exp = _obj(obj["experiment"], exp_path, ("name", "config_hash", "git_sha", "seeds"))
    for key in ("name", "config_hash", "git_sha"):
        _str(exp[key], _at(exp_path, key))
    seeds = _list(exp["seeds"], _at(exp_path, "seeds"))
    for i, seed in enumerate(seeds):
        _int(seed, _at(_at(exp_path, "seeds"), i))
    if not seeds or len(set(seeds)) != len(seeds):
        _fail(_at(exp_path, "seeds"), "expected a non-empty list of distinct seeds")
    _unique_strs(obj["methods"], _at(root, "methods"))
    _unique_strs(obj["suites"], _at(root, "suites"))
    _check_each_once(obj["runs"], _at(root, "runs"), _check_run, obj, "run for (seed, method, suite)")
    for i, entry in enumerate(_list(obj["rounds"], _at(root, "rounds"))):
        _check_round(entry, _at(_at(root, "rounds"), i), obj)
    for i, entry in enumerate(_list(obj["stages"], _at(root, "stages"))):
        _check_stage(entry, _at(_at(root, "stages"), i))
    for i, entry in enumerate(_list(obj.get("references", []), _at(root, "references"))):
        _check_reference(entry, _at(_at(root, "references"), i), obj)
    _check_each_once(obj.get("crossplay", []), _at(root, "crossplay"), _check_crossplay, obj,
                     "cell for (seed, attacker, defender)")
    _check_each_once(obj.get("rl", []), _at(root, "rl"), _check_rl, obj, "RL run for (seed, reward)")


def _check_each_once(entries: Any, path: str, check, top: Mapping, what: str) -> None:
    """Each entry checked by `check` (which returns its key); a key seen twice is an error."""
    seen: set[tuple] = set()
    for i, entry in enumerate(_list(entries, path)):
        key = check(entry, _at(path, i), top)
        if key in seen:
            _fail(_at(path, i), f"duplicate {what} = {key}")
        seen.add(key)
