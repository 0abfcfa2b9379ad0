"""Structured configs: a config group's dataclass is the only place its defaults are written, and
`build_config` turns a plain mapping (a composed Hydra group, or a library caller's dict) into an
instance of it, checking what a dataclass cannot: unknown keys and value types. Each dataclass's
`__post_init__` checks ranges and choices with the helpers below. Every error names its key
(`eval.n_samples must be an int >= 1, got 0`). Torch-free, so composing a config stays fast.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, fields, is_dataclass
from typing import Any, Mapping, Sequence

_SCALAR_TYPES: dict[str, tuple[type, ...]] = {"int": (int,), "float": (int, float), "bool": (bool,), "str": (str,)}
_KIND_NAMES = {"int": "an integer", "float": "a number", "bool": "true or false", "str": "a string"}
_NESTED_TYPES: dict[str, type] = {}  # dataclass name -> class, filled by `nested_config`


def nested_config(cls: type) -> type:
    """Class decorator: `cls` may be the type of another config's field (field annotations are
    strings under `from __future__ import annotations`, so they are looked up by name)."""
    _NESTED_TYPES[cls.__name__] = cls
    return cls


def positive_int(owner: Any, *names: str) -> None:
    int_at_least(owner, 1, *names)


def int_at_least(owner: Any, low: int, *names: str, high: int | None = None) -> None:
    for name in names:
        value = getattr(owner, name)
        if value is None and _nullable(owner, name):
            continue
        if (isinstance(value, bool) or not isinstance(value, int) or value < low
                or (high is not None and value > high)):
            span = f"in [{low}, {high}]" if high is not None else f">= {low}"
            if low == 1 and high is None:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
            raise ValueError(f"{name} must be an int {span}, got {value!r}")


def number(owner: Any, name: str, low: float, strict: bool = False, high: float | None = None) -> None:
    value = getattr(owner, name)
    if value is None and _nullable(owner, name):
        return
    if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
            or value < low or (strict and value == low) or (high is not None and value > high)):
        bound = f"{'>' if strict else '>='} {low}" + (f" and <= {high}" if high is not None else "")
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")


def choice(owner: Any, name: str, allowed: Sequence[str]) -> None:
    if getattr(owner, name) not in allowed:
        raise ValueError(f"{name} must be one of {list(allowed)}, got {getattr(owner, name)!r}")


def subset(owner: Any, name: str, allowed: Sequence[str], nonempty: bool = True) -> None:
    values = getattr(owner, name)
    if values is None and _nullable(owner, name):
        return
    if nonempty and not values:
        raise ValueError(f"{name} must not be empty; allowed values: {list(allowed)}")
    bad = [v for v in values if v not in allowed]
    if bad:
        raise ValueError(f"{name}: unknown {bad}; allowed values: {list(allowed)}")


def _nullable(owner: Any, name: str) -> bool:
    return str(next(f.type for f in fields(owner) if f.name == name)).startswith("Optional[")


def _check_type(annotation: str, value: Any, where: str) -> None:
    """`value` against a field annotation string: Any, int/float/bool/str, Optional[...],
    List[...], Dict[str, ...]."""
    if annotation == "Any":
        return
    optional = re.fullmatch(r"Optional\[(.*)\]", annotation)
    if optional:
        if value is None:
            return
        annotation = optional.group(1)
    listed = re.fullmatch(r"List\[(.*)\]", annotation)
    if listed:
        if not isinstance(value, list):
            raise ValueError(f"{where} must be a list, got {value!r}")
        for i, item in enumerate(value):
            _check_type(listed.group(1), item, f"{where}[{i}]")
        return
    mapped = re.fullmatch(r"Dict\[str, (.*)\]", annotation)
    if mapped:
        if not isinstance(value, Mapping):
            raise ValueError(f"{where} must be a mapping, got {value!r}")
        for key, item in value.items():
            _check_type(mapped.group(1), item, f"{where}.{key}")
        return
    expected = _SCALAR_TYPES.get(annotation)
    if expected is not None and (isinstance(value, bool) != (annotation == "bool") or not isinstance(value, expected)):
        raise ValueError(f"{where} must be {_KIND_NAMES[annotation]}, got {value!r}")


def _at(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


class ConfigProblems(ValueError):
    """Every problem `build_config` found in one mapping, each naming its key."""

    def __init__(self, problems: Sequence[str]):
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


def build_config(cls: type, values: Mapping[str, Any] | None, where: str) -> Any:
    """An instance of dataclass `cls` from a plain mapping: its defaults for what is missing,
    nested dataclasses built the same way on top of their defaults. An unknown key, a value of
    the wrong type or out of range raises ConfigProblems naming `where`.<key> (`where` "" = the
    top level), with every problem found, not only the first."""
    if values is not None and not isinstance(values, Mapping):
        raise ConfigProblems([f"{where or 'config'} must be a mapping, got {values!r}"])
    values = dict(values or {})
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigProblems([f"{where or 'config'}: unknown key(s) {unknown}; known: {sorted(known)}"])
    defaults = cls()
    kwargs, problems = {}, []
    for name, value in values.items():
        try:
            kwargs[name] = _field_value(known[name], getattr(defaults, name), value, _at(where, name))
        except ConfigProblems as err:
            problems += err.problems
        except ValueError as err:
            problems.append(str(err))
    if not problems:
        try:
            return cls(**kwargs)
        except ValueError as err:
            combined = _at(where, str(err))
    else:
        combined = None
    # Range checks run in __post_init__ and stop at the first: try each given value alone (the
    # rest at their defaults) to name every bad one; a problem only in combination (or one the
    # defaults of the other keys cause) is named as the whole mapping raised it.
    for name, value in kwargs.items():
        try:
            cls(**{name: value})
        except ValueError as err:
            if re.match(rf"{name}\b", str(err)):
                problems.append(_at(where, str(err)))
    if not problems and combined:
        problems.append(combined)
    raise ConfigProblems(list(dict.fromkeys(problems)))


def _field_value(spec: Any, default: Any, value: Any, where: str) -> Any:
    """A field's value, type-checked, or built as its nested dataclass on top of its default."""
    annotation = str(spec.type)
    optional = re.fullmatch(r"Optional\[(.*)\]", annotation)
    nested = _NESTED_TYPES.get(optional.group(1) if optional else annotation)
    if nested is None or (optional and value is None):
        _check_type(annotation, value, where)
        return value
    if value is not None and not isinstance(value, Mapping):
        raise ValueError(f"{where} must be a mapping, got {value!r}")
    base = asdict(default) if is_dataclass(default) else {}
    return build_config(nested, {**base, **dict(value or {})}, where)
