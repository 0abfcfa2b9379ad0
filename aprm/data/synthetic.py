"""Seeded generator of the embedded synthetic domain (`data=synthetic`).

A problem is a hidden chain of integer operations over a start value, told as a word problem
and solved with one step per operation, each step carrying exactly one equation `A op B = C`,
then `The answer is C.` (the contract in notes/PREAMBLE.md).

The families and their overrides (`data.families`) are in aprm.data.families.

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
import random
from dataclasses import dataclass
from typing import Any, Mapping

from aprm.data.families import FAMILIES, FamilySpec
from aprm.data.templates import PRONOUNS, TEMPLATE_SETS, TemplateSet
from aprm.schema import Problem

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


def _operand_choices(spec: FamilySpec, value: int, op: str,
                     addend: tuple[int, int] | None = None) -> range | list[int]:
    """Operands for `op` that keep the next value an integer in [1, value_cap]; +/- take theirs
    from `addend` (default `spec.addend`)."""
    lo, hi = addend or spec.addend
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
                choices = _operand_choices(spec, value, op, spec.wide_addend) or choices
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
