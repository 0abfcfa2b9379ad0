"""Benchmark: single-pass PRM scoring vs prefix-by-prefix scoring, measured in one run.

    .venv/bin/python bench/scorer.py [--problems 40] [--samples 5] [--batch-size 32] [--threads 1]

Builds the default tiny PRM (factory TINY_DEFAULTS) and a tokenizer trained on the synthetic
train split. Inputs have the shape evaluation scores: `--problems` test problems spread over all
synthetic families (so step counts range from 3 to 9) with `--samples` solutions each (the
reference solution and perturbed copies: a wrong number in some step, or stopped early), and
times, on the same inputs:
  - prefix-by-prefix: one unpadded forward per prefix (the model-card way);
  - single pass, unbatched: one forward per solution (the algorithmic gain alone);
  - single pass, batched, no prompt sharing: right-padded batches across problems;
  - single pass, batched (the default PRMScorer): a question's prompt runs once and its
    key/value cache serves all its samples.
Goal: prefix time / default time >= mean steps per solution. Times are CPU seconds of this
process (the machine is shared; with one torch thread CPU time is the robust number), wall
seconds beside them. Also prints the max abs score difference to prefix scoring.
"""

from __future__ import annotations

import argparse
import os
import random
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from aprm.data.splits import build_splits  # noqa: E402
from aprm.data.families import FAMILIES  # noqa: E402
from aprm.models.factory import build_model  # noqa: E402
from aprm.models.scorer import PRMScorer  # noqa: E402
from aprm.models.tokenizer import train_tokenizer  # noqa: E402


def timed(fn):
    """(result, CPU seconds of this process, wall seconds)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.process_time() - cpu, time.perf_counter() - wall


def perturbed(steps: list[str], rng: random.Random) -> list[str]:
    """A plausible sampled solution: a wrong result in one step, or an early final answer."""
    steps = list(steps)
    k = rng.randrange(len(steps) - 1)
    if rng.random() < 0.7:
        head, _, tail = steps[k].rpartition("= ")
        steps[k] = f"{head}= {rng.randint(1, 999)}." if head else steps[k]
    else:
        steps = steps[: k + 1] + [f"The answer is {rng.randint(1, 999)}."]
    return steps


def max_diff(a: list[list[float]], b: list[list[float]]) -> float:
    return max(float(np.max(np.abs(np.array(x) - np.array(y)))) for x, y in zip(a, b))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=40)
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rng = random.Random(args.seed)

    per_suite = -(-args.problems // len(FAMILIES))
    splits = build_splits({"source": "synthetic", "train_size": 500, "val_size": 10,
                           "test_size": per_suite, "suites": list(FAMILIES)}, seed=args.seed)
    tokenizer = train_tokenizer([p.question for p in splits.train]
                                + [s for p in splits.train for s in p.reference_steps])
    model = build_model("prm", {"kind": "tiny"}, tokenizer, seed=args.seed)
    problems = [p for rows in splits.suites.values() for p in rows][: args.problems]
    items = []
    for problem in problems:
        reference = list(problem.reference_steps)
        items.append((problem, reference))
        items.extend((problem, perturbed(reference, rng)) for _ in range(args.samples - 1))
    rng.shuffle(items)
    steps = np.array([len(s) for _, s in items])

    default = PRMScorer(model, tokenizer, batch_size=args.batch_size)
    no_share = PRMScorer(model, tokenizer, batch_size=args.batch_size, share_prompt=False)
    unbatched = PRMScorer(model, tokenizer, batch_size=1, share_prompt=False)
    default.score_batch(items[:8])  # warm-up (first-call allocations)
    fast, t_fast, w_fast = timed(lambda: default.score_batch(items))
    plain, t_plain, w_plain = timed(lambda: no_share.score_batch(items))
    single, t_single, w_single = timed(lambda: unbatched.score_batch(items))
    slow, t_slow, w_slow = timed(lambda: [default.score_prefixwise(p, s) for p, s in items])

    print(f"inputs: {len(problems)} problems x {args.samples} solutions = {len(items)}; "
          f"steps/solution mean {steps.mean():.2f} (min {steps.min()}, max {steps.max()}); "
          f"suites {', '.join(splits.suites)}; torch threads {args.threads}")
    print(f"model: tiny PRM, {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M params, "
          f"{model.config.num_hidden_layers} layers, hidden {model.config.hidden_size}")
    print("                                      CPU s   (wall s)  speed-up vs prefix (wall)")
    rows = [("prefix-by-prefix", t_slow, w_slow),
            ("single pass, unbatched", t_single, w_single),
            (f"single pass, batch {args.batch_size}, no sharing", t_plain, w_plain),
            (f"single pass, batch {args.batch_size} (default)", t_fast, w_fast)]
    for name, cpu, wall in rows:
        print(f"{name:36s} {cpu:7.3f}  ({wall:7.3f})  {t_slow / cpu:6.2f}x  ({w_slow / wall:.2f}x)")
    ratio = t_slow / t_fast
    print(f"goal: speed-up {ratio:.2f}x >= mean steps {steps.mean():.2f}: "
          f"{'met' if ratio >= steps.mean() else 'NOT met'}")
    print(f"max |single pass - prefix| score: default {max_diff(fast, slow):.2e}, "
          f"no sharing {max_diff(plain, slow):.2e}, unbatched {max_diff(single, slow):.2e}")


if __name__ == "__main__":
    main()
