"""Long fuzzing campaign against the oracle, its evaluator and aprm.numbers.parse_number.

    .venv/bin/python bench/fuzz_oracle.py [--n 1000000] [--seed 0] [--out FILE.json]

Each input goes through judge_step (with a prefix and a reference), evaluate and parse_number.
A failure is an exception, a malformed Verdict, an evaluator value over the bit bound, or a
random expression whose value differs from the one computed from its syntax tree. Prints the
throughput, the 10 slowest inputs with their times, and every failure (first 20 in full). The
process lowers its own priority (nice 10) so it does not crowd out other work.
"""

from __future__ import annotations

import argparse
import heapq
import os
import random
import sys
import time
import traceback
from fractions import Fraction

from aprm.io import write_json
from aprm.numbers import parse_number
from aprm.oracle import Verdict, evaluate, judge_step
from aprm.oracle.arith import MAX_BITS
from aprm.schema import Problem

PROBLEM = Problem("fuzz", "Ava has 23 stickers. She buys 15 more stickers. Then she gives away "
                          "7 stickers. How many stickers does Ava have now?", "31")
REFERENCE = ["She buys 15 more, so 23 + 15 = 38.", "She gives away 7, so 38 - 7 = 31.",
             "The answer is 31."]
SEEDS = REFERENCE + [
    "Natalia sold 48/2 = <<48/2=24>>24 clips in May.",
    r"So, they have \(18 - 6 = 12\) flamingos left.",
    r"\[ 8 \text{ pounds} + 4 \text{ pounds} = 12 \text{ pounds} \]",
    "Total cost = Cost per gallon * Total gallons purchased = $3.5 * 4000 = $14,000.",
    r"The answer is $\boxed{2800}$.", "#### 72", "Let x = 5, so 2x + 3 = 13.",
    r"\frac{2}{3} \times 9,300 = 6,200", "20% of 50 = 10", "3 1/2 * 2 = 7",
]
INJECTIONS = ["__import__('os').system('x')", "eval('1+1')", "${7*7}", "{{7*7}}",
              "'; DROP TABLE x; --", "\x00\x1b[2J", "\\input{/etc/passwd}", "\u202e", "\ufeff"]
ALPHABET = ("0123456789+-*/^=()[]{}.,%$ x\\<>#" + "٠١٢٣٤٥٦٧٨٩" + "×÷−≈½²"
            + "abcfrac")
LABELS = {"correct", "incorrect", "unknown"}
REASONS = {"ok", "arithmetic", "grounding", "progress", "answer", "unparseable", "bounds",
           "empty"}
_LATEX_OPS = {"+": "+", "-": "-", "*": r"\times", "/": r"\div"}


def random_tree(rng: random.Random, depth: int):
    """(text, exact value or None for division by zero)."""
    if depth == 0 or rng.random() < 0.3:
        n = rng.randint(0, 9999)
        return (f"{n:,}" if rng.random() < 0.3 else str(n)), Fraction(n)
    if rng.random() < 0.15:
        text, value = random_tree(rng, depth - 1)
        return f"-({text})", None if value is None else -value
    op = rng.choice("+-*/")
    (lt, lv), (rt, rv) = random_tree(rng, depth - 1), random_tree(rng, depth - 1)
    spell = rng.choice([op, _LATEX_OPS[op], {"*": "×", "/": "÷", "-": "−", "+": "+"}[op]])
    value = None
    if lv is not None and rv is not None and not (op == "/" and rv == 0):
        value = {"+": lv + rv, "-": lv - rv, "*": lv * rv, "/": lv / rv if rv else 0}[op]
    return f"({lt} {spell} {rt})", value


def mutate(rng: random.Random, text: str) -> str:
    chars = list(text)
    for _ in range(rng.randint(1, 6)):
        roll = rng.random()
        pos = rng.randint(0, len(chars))
        if roll < 0.4:
            chars.insert(pos, rng.choice(ALPHABET))
        elif roll < 0.7 and chars:
            del chars[min(pos, len(chars) - 1)]
        elif chars:
            chars[min(pos, len(chars) - 1)] = rng.choice(ALPHABET)
    return "".join(chars)


# generator -> weight: mostly small, varied inputs; the huge ones are rarer (each costs a lot)
WEIGHTS = [30, 25, 20, 2, 4, 5, 8, 1, 5]


