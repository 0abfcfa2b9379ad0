"""Seeded generator of the embedded synthetic domain (`data=synthetic`).

A problem is a hidden chain of integer operations over a start value, told as a word problem
and solved with one step per operation, each step carrying exactly one equation `A op B = C`,
then `The answer is C.` (the contract in notes/PREAMBLE.md).

Families (FAMILIES below holds the numbers):
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
drawn from `id`, so its override changes what the solver learns.

Choices that keep the arithmetic learnable by tiny LMs:
- `*` uses a small multiplier 2-9 phrased "N times as many"; `/` divides by 2-9 exactly.
- Every value stays an integer >= 1 (non-negative, and never zero so "times as many" is never
  vacuous) and <= the family's cap (999, or 99,999 for big). The operand of each step is drawn
  uniformly from the operands that keep the next value in range (the same distribution as
  redrawing until it fits, without unbounded retries); an op with no valid operand is not drawn.
- Randomness: each split draws from its own random.Random seeded by (seed, split name), so a
  split never depends on the sizes of the others, and a smaller size yields a prefix.
- No overlap between splits: every chain (start, ops) is assigned by a stable hash to exactly
  one split's bucket (SPLIT_BUCKETS); a split only keeps chains from its bucket, and drops
  repeats within itself. The question text determines the chain, so texts are disjoint too.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass, replace
from typing import Any, Mapping

from aprm.data.templates import PRONOUNS, TEMPLATE_SETS, TemplateSet
from aprm.schema import Problem

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
MAX_DISTRACTORS = 8  # bounds the question length any config can ask for
OVERRIDABLE_FIELDS = ("template_set", *RANGE_FIELDS, "ops", "op_weights", "value_cap", "needs_division",
                      "wide_addend", "wide_rate", *OPTIONAL_COUNT_FIELDS, *COUNT_FIELDS)


def _override_value(name: str, value: Any, where: str) -> Any:
    """One field of a family override, checked; `where` names the config key in errors."""
    if name == "wide_addend" and value is None:
        return None
    if name in RANGE_FIELDS or name == "wide_addend":
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
    uses_wide = [name for name, unset in (("wide_rate", 0.0), ("min_wide", 0), ("max_wide", None))
                 if getattr(spec, name) != unset]
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


# split name -> (family, [lo, hi) range of the chain hash bucket out of BUCKETS)
BUCKETS = 1000
SPLIT_BUCKETS: dict[str, tuple[str, tuple[int, int]]] = {
    "train": ("id", (0, 600)),
    "val": ("id", (600, 700)),
    "test-id": ("id", (700, 760)),
    "test-long": ("long", (760, 820)),
    "test-big": ("big", (820, 880)),
    "test-unseen": ("unseen", (880, 940)),
    "test-div": ("div", (940, 1000)),
}
MAX_DRAWS_PER_PROBLEM = 2000  # bounds the work if a split's chain space runs dry


@dataclass(frozen=True)
class Chain:
    start: int
    ops: tuple[tuple[str, int], ...]
    values: tuple[int, ...]  # start, then the value after each op

    def key(self) -> str:
        return f"{self.start}|" + "|".join(f"{op}{operand}" for op, operand in self.ops)


def apply_op(value: int, op: str, operand: int) -> int:
    if op == "+":
        return value + operand
    if op == "-":
        return value - operand
    if op == "*":
        return value * operand
    if op == "/":
        if value % operand:
            raise ValueError(f"{value} / {operand} is not exact")
        return value // operand
    raise ValueError(f"unknown op {op!r}")


def _operand_choices(spec: FamilySpec, value: int, op: str) -> range | list[int]:
    """Operands for `op` that keep the next value an integer in [1, value_cap]."""
    lo, hi = spec.addend
    f_lo, f_hi = spec.factor
    if op == "+":
        return range(lo, min(hi, spec.value_cap - value) + 1)
    if op == "-":
        return range(lo, min(hi, value - 1) + 1)
    if op == "*":
        return range(f_lo, min(f_hi, spec.value_cap // value) + 1)
    return [d for d in range(spec.divisor[0], spec.divisor[1] + 1) if value % d == 0]


def _draw_op(rng: random.Random, spec: FamilySpec, options: list) -> tuple[str, Any] | None:
    """One (op, operand choices) of `options`, by `spec.op_weights`; None if every weight is 0."""
    if spec.op_weights is None:
        return rng.choice(options)  # the draw of every family before op_weights: same problems
    weights = [spec.op_weights[spec.ops.index(op)] for op, _ in options]
    return rng.choices(options, weights)[0] if any(weights) else None


def _is_wide(spec: FamilySpec, op: str, operand: int) -> bool:
    return (op in "+-" and spec.wide_addend is not None
            and spec.wide_addend[0] <= operand <= spec.wide_addend[1])


def sample_chain(rng: random.Random, spec: FamilySpec) -> Chain:
    """One chain obeying `spec` (op count, operand ranges, value cap, division and wide counts)."""
    wide_spec = replace(spec, addend=spec.wide_addend) if spec.wide_addend else None
    for _ in range(MAX_DRAWS_PER_PROBLEM):
        value = rng.randint(*spec.start)
        count = rng.randint(*spec.op_count)
        ops, values = [], [value]
        divisions = wide = 0
        for _ in range(count):
            division_allowed = spec.max_divisions is None or divisions < spec.max_divisions
            options = [(op, choices) for op in spec.ops
                       if (op != "/" or division_allowed) and (choices := _operand_choices(spec, value, op))]
            drawn = _draw_op(rng, spec, options) if options else None
            if drawn is None:
                break
            op, choices = drawn
            # rng.random() only where a wide draw can happen: families without one draw as before
            if (spec.wide_rate and op in "+-" and (spec.max_wide is None or wide < spec.max_wide)
                    and rng.random() < spec.wide_rate):
                choices = _operand_choices(wide_spec, value, op) or choices
            operand = rng.choice(choices)
            value = apply_op(value, op, operand)
            ops.append((op, operand))
            values.append(value)
            divisions += op == "/"
            wide += _is_wide(spec, op, operand)
        if (len(ops) == count and divisions >= spec.min_divisions and wide >= spec.min_wide
                and (spec.max_wide is None or wide <= spec.max_wide)):
            return Chain(values[0], tuple(ops), tuple(values))
    raise RuntimeError(f"could not draw a chain for {spec}")


def chain_bucket(chain: Chain) -> int:
    """Stable (seed- and process-independent) bucket of a chain, deciding which split owns it."""
    digest = hashlib.blake2b(chain.key().encode("ascii"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % BUCKETS


def _capitalize(text: str) -> str:
    return text[:1].upper() + text[1:]


def render(chain: Chain, spec: FamilySpec, rng: random.Random) -> tuple[str, list[str], dict]:
    """Question text, reference steps and the template choices for `chain`, worded with the
    family's template set; `spec.held_out_ops` of its operation sentences (drawn at random) take
    their wording from the other set; `spec.distractors` adds that many sentences about another
    character."""
    templates = TEMPLATE_SETS[spec.template_set]
    held_out = TEMPLATE_SETS["B" if spec.template_set == "A" else "A"]
    name, pronoun = rng.choice(templates.characters)
    singular, plural = rng.choice(templates.objects)
    words = dict(PRONOUNS[pronoun], name=name, obj=plural)

    def fill(text: str, n: int) -> str:
        return text.format(n=n, objn=singular if n == 1 else plural, **words)

    intro_id = rng.randrange(len(templates.intros))
    sentences = [fill(templates.intros[intro_id], chain.start)]
    steps, op_ids = [], []
    # no draw when nothing is held out, so such problems are the ones drawn before this option
    other = set(rng.sample(range(len(chain.ops)), spec.held_out_ops)) if spec.held_out_ops else set()
    for index, ((op, operand), before, after) in enumerate(zip(chain.ops, chain.values, chain.values[1:])):
        wording = held_out if index in other else templates
        op_id = rng.randrange(len(wording.ops[op]))
        template = wording.ops[op][op_id]
        connective = rng.choice(templates.connectives)
        sentences.append(_capitalize(connective + fill(template.question, operand)) + ".")
        steps.append(f"{_capitalize(fill(template.step, operand))}, so "
                     f"{before} {op} {operand} = {after}.")
        op_ids.append(op_id)
    # no draw without distractors, as for held_out_ops
    added = _insert_distractors(sentences, templates, rng, (name, pronoun), plural, spec.distractors,
                                spec.start[1], spec.distractors_after) if spec.distractors else []
    question_id = rng.randrange(len(templates.questions))
    sentences.append(fill(templates.questions[question_id], 0))
    steps.append(f"The answer is {chain.values[-1]}.")
    choices = {"intro": intro_id, "ops": op_ids, "question": question_id, "name": name,
               "object": plural, **({"held_out_ops": sorted(other)} if other else {}),
               **({"distractors": added} if added else {})}
    return " ".join(sentences), steps, choices


def _insert_distractors(sentences: list[str], templates: TemplateSet, rng: random.Random,
                        protagonist: tuple[str, str], objects: str, count: int, largest: int,
                        after: int) -> list[dict]:
    """Insert `count` intro-worded sentences, each at a random place after the intro and the first
    `after` operation sentences (no insert goes before them, so they keep their places), numbers
    1..`largest`, about characters of the other pronoun than `protagonist` (so "she" or "he" in a
    later sentence still means the protagonist) and objects other than theirs; returns what was
    added, in order."""
    others = [c for c in templates.characters if c[1] != protagonist[1]]
    other_objects = [o for o in templates.objects if o[1] != objects]
    added = []
    for _ in range(count):
        name, pronoun = rng.choice(others)
        singular, plural = rng.choice(other_objects)
        n = rng.randint(1, largest)
        text = rng.choice(templates.intros).format(n=n, objn=singular if n == 1 else plural,
                                                   **PRONOUNS[pronoun], name=name, obj=plural)
        position = rng.randint(1 + after, len(sentences))
        sentences.insert(position, text)
        added.append({"position": position, "name": name, "n": n})
    return added


def generate_split(split: str, size: int, seed: int,
                   families: Mapping[str, FamilySpec] | None = None) -> list[Problem]:
    """`size` distinct problems for `split` (a SPLIT_BUCKETS key); deterministic in (split, seed,
    the family's spec) and a prefix of any larger size. `families`: specs by name (`family_specs`;
    default FAMILIES)."""
    if split not in SPLIT_BUCKETS:
        raise ValueError(f"unknown synthetic split {split!r}; known: {sorted(SPLIT_BUCKETS)}")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ValueError(f"size for split {split!r} must be a non-negative integer, got {size!r}")
    family, (lo, hi) = SPLIT_BUCKETS[split]
    spec = (families or FAMILIES)[family]
    rng = random.Random(f"aprm-synthetic|seed={seed}|split={split}")
    problems: list[Problem] = []
    seen: set[str] = set()
    for _ in range(MAX_DRAWS_PER_PROBLEM * max(size, 1)):
        if len(problems) == size:
            break
        chain = sample_chain(rng, spec)
        key = chain.key()
        if key in seen or not lo <= chain_bucket(chain) < hi:
            continue
        seen.add(key)
        question, steps, choices = render(chain, spec, rng)
        problems.append(Problem(
            id=f"synthetic-{split}-{seed}-{len(problems)}",
            question=question,
            answer=str(chain.values[-1]),
            reference_steps=tuple(steps),
            meta={"source": "synthetic", "family": family, "split": split,
                  "start": chain.start, "ops": [[op, operand] for op, operand in chain.ops],
                  "values": list(chain.values), "template": spec.template_set,
                  "template_choices": choices},
        ))
    if len(problems) < size:
        raise RuntimeError(f"only {len(problems)} of {size} distinct problems for {split!r}")
    return problems
