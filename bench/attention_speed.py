"""Which attention kernel a tiny model should run with on this machine: time solver SFT steps and
batched sampling with `model.attention=eager` and `=sdpa` in one run (same init, same batches,
same prompts; the kernels alternate, and each keeps its faster round).

    .venv/bin/python bench/attention_speed.py [--problems 400] [--threads 2] [--rounds 2]

Prints the seconds of each and the ratio sdpa / eager (>1 means eager is faster). The model is
the benchmark's solver (conf/experiment/benchmark.yaml: 128 x 3 layers, intermediate 384).
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from aprm.data import generate_split  # noqa: E402
from aprm.models.factory import build_model  # noqa: E402
from aprm.models.sampling import sample_solutions  # noqa: E402
from aprm.models.solver import train_solver  # noqa: E402
from aprm.models.text_format import format_prompt, format_solution  # noqa: E402
from aprm.models.tokenizer import train_tokenizer  # noqa: E402

KERNELS = ("sdpa", "eager")
MODEL = {"kind": "tiny", "intermediate_size": 384, "max_position_embeddings": 512}


def _round(kernel: str, problems, tokenizer, args) -> tuple[float, float]:
    """(SFT seconds, sampling seconds) for one kernel."""
    model = build_model("solver", {**MODEL, "attention": kernel}, tokenizer, seed=0)
    train_cfg = {"epochs": 1, "batch_size": 8, "seed": 0}
    sft = train_solver(problems, tokenizer, model, train_cfg, None)["wall_s"]
    started = time.perf_counter()
    sample_solutions(model, tokenizer, problems[:args.sample_problems], n=16, temperature=1.0,
                     top_p=1.0, max_new_tokens=128, seed=0, desc=f"sampling ({kernel})")
    return sft, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--problems", type=int, default=400, help="SFT problems (one epoch, batch 8)")
    parser.add_argument("--sample-problems", type=int, default=24, help="problems x 16 samples")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    problems = generate_split("train", args.problems, seed=0)
    tokenizer = train_tokenizer([format_prompt(p) + format_solution(p.reference_steps) for p in problems])
    best: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        for kernel in KERNELS:
            times = _round(kernel, problems, tokenizer, args)
            best[kernel] = [min(pair) for pair in zip(best.get(kernel, times), times)]
    print(f"threads={args.threads} SFT steps={-(-args.problems // 8)} "
          f"sampling={args.sample_problems}x16 rows, 128 new tokens")
    for kernel in KERNELS:
        print(f"{kernel:>6}: SFT {best[kernel][0]:6.1f} s   sampling {best[kernel][1]:6.1f} s")
    print(f"ratio sdpa/eager: SFT {best['sdpa'][0] / best['eager'][0]:.2f}   "
          f"sampling {best['sdpa'][1] / best['eager'][1]:.2f}")


if __name__ == "__main__":
    main()
