"""The data-prep entry point: the `data` config slice in, train/val/test suites out.

data_cfg keys (the Hydra `data` group):
  source      "synthetic" | "gsm8k"                      where train/val come from
  train_size  int (null = all rows; gsm8k only)           cap on train problems
  val_size    int                                          size of the validation split
  test_size   int (null = all rows; real suites only)     cap per test suite
  suite_sizes {suite: int} (optional)                      test_size for the suites named
  suites      list of names: synthetic families (id, long, big, unseen, div; source=synthetic
              only) and/or real suites (gsm8k, svamp, math500). Default: all families for
              synthetic, ["gsm8k"] for gsm8k.
  on_error    "raise" | "skip"                             policy for bad rows in data files
  paths       {gsm8k_train, gsm8k_test, math500, svamp, processbench_dir}: null = default
  suite_seed  int | null (optional)                        seed for test suites; null = `seed`.
              Set it to keep test suites fixed across run seeds.
  families    {family: {field: value}} (optional, synthetic)  overrides of the family specs
              (aprm.data.families.family_specs); `id` also sets train and validation.

Determinism: the same (data_cfg, seed) gives the same Splits. Synthetic splits never share a
chain or question (see aprm.data.synthetic); the GSM8K validation slice is a seeded sample of the
train file, and train rows repeating a validation question are dropped.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from aprm.data.errors import SkipLog, check_on_error
from aprm.data.gsm8k import load_gsm8k
from aprm.data.math500 import load_math500
from aprm.data.paths import resolve_data_path
from aprm.data.svamp import load_svamp
from aprm.data.families import FAMILIES, family_specs
from aprm.data.synthetic import generate_split
from aprm.schema import Problem

SOURCES = ("synthetic", "gsm8k")
# suite name -> (data.paths key, loader)
REAL_SUITES: dict[str, tuple[str, Callable[..., list[Problem]]]] = {
    "gsm8k": ("gsm8k_test", load_gsm8k),
    "svamp": ("svamp", load_svamp),
    "math500": ("math500", load_math500),
}
DEFAULT_SUITES = {"synthetic": list(FAMILIES), "gsm8k": ["gsm8k"]}


@dataclass
class Splits:
    train: list[Problem]
    val: list[Problem]
    suites: dict[str, list[Problem]]
    skipped: int = 0
    skip_reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "train": [p.to_dict() for p in self.train],
            "val": [p.to_dict() for p in self.val],
            "suites": {name: [p.to_dict() for p in rows] for name, rows in self.suites.items()},
            "skipped": self.skipped,
            "skip_reasons": list(self.skip_reasons),
        }

    @classmethod
    def from_dict(cls, row: Mapping[str, Any]) -> "Splits":
        return cls(
            train=[Problem.from_dict(p) for p in row["train"]],
            val=[Problem.from_dict(p) for p in row["val"]],
            suites={name: [Problem.from_dict(p) for p in rows]
                    for name, rows in row["suites"].items()},
            skipped=int(row.get("skipped", 0)),
            skip_reasons=[str(r) for r in row.get("skip_reasons", [])],
        )


def build_splits(data_cfg: Mapping[str, Any], seed: int) -> Splits:
    """Train, validation and test suites for the `data` config slice and run seed."""
    source = data_cfg.get("source", "synthetic")
    if source not in SOURCES:
        raise ValueError(f"data.source must be one of {SOURCES}, got {source!r}")
    on_error = check_on_error(data_cfg.get("on_error", "raise"))
    paths = data_cfg.get("paths") or {}
    suites = list(data_cfg.get("suites") or DEFAULT_SUITES[source])
    suite_seed = data_cfg.get("suite_seed")
    suite_seed = seed if suite_seed is None else _size(suite_seed, "suite_seed", allow_null=False)
    test_size = _size(data_cfg.get("test_size"), "test_size", allow_null=True)
    sizes = _suite_sizes(data_cfg.get("suite_sizes"), suites)
    skips = SkipLog()

    families = family_specs(data_cfg.get("families"))
    if source == "synthetic":
        train = generate_split("train", _size(data_cfg.get("train_size"), "train_size"), seed, families)
        val = generate_split("val", _size(data_cfg.get("val_size"), "val_size"), seed, families)
    else:
        train, val = _gsm8k_train_val(
            paths, _size(data_cfg.get("train_size"), "train_size", allow_null=True),
            _size(data_cfg.get("val_size"), "val_size"), seed, on_error, skips)

    built: dict[str, list[Problem]] = {}
    for name in suites:
        if name in built:
            raise ValueError(f"data.suites lists {name!r} twice")
        size = sizes.get(name, test_size)
        if name in FAMILIES and source == "synthetic":
            if size is None:
                raise ValueError("data.test_size must be an integer for synthetic suites")
            # the first `size` problems of the family's draw, whatever the size: a smaller suite
            # is a prefix of a larger one
            built[name] = generate_split(f"test-{name}", size, suite_seed, families)
        elif name in REAL_SUITES:
            key, loader = REAL_SUITES[name]
            rows = loader(resolve_data_path(paths, key), on_error=on_error, skips=skips)
            built[name] = _seeded_subset(rows, size, f"aprm-suite|{suite_seed}|{name}")
        else:
            allowed = (list(FAMILIES) if source == "synthetic" else []) + list(REAL_SUITES)
            raise ValueError(f"unknown suite {name!r} for data.source={source}; "
                             f"choose from {allowed}")
    return Splits(train, val, built, skips.skipped, list(skips.reasons))


def _suite_sizes(sizes: Mapping[str, Any] | None, suites: list[str]) -> dict[str, int]:
    """data.suite_sizes, checked: each key one of data.suites, each value a positive integer."""
    if sizes is None:
        return {}
    if not isinstance(sizes, Mapping):
        raise ValueError(f"data.suite_sizes must be a mapping suite -> size, got {sizes!r}")
    unknown = sorted(set(sizes) - set(suites))
    if unknown:
        raise ValueError(f"data.suite_sizes: {unknown} not in data.suites {suites}")
    return {name: _size(size, f"suite_sizes.{name}") for name, size in sizes.items()}


def _gsm8k_train_val(paths: Mapping[str, Any], train_size: int | None, val_size: int,
                     seed: int, on_error: str, skips: SkipLog
                     ) -> tuple[list[Problem], list[Problem]]:
    rows = load_gsm8k(resolve_data_path(paths, "gsm8k_train"), split="train", on_error=on_error,
                      skips=skips)
    if val_size > len(rows):
        raise ValueError(f"data.val_size={val_size} exceeds the {len(rows)} GSM8K train rows")
    order = list(range(len(rows)))
    random.Random(f"aprm-gsm8k-val|{seed}").shuffle(order)
    val = [rows[i] for i in sorted(order[:val_size])]
    val_questions = {p.question for p in val}
    rest = [rows[i] for i in order[val_size:] if rows[i].question not in val_questions]
    train = rest if train_size is None else rest[:train_size]
    return train, val


def _seeded_subset(rows: list[Problem], size: int | None, rng_key: str) -> list[Problem]:
    """`size` rows drawn by a seeded sample, kept in file order (all rows when size is None)."""
    if size is None or size >= len(rows):
        return list(rows)
    keep = sorted(random.Random(rng_key).sample(range(len(rows)), size))
    return [rows[i] for i in keep]


def _size(value: Any, key: str, allow_null: bool = False) -> int | None:
    if value is None and allow_null:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"data.{key} must be a non-negative integer"
                         f"{' or null' if allow_null else ''}, got {value!r}")
    return value
