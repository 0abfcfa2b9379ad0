"""Typed validation of a composed config (a plain dict), run before any compute.

Each rule names a dotted key; every problem found is reported at once, each naming the key and
the allowed values, so a bad sweep fails in milliseconds instead of after training.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

from aprm.data.synthetic import family_specs
from aprm.eval.aggregate import AGGREGATIONS
from aprm.method_configs import build_method_config
from aprm.methods import method_names
from aprm.models.references import PRM_FORMATS, PRM_INITS, PRM_KINDS


class _RegisteredMethods(Sequence[str]):
    """The method registry's names as they are when a config is validated (a method registered
    after this module was imported is allowed too)."""

    def __getitem__(self, index):
        return method_names()[index]

    def __len__(self) -> int:
        return len(method_names())


METHODS: Sequence[str] = _RegisteredMethods()
SYNTHETIC_SUITES = ("id", "long", "big", "unseen", "div")
REAL_SUITES = ("gsm8k", "svamp", "math500")
RUNNER_KINDS = ("threads", "dask", "ray")  # Prefect task runners of the fan-out (flows.task_runners)


class ConfigValidationError(ValueError):
    pass


@dataclass(frozen=True)
class Rule:
    key: str
    check: Callable[[Any], str | None]  # returns a problem description or None
    required: bool = True


def _number(kind: type, low: float | None = None, high: float | None = None,
            low_open: bool = False, nullable: bool = False) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if value is None:
            return None if nullable else f"must be a {kind.__name__}, got null"
        ok_types = (int,) if kind is int else (int, float)
        if isinstance(value, bool) or not isinstance(value, ok_types):
            return f"must be a {kind.__name__}, got {type(value).__name__} {value!r}"
        if low is not None and (value <= low if low_open else value < low):
            return f"must be {'>' if low_open else '>='} {low}, got {value}"
        if high is not None and value > high:
            return f"must be <= {high}, got {value}"
        return None

    return check


def _choice(allowed: Sequence[str]) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        return None if value in allowed else f"got {value!r}; allowed values: {list(allowed)}"

    return check


def _subset(allowed: Sequence[str], nonempty: bool = True) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if not isinstance(value, list):
            return f"must be a list, got {type(value).__name__}"
        if nonempty and not value:
            return f"must not be empty; allowed values: {list(allowed)}"
        bad = [v for v in value if v not in allowed]
        return f"unknown {bad}; allowed values: {list(allowed)}" if bad else None

    return check


def _text(nullable: bool = False) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if value is None and nullable:
            return None
        if not isinstance(value, str) or not value:
            return f"must be a non-empty string{' or null' if nullable else ''}, got {value!r}"
        return None

    return check


def _seeds(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return f"must be null or a non-empty list of integers, got {value!r}"
    return None


def _per_method(allowed: Sequence[str]) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if value is None:
            return None
        if not isinstance(value, dict):
            return f"must be a mapping method -> aggregation, got {type(value).__name__}"
        bad = [f"{k}: {v!r}" for k, v in value.items() if k not in METHODS or v not in allowed]
        return (f"bad entries {bad}; methods: {list(METHODS)}, aggregations: {list(allowed)}"
                if bad else None)

    return check


def _families(value: Any) -> str | None:
    try:
        family_specs(value, key="")
    except ValueError as err:
        return str(err).lstrip(".")
    return None


def _flag(value: Any) -> str | None:
    return None if isinstance(value, bool) else f"must be true or false, got {value!r}"


BASE_RULES: tuple[Rule, ...] = (
    Rule("seed", _number(int, 0)),
    Rule("seeds", _seeds, required=False),
    Rule("dry_run", _flag, required=False),
    Rule("verbose", _flag, required=False),
    Rule("solver_seed", _number(int, 0, nullable=True), required=False),
    Rule("oracle.static_train_problems", _number(int, 1, nullable=True), required=False),
    Rule("oracle.perturbations_per_step", _number(float, 0.0, 5.0, low_open=True, nullable=True), required=False),
    Rule("data.source", _choice(("synthetic", "gsm8k"))),
    Rule("data.train_size", _number(int, 1, nullable=True)),
    Rule("data.val_size", _number(int, 1)),
    Rule("data.suite_seed", _number(int, 0, nullable=True), required=False),
    Rule("data.test_size", _number(int, 1, nullable=True)),
    Rule("data.on_error", _choice(("raise", "skip"))),
    Rule("data.families", _families, required=False),
    Rule("compare_with", _subset(METHODS, nonempty=False), required=False),
    Rule("eval.n_samples", _number(int, 1, 4096)),
    Rule("eval.temperature", _number(float, 0.0, low_open=True)),
    Rule("eval.top_p", _number(float, 0.0, 1.0, low_open=True)),
    Rule("eval.max_new_tokens", _number(int, 1)),
    Rule("eval.aggregations", _subset(AGGREGATIONS)),
    Rule("eval.headline_aggregation", _choice(AGGREGATIONS)),
    Rule("eval.first_error_threshold", _number(float, 0.0, 1.0)),
    Rule("eval.report.method_aggregation", _per_method(AGGREGATIONS), required=False),
    Rule("train.solver.lr", _number(float, 0.0, low_open=True)),
    Rule("train.solver.epochs", _number(float, 0.0, low_open=True)),
    Rule("train.solver.batch_size", _number(int, 1)),
    Rule("train.prm.lr", _number(float, 0.0, low_open=True)),
    Rule("train.prm.epochs", _number(float, 0.0, low_open=True)),
    Rule("train.prm.batch_size", _number(int, 1)),
    Rule("model.kind", _choice(("tiny", "hf"))),
    Rule("model.prm_init", _choice(PRM_INITS), required=False),
    Rule("model.prm_kind", _choice(PRM_KINDS), required=False),
    Rule("backend.name", _choice(("hf", "openai"))),
    Rule("runner.kind", _choice(RUNNER_KINDS)),
    Rule("runner.workers", _number(int, 1)),
    Rule("runner.address", _text(nullable=True)),
    Rule("stage_retries.sample_solutions.retries", _number(int, 0, 20)),
    Rule("stage_retries.sample_solutions.delay_s", _number(float, 0.0, 3600.0)),
    Rule("stage_retries.sample_solutions.timeout_s", _number(float, 0.0, low_open=True, nullable=True)),
)

def _lookup(cfg: dict, dotted: str) -> tuple[bool, Any]:
    node: Any = cfg
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def validate_config(cfg: dict) -> None:
    """Raise ConfigValidationError listing every bad key; return None when the config is sound."""
    problems: list[str] = []
    for rule in BASE_RULES:
        present, value = _lookup(cfg, rule.key)
        if not present:
            if rule.required:
                problems.append(f"{rule.key}: missing")
            continue
        problem = rule.check(value)
        if problem:
            problems.append(f"{rule.key}: {problem}")
    problems += _method_problems(cfg.get("method"))
    source = cfg.get("data", {}).get("source")
    suites = SYNTHETIC_SUITES if source == "synthetic" else REAL_SUITES
    problem = _subset(suites)(cfg.get("data", {}).get("suites"))
    if problem:
        problems.append(f"data.suites: {problem}")
    model = cfg.get("model", {})
    if model.get("prm_kind") == "surprise_head" and model.get("prm_init", "fresh") != "fresh":
        problems.append(f"model.prm_init: {model.get('prm_init')!r} applies to model.prm_kind=transformer only "
                        "(a surprise_head PRM always reads the trained solver); leave it at 'fresh'")
    if cfg.get("eval_prm"):
        problems += _eval_prm_problems(cfg)
    if problems:
        raise ConfigValidationError("invalid config:\n  " + "\n  ".join(problems))


def _method_problems(method: Any) -> list[str]:
    """The `method` group is checked by its structured config (aprm.method_configs)."""
    if not isinstance(method, dict):
        return [f"method: must be a mapping, got {method!r}"]
    problem = _choice(METHODS)(method.get("name"))
    if problem:
        return [f"method.name: {problem}"]
    try:
        build_method_config(method)
    except ValueError as err:
        return [str(err)]
    return []


def _eval_prm_problems(cfg: dict) -> list[str]:
    """experiment=eval_prm: the PRM to score, its format, and what to score it on."""
    model, spec = cfg.get("model", {}), cfg["eval_prm"]
    problems = []
    if not isinstance(model.get("prm"), str) or not model["prm"].strip():
        problems.append("model.prm: experiment=eval_prm needs the PRM to evaluate (a folder or a hub id)")
    if model.get("prm_format") not in PRM_FORMATS:
        problems.append(f"model.prm_format: {model.get('prm_format')!r} is not one of {', '.join(PRM_FORMATS)}")
    samples = spec.get("samples")  # that it is a file is checked before the run (flows.dry_run)
    if samples is not None and (not isinstance(samples, str) or not samples.strip()):
        problems.append(f"eval_prm.samples: expected a path or null, got {samples!r}")
    if samples is None and not (cfg.get("eval", {}).get("processbench_splits")):
        problems.append("eval_prm.samples: null and eval.processbench_splits empty: nothing to evaluate on")
    return problems
