"""Calibrate the tiny solver: SFT with the default model/train settings on the synthetic train
split, then sample every synthetic family and print pass@1 / pass@n and wall times.

    .venv/bin/python bench/solver_calibration.py [--train-size 3000] [--test-size 100] [--n 16]
        [--threads 1] [--model '{"hidden_size": 128}'] [--train '{"epochs": 2}']

pass@1 is the mean per-problem fraction of correct samples (unbiased estimate at temperature T);
pass@n is the fraction of problems with at least one correct sample among n.
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from aprm.data import build_splits  # noqa: E402
from aprm.models.factory import TINY_DEFAULTS, build_model  # noqa: E402
from aprm.models.solver import (  # noqa: E402
    SOLVER_SAMPLE_DEFAULTS,
    SOLVER_TRAIN_DEFAULTS,
    sample_solutions,
    train_solver,
)
from aprm.models.text_format import format_prompt, format_solution  # noqa: E402
from aprm.models.tokenizer import train_tokenizer  # noqa: E402
from aprm.numbers import parse_number  # noqa: E402

FAMILIES = ["id", "long", "big", "unseen", "div"]


def is_correct(final_answer: str | None, gold: str) -> bool:
    if final_answer is None:
        return False
    value = parse_number(final_answer)
    return value is not None and value == parse_number(gold)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--train-size", type=int, default=3000)
    parser.add_argument("--test-size", type=int, default=100)
    parser.add_argument("--n", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--families", default=",".join(FAMILIES))
    parser.add_argument("--model", default="{}", help="JSON overrides of the tiny model config")
    parser.add_argument("--train", default="{}", help="JSON overrides of the solver train config")
    parser.add_argument("--sample", default="{}", help="JSON overrides of the sampling settings")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    families = args.families.split(",")
    splits = build_splits({"source": "synthetic", "train_size": args.train_size, "val_size": 0,
                           "test_size": args.test_size, "suites": families, "on_error": "raise",
                           "paths": {}}, args.seed)
    model_cfg = {"kind": "tiny", **TINY_DEFAULTS, **json.loads(args.model)}
    train_cfg = {**SOLVER_TRAIN_DEFAULTS, "seed": args.seed, **json.loads(args.train)}
    sample_cfg = {**SOLVER_SAMPLE_DEFAULTS, **json.loads(args.sample)}
    for name, cfg in (("model", model_cfg), ("train", train_cfg), ("sample", sample_cfg)):
        print(f"{name} {json.dumps(cfg)}")

    started = time.perf_counter()
    tok = train_tokenizer(format_prompt(p) + format_solution(p.reference_steps)
                          for p in splits.train)
    model = build_model("solver", model_cfg, tok, seed=args.seed)
    cpu = time.process_time()
    metrics = train_solver(splits.train, tok, model, train_cfg, None)
    print(f"params {sum(p.numel() for p in model.parameters())} vocab {len(tok)}")
    print(f"sft: wall {metrics['wall_s']:.1f}s cpu {time.process_time() - cpu:.1f}s steps "
          f"{metrics['steps']} loss {metrics['loss_first']:.3f} -> {metrics['loss_last']:.3f} "
          f"(tokenizer+sft wall {time.perf_counter() - started:.1f}s)")
    for family, problems in splits.suites.items():
        wall = time.perf_counter()
        samples = sample_solutions(model, tok, problems, n=args.n, seed=args.seed, **sample_cfg)
        correct = [[is_correct(s.final_answer, p.answer) for s in row]
                   for p, row in zip(problems, samples)]
        pass1 = sum(sum(row) / len(row) for row in correct) / len(correct)
        pass_n = sum(any(row) for row in correct) / len(correct)
        truncated = sum(s.truncated for row in samples for s in row) / (len(problems) * args.n)
        print(f"{family:7s} pass@1 {pass1:.3f}  pass@{args.n} {pass_n:.3f}  "
              f"truncated {truncated:.3f}  sampling wall {time.perf_counter() - wall:.1f}s "
              f"({len(problems)} problems x {args.n})", flush=True)


if __name__ == "__main__":
    main()
