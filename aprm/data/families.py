"""The families of the synthetic domain and their overrides (`data.families`).

FAMILIES holds the numbers:
- id: 2-4 ops from + - *, start and +/- operands 1-99, template set A;
- long: 5-8 ops, otherwise as id (only the length is out of distribution);
- big: start and +/- operands 100-9999, values up to 99,999;
- unseen: as id but worded with held-out template set B (other names, nouns, phrasings);
- div: as id plus exact division, at least one division per problem.

Two options shift part of a problem only (`data.families.<family>.…`): `held_out_ops` words some
operation sentences with the other template set; `distractors` adds sentences about another
character's objects, whose numbers the solution must ignore (`distractors_after`: not before that
many operation sentences). `op_weights` sets how often each operation is drawn, and
`min_divisions`/`max_divisions` bound the divisions of a problem: division rare in `id` (weight
0.1, at most one) and common in `div` (two or more) is `experiment=benchmark`'s `div` shift.
`wide_addend` is a second range of +/- operands: each +/- step draws from it with probability
`wide_rate`, and `min_wide`/`max_wide` bound how many +/- operands of a problem lie in it. Rare
3-digit operands in `id` (at most one) and two or more in `big` is the benchmark's `big` shift.

`data.families` overrides fields of these specs per family (`family_specs`): e.g. an easier `id`
for a first look, or a broader `id` mix with suites just outside it. Train and validation are
drawn from `id`, so its override changes what the solver learns. aprm.data.synthetic draws the
problems.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Mapping

from aprm.data.templates import TEMPLATE_SETS

OP_SYMBOLS = ("+", "-", "*", "/")


@dataclass(frozen=True)
class FamilySpec:
    template_set: str
    op_count: tuple[int, int]  # inclusive
    start: tuple[int, int]
    addend: tuple[int, int]  # operand of + and -
    factor: tuple[int, int]  # multiplier of *
    ops: tuple[str, ...]
    value_cap: int
    # operation sentences (at random among the problem's) worded with the other template set, the
    # rest with `template_set`: a shift in part of the wording only
    held_out_ops: int = 0
    # sentences "<another character> has <n> <objects>." at random places among the operation
    # sentences: numbers in the question that no step uses
    distractors: int = 0
    # a distractor goes after at least this many operation sentences: right after the intro the
    # solver reads it as the start and fails for sure (docs/LOG.md, 2026-12-05, session 14)
    distractors_after: int = 0
    # divisor of /: its own range, so that a suite can divide by numbers the ID problems never do
    divisor: tuple[int, int] = (2, 9)
    # relative weights of `ops` when a step's operation is drawn (None: alike). A small weight and
    # `max_divisions` make division rare in training, for a suite where it is common
    op_weights: tuple[float, ...] | None = None
    # division steps of a problem: at least `min_divisions`, at most `max_divisions` (None: no limit)
    min_divisions: int = 0
    max_divisions: int | None = None
    # a second range of +/- operands, drawn from with probability `wide_rate` per +/- step (while
    # under `max_wide`; where it has no valid operand the step keeps `addend`). `min_wide` and
    # `max_wide` bound the +/- operands of a problem that lie in it, however drawn. A few wide
    # operands in training give a suite of many of them a solver that is not at zero there
    wide_addend: tuple[int, int] | None = None
    wide_rate: float = 0.0
    min_wide: int = 0
    max_wide: int | None = None


FAMILIES: dict[str, FamilySpec] = {
    "id": FamilySpec("A", (2, 4), (1, 99), (1, 99), (2, 9), ("+", "-", "*"), 999),
    "long": FamilySpec("A", (5, 8), (1, 99), (1, 99), (2, 9), ("+", "-", "*"), 999),
    "big": FamilySpec("A", (2, 4), (100, 9999), (100, 9999), (2, 9), ("+", "-", "*"), 99_999),
    "unseen": FamilySpec("B", (2, 4), (1, 99), (1, 99), (2, 9), ("+", "-", "*"), 999),
    "div": FamilySpec("A", (2, 4), (1, 99), (1, 99), (2, 9), ("+", "-", "*", "/"), 999,
                      min_divisions=1),
}

RANGE_FIELDS = ("op_count", "start", "addend", "factor", "divisor")
COUNT_FIELDS = ("held_out_ops", "distractors", "distractors_after", "min_divisions", "min_wide")
OPTIONAL_COUNT_FIELDS = ("max_divisions", "max_wide")  # null: no limit
OPTIONAL_RANGE_FIELDS = ("wide_addend",)  # null: none
MAX_DISTRACTORS = 8  # bounds the question length any config can ask for
OVERRIDABLE_FIELDS = ("template_set", *RANGE_FIELDS, "ops", "op_weights", "value_cap", "needs_division",
                      *OPTIONAL_RANGE_FIELDS, "wide_rate", *OPTIONAL_COUNT_FIELDS, *COUNT_FIELDS)


def _override_value(name: str, value: Any, where: str) -> Any:
    """One field of a family override, checked; `where` names the config key in errors."""
    if name in OPTIONAL_RANGE_FIELDS and value is None:
        return None
    if name in RANGE_FIELDS or name in OPTIONAL_RANGE_FIELDS:
        if (not isinstance(value, (list, tuple)) or len(value) != 2
                or any(isinstance(v, bool) or not isinstance(v, int) for v in value)
                or not 1 <= value[0] <= value[1]):
            raise ValueError(f"{where} must be [low, high] with integers 1 <= low <= high, got {value!r}")
        return (int(value[0]), int(value[1]))
    if name == "template_set":
        if value not in TEMPLATE_SETS:
            raise ValueError(f"{where} must be one of {sorted(TEMPLATE_SETS)}, got {value!r}")
        return value
    if name == "ops":
        if (not isinstance(value, (list, tuple)) or not value
                or any(op not in OP_SYMBOLS for op in value) or len(set(value)) != len(value)):
            raise ValueError(f"{where} must be a non-empty list of distinct ops from {list(OP_SYMBOLS)}, got {value!r}")
        return tuple(value)
    if name == "op_weights":
        if (not isinstance(value, (list, tuple)) or not value
                or any(isinstance(w, bool) or not isinstance(w, (int, float)) or not 0 <= w < math.inf
                       for w in value)
                or not any(value)):
            raise ValueError(f"{where} must be a list of finite weights >= 0, one per op, not all 0, got {value!r}")
        return tuple(float(w) for w in value)
    if name == "wide_rate":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise ValueError(f"{where} must be a probability in [0, 1], got {value!r}")
        return float(value)
    if name in OPTIONAL_COUNT_FIELDS:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise ValueError(f"{where} must be null or an integer >= 0, got {value!r}")
        return value
    if name == "value_cap":
        if isinstance(value, bool) or not isinstance(value, int) or value < 2:
            raise ValueError(f"{where} must be an integer >= 2, got {value!r}")
        return value
    if name in COUNT_FIELDS:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{where} must be an integer >= 0, got {value!r}")
        if name == "distractors" and value > MAX_DISTRACTORS:
            raise ValueError(f"{where} must be at most {MAX_DISTRACTORS}, got {value}")
        return value
    if not isinstance(value, bool):
        raise ValueError(f"{where} must be true or false, got {value!r}")
    return value


def family_specs(overrides: Mapping[str, Mapping[str, Any]] | None = None,
                 key: str = "data.families") -> dict[str, FamilySpec]:
    """FAMILIES with `overrides` ({family: {field: value}}) applied; errors name `key`.<family>.<field>."""
    if not overrides:
        return dict(FAMILIES)
    if not isinstance(overrides, Mapping):
        raise ValueError(f"{key} must be a mapping family -> fields, got {type(overrides).__name__}")
    specs = dict(FAMILIES)
    for family, fields in overrides.items():
        if family not in FAMILIES:
            raise ValueError(f"{key}.{family}: unknown family; known: {list(FAMILIES)}")
        if not isinstance(fields, Mapping):
            raise ValueError(f"{key}.{family} must be a mapping field -> value, got {fields!r}")
        changes = {}
        for name, value in fields.items():
            if name not in OVERRIDABLE_FIELDS:
                raise ValueError(f"{key}.{family}.{name}: unknown field; known: {list(OVERRIDABLE_FIELDS)}")
            changes[name] = _override_value(name, value, f"{key}.{family}.{name}")
        if "needs_division" in changes:  # the older key: at least one division, or none required
            needed = changes.pop("needs_division")
            changes["min_divisions"] = max(changes.get("min_divisions", 0), 1) if needed \
                else changes.get("min_divisions", 0)
        spec = replace(FAMILIES[family], **changes)
        if spec.min_divisions and "/" not in spec.ops:
            raise ValueError(f"{key}.{family}: needs_division and min_divisions require '/' in ops")
        if spec.op_weights is not None and len(spec.op_weights) != len(spec.ops):
            raise ValueError(f"{key}.{family}: op_weights has {len(spec.op_weights)} weights for "
                             f"{len(spec.ops)} ops {list(spec.ops)}")
        if spec.max_divisions is not None and spec.max_divisions < spec.min_divisions:
            raise ValueError(f"{key}.{family}: max_divisions {spec.max_divisions} is below the "
                             f"{spec.min_divisions} a problem needs")
        if spec.min_divisions > spec.op_count[1]:
            raise ValueError(f"{key}.{family}: min_divisions {spec.min_divisions} exceeds the most "
                             f"operations of a problem ({spec.op_count[1]})")
        _check_wide(spec, f"{key}.{family}")
        if spec.distractors_after > spec.op_count[0]:
            raise ValueError(f"{key}.{family}: distractors_after {spec.distractors_after} exceeds the "
                             f"fewest operations of a problem ({spec.op_count[0]})")
        if spec.held_out_ops > spec.op_count[0]:
            raise ValueError(f"{key}.{family}: held_out_ops {spec.held_out_ops} exceeds the fewest "
                             f"operations of a problem ({spec.op_count[0]})")
        if spec.start[0] > spec.value_cap:
            raise ValueError(f"{key}.{family}: start {list(spec.start)} lies above value_cap {spec.value_cap}")
        specs[family] = spec
    return specs


def _check_wide(spec: FamilySpec, where: str) -> None:
    """The wide-operand fields agree with each other and with the spec; errors name `where`."""
    uses_wide = [name for name in ("wide_rate", "min_wide", "max_wide")
                 if getattr(spec, name) != FamilySpec.__dataclass_fields__[name].default]
    if spec.wide_addend is None:
        if uses_wide:
            raise ValueError(f"{where}: {', '.join(uses_wide)} need(s) wide_addend, the range of wide operands")
        return
    if spec.max_wide is not None and spec.max_wide < spec.min_wide:
        raise ValueError(f"{where}: max_wide {spec.max_wide} is below the {spec.min_wide} a problem needs")
    if spec.min_wide > spec.op_count[1]:
        raise ValueError(f"{where}: min_wide {spec.min_wide} exceeds the most operations of a problem "
                         f"({spec.op_count[1]})")
    if spec.min_wide and not {"+", "-"} & set(spec.ops):
        raise ValueError(f"{where}: min_wide requires '+' or '-' in ops (wide operands are theirs)")
