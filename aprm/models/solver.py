"""The solver: SFT on reference solutions, then sampling (re-exported from `sampling`).

Arithmetic drill (train_cfg `drill_batch_size` > 0): each optimizer step also takes a batch of
the equations found in the reference steps, as short `<s>A op B =` -> ` C.` examples (loss on
` C.` only). A full example spends ~140 tokens on ~3 equations; a drill spends ~12 on one, and
the results of `A op B = C` are what a tiny solver learns last (copying text and operands is
learned first). Measured after 1200 steps (128x3 llama, batch 8): accuracy on result digits
0.73 with 32 drills per step vs 0.41 without, for 19% more CPU time; copying lags early
(0.70 vs 0.89 on the left operand) and had caught up after 3600 steps with 16 drills (0.99).

SFT is a lean torch loop rather than `transformers.Trainer`: on these tiny models a step is ~0.1 s
and Trainer's per-step bookkeeping (plus its unbucketed batches) cost 1.44x the CPU time of this
loop for the same 50 steps (bench/solver_sft_overhead.py, 1 thread). The loop is the usual
recipe: AdamW, linear warmup then linear decay, gradient clipping, length-bucketed right-padded
batches, loss only on solution tokens and the final eos.
"""

from __future__ import annotations

import json
import os
import random
import re
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch

from aprm.group_configs import TINY_ATTENTIONS
from aprm.train_configs import SolverTrainConfig
from aprm.io import atomic_dir
from aprm.models.sampling import SampledSolution, pick_device, sample_solutions
from aprm.models.text_format import format_prompt, format_solution, parse_solution_text
from aprm.progress import progress
from aprm.schema import Problem
from aprm.structured import build_config

__all__ = [
    "SOLVER_SAMPLE_DEFAULTS", "SOLVER_TRAIN_DEFAULTS", "SampledSolution", "encode_example",
    "equation_drills", "format_prompt",
    "format_solution", "parse_solution_text", "pick_device", "sample_solutions", "save_atomically",
    "train_solver",
]

IGNORE_INDEX = -100
# A direct caller's training defaults: train.solver's (aprm.train_configs) plus the seed the
# pipeline gives.
SOLVER_TRAIN_DEFAULTS: dict[str, Any] = {**asdict(SolverTrainConfig()), "seed": 0}
_LOSS_SHOWN_EVERY = 20  # steps between updates of the progress bar's running loss
# The final `A op B = C` of a step (the synthetic contract: single spaces, integers).
_EQUATION_RE = re.compile(r"(?<![\w.])(\d{1,12} [-+*/] \d{1,12} =)( \d{1,12}\.?)$")

# Sampling for evaluation. max_new_tokens covers the longest reference solutions (the `long`
# family reaches ~200 tokens with the default tokenizer).
SOLVER_SAMPLE_DEFAULTS: dict[str, Any] = {
    "temperature": 1.0,
    "top_p": 1.0,
    "max_new_tokens": 256,
    "batch_size": 64,
}


def _settings(train_cfg: Mapping[str, Any]) -> dict[str, Any]:
    """SOLVER_TRAIN_DEFAULTS < train_cfg; an unknown key or a bad value names train.solver.<key>."""
    settings = dict(train_cfg)
    seed = settings.pop("seed", SOLVER_TRAIN_DEFAULTS["seed"])
    return {**asdict(build_config(SolverTrainConfig, settings, "train.solver")), "seed": seed}


def encode_example(problem: Problem, tokenizer, max_length: int) -> tuple[list[int], list[int]]:
    """(input_ids, labels): bos + prompt + solution + eos, labels -100 on bos and the prompt."""
    if not problem.reference_steps:
        raise ValueError(f"problem {problem.id}: no reference_steps to train the solver on")
    prompt = tokenizer(format_prompt(problem))["input_ids"]
    answer = tokenizer(format_solution(problem.reference_steps), add_special_tokens=False)
    answer_ids = answer["input_ids"] + [tokenizer.eos_token_id]
    ids = prompt + answer_ids
    if len(ids) > max_length:
        raise ValueError(
            f"problem {problem.id}: {len(ids)} tokens exceed train.solver.max_length={max_length}"
        )
    return ids, [IGNORE_INDEX] * len(prompt) + answer_ids


def equation_drills(problems: Sequence[Problem], tokenizer) -> list[tuple[list[int], list[int]]]:
    """(input_ids, labels) for every step ending in `A op B = C.`: labels only on ` C.`."""
    drills = []
    for problem in problems:
        for step in problem.reference_steps:
            match = _EQUATION_RE.search(step.strip())
            if match is None:
                continue
            left = tokenizer(match.group(1))["input_ids"]
            right = tokenizer(match.group(2), add_special_tokens=False)["input_ids"]
            drills.append((left + right, [IGNORE_INDEX] * len(left) + right))
    return drills