def make_input(rng: random.Random) -> tuple[str, Fraction | None, bool]:
    """(text, expected value, whether the value is known) from one of the generators."""
    kind = rng.choices(range(len(WEIGHTS)), WEIGHTS)[0]
    if kind == 0:
        text, value = random_tree(rng, rng.randint(1, 5))
        return text, value, True
    if kind == 1:
        return mutate(rng, rng.choice(SEEDS)), None, False
    if kind == 2:
        return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 80))), None, False
    if kind == 3:
        n = rng.choice([10, 100, 1000, 10_000, 50_000])
        text = rng.choice("([{") * n + "1" + rng.choice(")]}") * n
        return text + rng.choice(["", " = 1"]), None, False
    if kind == 4:
        return str(rng.randint(10 ** 30, 10 ** 400)) + rng.choice(["", " + 1", " = 5"]), None, False
    if kind == 5:
        tower = (str(rng.randint(0, 99)) for _ in range(rng.randint(2, 6)))
        return rng.choice(["^", "**"]).join(tower), None, False
    if kind == 6:
        return rng.choice(INJECTIONS) + mutate(rng, rng.choice(SEEDS)), None, False
    if kind == 7:
        size = rng.choice([10_000, 100_000, 1_000_000])
        return rng.choice(["1 ", "a", "1+", "(", "=", "<<1=1>>"]) * (size // 2), None, False
    sep = rng.choice([",", " ", "{,}", "\\,", ".", "'"])
    digits = str(rng.randint(0, 10 ** 12))
    return sep.join(digits[i:i + 3] for i in range(0, len(digits), 3)), None, False


def check_one(text: str, value: Fraction | None, known: bool) -> str | None:
    """None, or what went wrong."""
    verdict = judge_step(PROBLEM, REFERENCE[:1], text, reference=REFERENCE)
    if not isinstance(verdict, Verdict) or verdict.label not in LABELS \
            or verdict.reason not in REASONS:
        return f"malformed verdict {verdict!r}"
    result = evaluate(text)
    if result.status == "ok" and result.value.numerator.bit_length() > MAX_BITS:
        return "evaluator value over the bit bound"
    if known and value is None and result.status != "div0":
        return f"expected div0, got {result}"
    if known and value is not None and result.value != value:
        return f"expected {value}, got {result}"
    number = parse_number(text)
    if number is not None and not isinstance(number, Fraction):
        return f"parse_number returned {number!r}"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="write the summary as JSON")
    args = parser.parse_args(argv)
    if hasattr(os, "nice"):
        os.nice(10)
    rng = random.Random(args.seed)
    slowest: list[tuple[float, int, str]] = []
    failures: list[dict] = []
    total_chars = 0
    start, cpu_start = time.perf_counter(), time.process_time()
    for i in range(args.n):
        text, value, known = make_input(rng)
        total_chars += len(text)
        t0 = time.process_time()  # CPU time: fair when other jobs share the machine
        try:
            problem = check_one(text, value, known)
        except Exception:  # noqa: BLE001 - a fuzz campaign records every escape
            problem = "exception: " + traceback.format_exc(limit=3)
        took = time.process_time() - t0
        if problem:
            failures.append({"index": i, "input": text[:300], "length": len(text),
                             "problem": problem})
        entry = (took, i, text)
        if len(slowest) < 10:
            heapq.heappush(slowest, entry)
        elif took > slowest[0][0]:
            heapq.heapreplace(slowest, entry)
        if (i + 1) % 100_000 == 0:
            print(f"  {i + 1} inputs, {len(failures)} failures, "
                  f"{(i + 1) / (time.perf_counter() - start):.0f} inputs/s", flush=True)
    seconds = time.perf_counter() - start
    summary = {
        "inputs": args.n, "seed": args.seed, "seconds": seconds,
        "cpu_seconds": time.process_time() - cpu_start,
        "inputs_per_second": args.n / seconds, "mean_chars": total_chars / max(args.n, 1),
        "failures": len(failures), "failure_examples": failures[:20],
        "slowest": [{"ms": 1000 * took, "index": i, "length": len(text), "input": text[:80]}
                    for took, i, text in sorted(slowest, reverse=True)],
    }
    print(f"{args.n} inputs in {seconds:.1f} s wall, {summary['cpu_seconds']:.1f} s CPU: "
          f"{summary['inputs_per_second']:.0f} inputs/s wall, "
          f"{args.n / max(summary['cpu_seconds'], 1e-9):.0f} inputs/CPU-s (each through "
          f"judge_step, evaluate and parse_number; mean {summary['mean_chars']:.0f} chars)")
    print(f"failures: {len(failures)}")
    for failure in failures[:20]:
        print(f"  #{failure['index']} len {failure['length']} {failure['input'][:80]!r}: "
              f"{failure['problem'][:300]}")
    print("10 slowest inputs (CPU time per input):")
    for row in summary["slowest"]:
        print(f"  {row['ms']:8.2f} ms  len {row['length']:8d}  {row['input'][:60]!r}")
    if args.out:
        write_json(args.out, summary)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
