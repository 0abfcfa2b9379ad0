"""R's update inside a game round: a few optimizer steps on balanced batches, pulled toward R_0.

Why not `train_prm`: the game needs R's optimizer to be OGDA (or optimistic Adam) and to carry
its state across rounds (the optimistic step extrapolates with the previous gradient, which
lives in the optimizer), plus an L2 pull toward the round-0 weights (the "stay near the fixed
reference" term of R's utility). Loss and encoding are the PRM trainer's own (`prm_loss`,
`build_examples`), so a game-trained R is scored exactly like a statically trained one.

Each batch is half positives (steps the oracle or the reference calls correct), half negatives
(the replay buffer of verified wrong steps), sampled with a seeded generator.
"""

from __future__ import annotations

import random
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch

from aprm.game.ogda import make_optimizer
from aprm.io import atomic_path
from aprm.method_configs import PrmUpdateConfig
from aprm.structured import build_config
from aprm.models.prm_data import IGNORE_INDEX, build_examples, collate
from aprm.models.prm_trainer import balanced_class_weights, prm_loss
from aprm.models.sampling import pick_device
from aprm.progress import progress

def resolve_prm_update_cfg(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults < cfg, checked by the structured config (aprm.method_configs.PrmUpdateConfig);
    errors name `method.prm_update.<key>`. `seed` is the caller's (the round sets it)."""
    cfg = dict(cfg)
    seed = cfg.pop("seed", 0)
    return {**asdict(build_config(PrmUpdateConfig, cfg, "method.prm_update")), "seed": seed}


def batch_class_weights(labels: torch.Tensor) -> list[float]:
    """Balanced class weights over the batch's labelled steps.

    Why: a negative item is a correct prefix plus one wrong step, so even a half-negative batch
    holds several correct labels per wrong one; unweighted, R's update drifts toward "correct".
    """
    labelled = labels[labels != IGNORE_INDEX]
    return balanced_class_weights(float((labelled == 0).sum()), float((labelled == 1).sum()))


def anchor_penalty(model, anchor: Sequence[torch.Tensor]) -> torch.Tensor:
    """sum ||theta - theta_0||^2 over trainable parameters."""
    params = [p for p in model.parameters() if p.requires_grad]
    return sum(((p - a) ** 2).sum() for p, a in zip(params, anchor))


def update_prm(
    model,
    tokenizer,
    positives: Sequence[tuple],
    negatives: Sequence[tuple],
    anchor_model,
    update_cfg: Mapping[str, Any],
    optimizer_state_in: str | Path | None = None,
    optimizer_state_out: str | Path | None = None,
) -> dict[str, Any]:
    """Train a transformer `model` in place on (problem, steps, labels) items; returns loss metrics.

    optimizer_state_in/out: a torch file with the optimizer's state from the previous round
    (ignored if absent or written by another optimizer) and where to write this round's.
    """
    cfg = resolve_prm_update_cfg(update_cfg)
    max_length = min(cfg["max_length"], int(model.config.max_position_embeddings))
    pos_examples, _ = build_examples(tokenizer, positives, max_length)
    neg_examples, _ = build_examples(tokenizer, negatives, max_length)
    device = pick_device()
    model.to(device)

    def batch_loss(examples: list) -> torch.Tensor:
        batch = {k: v.to(device) for k, v in collate(examples, tokenizer.pad_token_id).items()}
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        weights = batch_class_weights(batch["labels"]) if cfg["class_balance"] else None
        return prm_loss(logits, batch["labels"], class_weights=weights)

    return optimize_r(model, anchor_model, pos_examples, neg_examples, batch_loss, cfg, device,
                      optimizer_state_in, optimizer_state_out)


def update_head(
    head,
    anchor_head,
    positives: Sequence[tuple[torch.Tensor, torch.Tensor]],
    negatives: Sequence[tuple[torch.Tensor, torch.Tensor]],
    update_cfg: Mapping[str, Any],
    optimizer_state_in: str | Path | None = None,
    optimizer_state_out: str | Path | None = None,
) -> dict[str, Any]:
    """The same update for a `surprise_head` R: items are (solver surprise features, labels) per
    solution (`surprise_head.labeled_tensors`)."""
    from aprm.models.surprise_head import class_weighted_loss

    cfg = resolve_prm_update_cfg(update_cfg)

    def batch_loss(examples: list) -> torch.Tensor:
        features = torch.cat([x for x, _ in examples])
        labels = torch.cat([y for _, y in examples])
        if cfg["class_balance"]:
            return class_weighted_loss(head, features, labels)
        return torch.nn.functional.binary_cross_entropy_with_logits(head(features), labels)

    return optimize_r(head, anchor_head, list(positives), list(negatives), batch_loss, cfg, torch.device("cpu"),
                      optimizer_state_in, optimizer_state_out)


def optimize_r(model, anchor_model, pos_examples: list, neg_examples: list, batch_loss, cfg: dict, device,
               optimizer_state_in: str | Path | None, optimizer_state_out: str | Path | None) -> dict[str, Any]:
    """`cfg["steps"]` optimizer steps of `model` on half-positive, half-negative batches drawn with
    a seeded generator; loss = batch_loss(examples) + anchor_l2 * ||theta - theta_0||^2."""
    if not pos_examples or not neg_examples:
        raise ValueError(
            f"update_prm needs positives and negatives, got {len(pos_examples)} and {len(neg_examples)} after encoding"
        )
    model.train()
    anchor = [p.detach().to(device).clone() for p in anchor_model.parameters() if p.requires_grad]
    params = [p for p in model.parameters() if p.requires_grad]
    if len(anchor) != len(params) or any(a.shape != p.shape for a, p in zip(anchor, params)):
        raise ValueError("update_prm: the anchor model's parameters do not match R's")
    optimizer = make_optimizer(cfg["optimizer"], params, float(cfg["lr"]), float(cfg["weight_decay"]))
    resumed = _load_optimizer_state(optimizer, cfg["optimizer"], optimizer_state_in)
    rng = random.Random(f"{cfg['seed']}|prm_update")
    torch.manual_seed(cfg["seed"])
    half = cfg["batch_size"] // 2
    losses, penalties = [], []
    started = time.perf_counter()
    for _ in progress(range(cfg["steps"]), "PRM update", unit="step"):
        batch_examples = [rng.choice(pos_examples) for _ in range(half)] + [rng.choice(neg_examples) for _ in range(half)]
        data_loss = batch_loss(batch_examples)
        penalty = anchor_penalty(model, anchor)
        loss = data_loss + float(cfg["anchor_l2"]) * penalty
        if not torch.isfinite(loss):
            raise FloatingPointError(f"update_prm: non-finite loss at step {len(losses)} (lr={cfg['lr']})")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg["grad_clip"] > 0:
            torch.nn.utils.clip_grad_norm_(params, float(cfg["grad_clip"]))
        optimizer.step()
        losses.append(float(data_loss.detach()))
        penalties.append(float(penalty.detach()))
    model.eval()
    if optimizer_state_out is not None:
        with atomic_path(optimizer_state_out) as tmp:
            torch.save({"optimizer": cfg["optimizer"], "state": optimizer.state_dict()}, tmp)
    window = max(1, min(5, len(losses) // 4))
    return {
        "steps": len(losses),
        "loss_first": sum(losses[:window]) / window,
        "loss_last": sum(losses[-window:]) / window,
        "anchor_sq_dist": penalties[-1],
        "optimizer": cfg["optimizer"],
        "optimizer_resumed": resumed,
        "positives": len(pos_examples),
        "negatives": len(neg_examples),
        "wall_s": time.perf_counter() - started,
    }


def _load_optimizer_state(optimizer, name: str, path: str | Path | None) -> bool:
    if path is None or not Path(path).is_file():
        return False
    saved = torch.load(path, weights_only=True)
    if saved.get("optimizer") != name:
        return False  # the config switched optimizers between rounds: start its state fresh
    optimizer.load_state_dict(saved["state"])
    return True