def collate_causal(examples: Sequence[tuple[list[int], list[int]]],
                   pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded causal-LM batch from (ids, labels) rows; shared by solver SFT and G warm start."""
    width = max(len(ids) for ids, _ in examples)
    input_ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE_INDEX, dtype=torch.long)
    attention = torch.zeros((len(examples), width), dtype=torch.long)
    for row, (ids, labs) in enumerate(examples):
        input_ids[row, :len(ids)] = torch.tensor(ids)
        labels[row, :len(labs)] = torch.tensor(labs)
        attention[row, :len(ids)] = 1
    return {"input_ids": input_ids, "attention_mask": attention, "labels": labels}


def _epoch_batches(lengths: Sequence[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Shuffled batches of similar lengths: sort within windows of 32 batches, then shuffle
    the batch order. Cuts padding (~15% of tokens at random) while keeping batches random."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    window = batch_size * 32
    batches = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start:start + window], key=lambda i: lengths[i])
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def _lr_factor(step: int, warmup: int, total: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    return max(0.0, (total - step) / max(1, total - warmup))


def _keep_attention(model, config_path: Path) -> None:
    """Write the attention kernel the model ran with into its saved config, where
    `from_pretrained` reads it back: transformers leaves it out, and a reload would switch an
    eager model to SDPA, whose float rounding differs. Only the kernels a tiny model may run
    with, which every install has."""
    kernel = getattr(model.config, "_attn_implementation", None)
    if kernel not in TINY_ATTENTIONS:
        return
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["attn_implementation"] = kernel
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def save_atomically(model, tokenizer, out_dir: str | os.PathLike) -> Path:
    """save_pretrained into a staging folder beside out_dir, then swap it into place."""
    with atomic_dir(out_dir) as staging:
        model.save_pretrained(str(staging))
        _keep_attention(model, staging / "config.json")
        tokenizer.save_pretrained(str(staging))
    return Path(out_dir)


def train_solver(problems: Sequence[Problem], tokenizer, model, train_cfg: Mapping[str, Any],
                 out_dir: str | os.PathLike | None) -> dict[str, Any]:
    """Supervised fine-tuning on reference solutions; saves model + tokenizer to out_dir
    (atomically; None = don't save). Returns metrics (losses, steps, wall time, tokens)."""
    cfg = _settings(train_cfg)
    if not problems:
        raise ValueError("train_solver needs at least one problem")
    examples = [encode_example(p, tokenizer, cfg["max_length"]) for p in problems]
    device = pick_device()
    model.to(device)
    model.train()
    torch.manual_seed(cfg["seed"])  # dropout masks
    order_rng = random.Random(cfg["seed"])
    optimizer = torch.optim.AdamW(model.parameters(), lr=float(cfg["lr"]),
                                  weight_decay=float(cfg["weight_decay"]), betas=(0.9, 0.98))
    lengths = [len(ids) for ids, _ in examples]
    epochs = [_epoch_batches(lengths, cfg["batch_size"], order_rng) for _ in range(cfg["epochs"])]
    total = sum(len(batches) for batches in epochs)
    warmup = max(1, int(total * float(cfg["warmup_ratio"])))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: _lr_factor(step, warmup, total))
    drills = equation_drills(problems, tokenizer) if cfg["drill_batch_size"] else []
    drill_order: list[int] = []
    losses: list[float] = []
    epoch_losses: list[float] = []
    started = time.perf_counter()
    bar = progress(None, "solver", total=total, unit="step")
    for batches in epochs:
        epoch_sum = 0.0
        for indices in batches:
            optimizer.zero_grad(set_to_none=True)
            batch = collate_causal([examples[i] for i in indices], tokenizer.pad_token_id)
            loss = model(**{k: v.to(device) for k, v in batch.items()}).loss
            loss.backward()
            if drills:
                picked = []
                for _ in range(cfg["drill_batch_size"]):  # refill per item: few drills is fine
                    if not drill_order:
                        drill_order = list(range(len(drills)))
                        order_rng.shuffle(drill_order)
                    picked.append(drills[drill_order.pop()])
                drill = collate_causal(picked, tokenizer.pad_token_id)
                model(**{k: v.to(device) for k, v in drill.items()}).loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), float(cfg["grad_clip"]))
            optimizer.step()
            scheduler.step()
            losses.append(float(loss.detach()))
            epoch_sum += losses[-1]
            bar.update()
            if len(losses) % _LOSS_SHOWN_EVERY == 0:
                bar.set_postfix(loss=f"{sum(losses[-_LOSS_SHOWN_EVERY:]) / _LOSS_SHOWN_EVERY:.3f}")
        epoch_losses.append(epoch_sum / len(batches))
    bar.close()
    wall = time.perf_counter() - started
    model.eval()
    window = max(1, min(10, len(losses) // 10 or 1))
    metrics = {
        "loss_first": sum(losses[:window]) / window,
        "loss_last": sum(losses[-window:]) / window,
        "epoch_losses": epoch_losses,
        "steps": total,
        "examples": len(examples),
        "drills": len(drills),
        "train_tokens": sum(lengths) * cfg["epochs"],
        "wall_s": wall,
        "device": str(device),
    }
    if out_dir is not None:
        save_atomically(model, tokenizer, out_dir)
    return metrics
