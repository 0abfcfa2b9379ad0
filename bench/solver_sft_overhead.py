"""Why solver SFT is a lean torch loop: time the same SFT with transformers.Trainer and with
aprm.models.solver.train_solver in one run (same model init, data, batch size, steps, schedule).

    .venv/bin/python bench/solver_sft_overhead.py [--problems 400] [--epochs 1] [--threads 1]

Prints CPU seconds of each and the ratio Trainer / loop (>1 means the loop is faster).
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from transformers import Trainer, TrainingArguments  # noqa: E402

from aprm.data import generate_split  # noqa: E402
from aprm.models.factory import build_model  # noqa: E402
from aprm.models.solver import collate_causal, encode_example, train_solver  # noqa: E402
from aprm.models.text_format import format_prompt, format_solution  # noqa: E402
from aprm.models.tokenizer import train_tokenizer  # noqa: E402


def _timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--problems", type=int, default=400)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    problems = generate_split("train", args.problems, seed=0)
    tok = train_tokenizer([format_prompt(p) + format_solution(p.reference_steps) for p in problems])
    model_cfg = {"kind": "tiny", "hidden_size": 128, "num_layers": 3, "num_heads": 4,
                 "intermediate_size": 384}
    # drills off: the comparison is about the training loop, not the data mix
    train_cfg = {"epochs": args.epochs, "batch_size": args.batch_size, "lr": 2e-3,
                 "warmup_ratio": 0.05, "drill_batch_size": 0}
    steps = math.ceil(args.problems / args.batch_size) * args.epochs

    loop_model = build_model("solver", model_cfg, tok, seed=0)
    loop_metrics, loop_wall, loop_cpu = _timed(
        lambda: train_solver(problems, tok, loop_model, train_cfg, None))

    examples = [encode_example(p, tok, 512) for p in problems]
    dataset = [{"ids": ids, "labels": labels} for ids, labels in examples]
    trainer_model = build_model("solver", model_cfg, tok, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        targs = TrainingArguments(
            output_dir=tmp, per_device_train_batch_size=args.batch_size,
            num_train_epochs=args.epochs, learning_rate=2e-3, lr_scheduler_type="linear",
            warmup_steps=max(1, int(0.05 * steps)), adam_beta2=0.98, weight_decay=0.0,
            max_grad_norm=1.0, use_cpu=True, bf16=False, report_to=[], disable_tqdm=True,
            save_strategy="no", logging_strategy="no", seed=0, dataloader_num_workers=0,
            remove_unused_columns=False,
        )
        trainer = Trainer(
            model=trainer_model, args=targs, train_dataset=dataset,
            data_collator=lambda rows: collate_causal([(r["ids"], r["labels"]) for r in rows],
                                                tok.pad_token_id),
        )
        output, trainer_wall, trainer_cpu = _timed(trainer.train)
    print(f"steps={steps} batch={args.batch_size} threads={args.threads}")
    loop_loss = sum(loop_metrics["epoch_losses"]) / len(loop_metrics["epoch_losses"])
    print(f"loop:    wall {loop_wall:.1f}s cpu {loop_cpu:.1f}s mean loss {loop_loss:.3f}")
    print(f"trainer: wall {trainer_wall:.1f}s cpu {trainer_cpu:.1f}s "
          f"mean loss {output.training_loss:.3f}")
    print(f"ratio trainer/loop: wall {trainer_wall / loop_wall:.2f} "
          f"cpu {trainer_cpu / loop_cpu:.2f}")


if __name__ == "__main__":
    main()
