"""Calibrate the tiny solver: SFT with the default model/train settings on the synthetic train
split, then sample every synthetic family and print pass@1 / pass@n and wall times.

    .venv/bin/python bench/solver_calibration.py [--train-size 3000] [--test-size 100] [--n 16]
        [--threads 1] [--model '{"hidden_size": 128}'] [--train '{"epochs": 2}']

Sampling temperature is tuned on the ID validation split, never on a test suite: pass a solver
the pipeline trained (its `artifacts/solver/<hash>/model` folder) and a list of temperatures:

    .venv/bin/python bench/solver_calibration.py --solver-dir artifacts/solver/<hash>/model \
        --families val --temperatures 0.5,0.7,1.0

pass@1 is the mean per-problem fraction of correct samples (unbiased estimate at temperature T);
pass@n is the fraction of problems with at least one correct sample among n; maj@n is the
fraction whose most frequent answer among the n (ties: the answer seen first) is correct, the bar
a reranker must clear.
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from aprm.data import build_splits  # noqa: E402
from aprm.eval.best_of_n import ScoredSamples  # noqa: E402
from aprm.eval.samples import answer_key  # noqa: E402
from aprm.models.factory import TINY_DEFAULTS, build_model  # noqa: E402
from aprm.models.loading import load_causal_lm  # noqa: E402
from aprm.models.solver import (  # noqa: E402
    SOLVER_SAMPLE_DEFAULTS,
    SOLVER_TRAIN_DEFAULTS,
    sample_solutions,
    train_solver,
)
from aprm.models.text_format import format_prompt, format_solution  # noqa: E402
from aprm.models.tokenizer import train_tokenizer  # noqa: E402
from aprm.pipeline.samples_stage import is_correct  # noqa: E402

FAMILIES = ["id", "long", "big", "unseen", "div"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--train-size", type=int, default=3000)
    parser.add_argument("--test-size", type=int, default=100)
    parser.add_argument("--val-size", type=int, default=200)
    parser.add_argument("--n", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--suite-seed", type=int, default=1,
                        help="draw of the test families; 1 (default) is not the benchmark's test draw (0): "
                             "calibrate on another draw, never on the test suites")
    parser.add_argument("--families", default=",".join(FAMILIES),
                        help="test families and/or `val` (the ID validation split)")
    parser.add_argument("--solver-dir", default=None,
                        help="a trained solver folder: skip SFT and sample from it")
    parser.add_argument("--save-dir", default=None,
                        help="after SFT from scratch, save the solver here (a folder for --solver-dir)")
    parser.add_argument("--temperatures", default=None,
                        help="comma-separated sampling temperatures (default: the sample config's)")
    parser.add_argument("--model", default="{}", help="JSON overrides of the tiny model config")
    parser.add_argument("--digit-places", type=int, default=None,
                        help="the tokenizer's digit place tags (model.digit_places; default: the tokenizer's)")
    parser.add_argument("--train", default="{}", help="JSON overrides of the solver train config")
    parser.add_argument("--sample", default="{}", help="JSON overrides of the sampling settings")
    parser.add_argument("--data-families", default="{}",
                        help='JSON overrides of the family specs (data.families), e.g. '
                             '\'{"id": {"op_count": [1, 2]}}\'')
    args = parser.parse_args()
    if args.solver_dir and args.save_dir:
        parser.error("--save-dir saves a solver trained from scratch: it cannot go with --solver-dir")
    torch.set_num_threads(args.threads)
    families = args.families.split(",")
    splits = build_splits({"source": "synthetic", "train_size": args.train_size, "val_size": args.val_size,
                           "test_size": args.test_size, "suites": FAMILIES, "on_error": "raise",
                           "paths": {}, "suite_seed": args.suite_seed,
                           "families": json.loads(args.data_families)}, args.seed)
    suites = {name: splits.val if name == "val" else splits.suites[name] for name in families}
    sample_cfg = {**SOLVER_SAMPLE_DEFAULTS, **json.loads(args.sample)}
    temperatures = ([float(t) for t in args.temperatures.split(",")] if args.temperatures
                    else [sample_cfg["temperature"]])
    if args.solver_dir:
        model, tok = load_causal_lm(args.solver_dir)
        print(f"solver {args.solver_dir}")
    else:
        model, tok = train_from_scratch(args, splits, suites, sample_cfg["max_new_tokens"])
    for temperature in temperatures:
        for family, problems in suites.items():
            wall = time.perf_counter()
            samples = sample_solutions(model, tok, problems, n=args.n, seed=args.seed,
                                       **{**sample_cfg, "temperature": temperature})
            correct = [[is_correct(s.final_answer, p.answer) and not s.truncated for s in row]
                       for p, row in zip(problems, samples)]
            pass1 = sum(sum(row) / len(row) for row in correct) / len(correct)
            pass_n = sum(any(row) for row in correct) / len(correct)
            majority = sum(map(majority_correct, samples, correct)) / len(correct)
            truncated = sum(s.truncated for row in samples for s in row) / (len(problems) * args.n)
            print(f"T={temperature:<4g} {family:7s} pass@1 {pass1:.3f}  pass@{args.n} {pass_n:.3f}  "
                  f"maj@{args.n} {majority:.3f}  "
                  f"truncated {truncated:.3f}  sampling wall {time.perf_counter() - wall:.1f}s "
                  f"({len(problems)} problems x {args.n})", flush=True)


def majority_correct(row, correct) -> bool:
    """Whether the most frequent answer of a problem's untruncated samples is a correct one, by the
    report's majority vote (aprm.eval.best_of_n: ties go to the answer seen first)."""
    votes = ScoredSamples(correct=tuple(correct), scorable=(False,) * len(row), scores={},
                          vote_keys=tuple(None if s.truncated else answer_key(s.final_answer) for s in row))
    return bool(votes.outcome(votes.majority(len(row))))


def train_from_scratch(args, splits, suites, max_new_tokens):
    model_cfg = {"kind": "tiny", **TINY_DEFAULTS, **json.loads(args.model)}
    train_cfg = {**SOLVER_TRAIN_DEFAULTS, "seed": args.seed, **json.loads(args.train)}
    for name, cfg in (("model", model_cfg), ("train", train_cfg)):
        print(f"{name} {json.dumps(cfg)}")
    started = time.perf_counter()
    places = {} if args.digit_places is None else {"digit_places": args.digit_places}
    tok = train_tokenizer((format_prompt(p) + format_solution(p.reference_steps) for p in splits.train), **places)
    model = build_model("solver", model_cfg, tok, seed=args.seed)
    # the sampler checks this per problem: fail before minutes of SFT rather than after
    positions = model.config.max_position_embeddings
    for family, problems in suites.items():
        longest = max(len(tok(format_prompt(p))["input_ids"]) for p in problems)
        if longest + max_new_tokens > positions:
            raise SystemExit(f"{family}: a prompt of {longest} tokens + max_new_tokens={max_new_tokens} exceeds "
                             f"the model's {positions} positions: lower --sample max_new_tokens or raise "
                             f"--model max_position_embeddings")
    cpu = time.process_time()
    metrics = train_solver(splits.train, tok, model, train_cfg, args.save_dir)
    print(f"params {sum(p.numel() for p in model.parameters())} vocab {len(tok)}")
    print(f"sft: wall {metrics['wall_s']:.1f}s cpu {time.process_time() - cpu:.1f}s steps "
          f"{metrics['steps']} loss {metrics['loss_first']:.3f} -> {metrics['loss_last']:.3f} "
          f"(tokenizer+sft wall {time.perf_counter() - started:.1f}s)")
    return model, tok


if __name__ == "__main__":
    main()
