"""PRM training on `transformers.Trainer` with our own loss (TRL no longer ships a PRMTrainer).

The PRM is a 2-label token classifier; only the `<step>` positions carry labels (see prm_data).
- hard labels: cross-entropy over {incorrect, correct} on separator tokens;
- soft labels: binary cross-entropy of P(correct) = softmax(logits)[1] against a target in
  [0, 1] (e.g. Monte-Carlo rollout estimates);
- class balancing: per-class weights N / (2 * n_class) from the training label frequencies
  (soft targets count fractionally), applied to both losses as a weighted mean, so the soft loss
  with 0/1 targets equals the weighted cross-entropy exactly.
Validation runs every epoch; the best epoch by `best_metric` (train.prm.best_metric) is kept
(save_strategy="best", one checkpoint), reloaded at the end and early stopping watches it.

Validation items may come in named groups, which add metrics that a position or length prior
cannot win: `samples` (the solver's own oracle-labeled samples: `auroc_samples` over their steps)
and `paired` (a reference prefix and a perturbed solution cut at the same step, in pairs:
`auroc_paired` over the last step of each, so right and wrong steps sit at the same positions).
`verify_auroc` is their mean (or the one that is defined). A scorer that knows only the step
index and whether the line is the answer reaches 0.62 on the pooled AUROC and 0.5 on both of
these.
"""

from __future__ import annotations

import math
import os
import shutil
import time
from contextlib import contextmanager
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from transformers import EarlyStoppingCallback, Trainer, TrainingArguments
from transformers.trainer_callback import PrinterCallback, ProgressCallback
from transformers.utils import logging as hf_logging

from aprm.train_configs import PrmTrainConfig
from aprm.io import write_json
from aprm.models.distributed import check_process_count
from aprm.models.prm_data import IGNORE_INDEX, EncodeStats, PRMCollator, build_examples
from aprm.models.prm_metrics import auroc, step_metrics
from aprm.models.solver import save_atomically
from aprm.progress import progress, progress_enabled
from aprm.structured import build_config

# A direct caller's training defaults: train.prm's (aprm.train_configs) plus the seed the pipeline gives.
DEFAULT_TRAIN_CFG: dict[str, Any] = {**asdict(PrmTrainConfig()), "seed": 0}
_LOWER_IS_BETTER = {"loss"}
VAL_GROUPS = ("samples", "paired")  # named validation groups (see the module docstring)


def resolve_train_cfg(train_cfg: Mapping[str, Any]) -> dict[str, Any]:
    """DEFAULT_TRAIN_CFG < train_cfg; unknown keys and out-of-range values are errors naming the key."""
    settings = dict(train_cfg)
    seed = settings.pop("seed", DEFAULT_TRAIN_CFG["seed"])
    return {**asdict(build_config(PrmTrainConfig, settings, "train.prm")), "seed": seed}


def balanced_class_weights(n_incorrect: float, n_correct: float) -> list[float]:
    """[w_incorrect, w_correct] = N / (2 * n_class); an absent class gets 1.0."""
    total = float(n_incorrect + n_correct)
    return [total / (2.0 * c) if c > 0 else 1.0 for c in (n_incorrect, n_correct)]


def class_weights_from_stats(stats: EncodeStats) -> list[float]:
    return balanced_class_weights(stats.n_steps_labeled - stats.n_correct_steps, stats.n_correct_steps)


def prm_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    soft_labels: torch.Tensor | None = None,
    class_weights: Sequence[float] | None = None,
) -> torch.Tensor:
    """Weighted-mean loss over positions with label != -100.

    Hard (soft_labels None): cross-entropy. Soft: -(w1 t log p + w0 (1-t) log(1-p)) with
    p = sigmoid(logit_1 - logit_0) = softmax(logits)[1], normalised by sum(w1 t + w0 (1-t)).
    """
    mask = labels != IGNORE_INDEX
    selected = logits[mask].float()  # (n_separators, 2)
    if selected.numel() == 0:
        return logits.sum() * 0.0  # keeps the graph; a batch without labels teaches nothing
    weights = None if class_weights is None else torch.as_tensor(
        class_weights, dtype=torch.float32, device=logits.device)
    if soft_labels is None:
        return F.cross_entropy(selected, labels[mask], weight=weights)
    target = soft_labels[mask].float()
    margin = selected[:, 1] - selected[:, 0]  # log-odds of "correct"
    w0, w1 = (1.0, 1.0) if weights is None else (weights[0], weights[1])
    pos = w1 * target
    neg = w0 * (1.0 - target)
    per_step = -(pos * F.logsigmoid(margin) + neg * F.logsigmoid(-margin))
    return per_step.sum() / (pos + neg).sum()


class PRMTrainer(Trainer):
    """`Trainer` whose loss is `prm_loss` on the separator positions."""

    loss_is_scaled_for_ga = False  # per-batch mean: Trainer divides by accumulation steps

    def __init__(self, *args, soft_labels: bool = False,
                 class_weights: Sequence[float] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.soft_labels = soft_labels
        self.class_weights = None if class_weights is None else list(class_weights)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        # The model must not see `labels`: its built-in token-classification loss would be
        # computed (and wasted) on every position.
        model_inputs = {k: v for k, v in inputs.items() if k not in ("labels", "soft_labels")}
        outputs = model(**model_inputs)
        soft = inputs["soft_labels"] if self.soft_labels else None
        loss = prm_loss(outputs.logits, inputs["labels"], soft, self.class_weights)
        return (loss, outputs) if return_outputs else loss


def _probability_correct(logits, labels):
    """Keep only P(correct) per position in eval: less to gather than both logits."""
    return torch.softmax(logits.float(), dim=-1)[..., 1]


def group_metrics(scores: Sequence[Sequence[float]], targets: Sequence[Sequence[int]],
                  spans: Mapping[str, tuple[int, int]]) -> dict[str, float]:
    """`auroc_samples`, `auroc_paired` and their mean `verify_auroc` over the rows in `spans`."""
    out: dict[str, float] = {}
    if "samples" in spans:
        start, end = spans["samples"]
        flat_s = [v for row in scores[start:end] for v in row]
        flat_t = [v for row in targets[start:end] for v in row]
        out["auroc_samples"] = auroc(flat_s, flat_t) if flat_t else math.nan
    if "paired" in spans:
        start, end = spans["paired"]
        rows = [(s[-1], t[-1]) for s, t in zip(scores[start:end], targets[start:end]) if t]
        out["auroc_paired"] = auroc([r[0] for r in rows], [r[1] for r in rows]) if rows else math.nan
    defined = [v for v in out.values() if not math.isnan(v)]
    out["verify_auroc"] = float(np.mean(defined)) if defined else math.nan
    return out


def make_compute_metrics(threshold: float, spans: Mapping[str, tuple[int, int]] | None = None):
    def compute_metrics(eval_pred) -> dict[str, float]:
        probs = np.asarray(eval_pred.predictions)
        labels = np.asarray(eval_pred.label_ids[0])  # (labels, soft_labels)
        width = min(probs.shape[1], labels.shape[1])
        scores, targets = [], []
        for row in range(labels.shape[0]):
            mask = labels[row, :width] != IGNORE_INDEX
            scores.append(probs[row, :width][mask].tolist())
            targets.append(labels[row, :width][mask].tolist())
        metrics = step_metrics(scores, targets, threshold)
        return {**metrics, **group_metrics(scores, targets, spans)} if spans else metrics
    return compute_metrics


def _training_args(cfg: Mapping[str, Any], output_dir: Path, best_metric: str) -> TrainingArguments:
    on_cpu = not torch.cuda.is_available()
    return TrainingArguments(
        output_dir=str(output_dir),
        learning_rate=float(cfg["lr"]),
        num_train_epochs=cfg["epochs"],
        per_device_train_batch_size=cfg["batch_size"],
        per_device_eval_batch_size=max(cfg["batch_size"], 32),
        weight_decay=float(cfg["weight_decay"]),
        warmup_steps=float(cfg["warmup_ratio"]),  # a float < 1 is a ratio of all steps
        seed=int(cfg["seed"]),
        data_seed=int(cfg["seed"]),
        use_cpu=on_cpu,
        bf16=False,
        fp16=False,
        report_to=[],
        eval_strategy="epoch",
        save_strategy="best",  # a checkpoint only when validation improves
        save_only_model=True,  # no optimizer state: we never resume mid-training
        save_total_limit=1,
        load_best_model_at_end=True,
        metric_for_best_model=best_metric,
        greater_is_better=best_metric not in _LOWER_IS_BETTER,
        logging_strategy="epoch",
        disable_tqdm=not progress_enabled(),
        label_names=["labels", "soft_labels"],
        remove_unused_columns=False,
        dataloader_num_workers=0,
        dataloader_pin_memory=not on_cpu,
    )


def _stats_dict(stats: EncodeStats) -> dict[str, Any]:
    return {"items": stats.n_items, "examples": stats.n_examples, "steps": stats.n_steps_labeled,
            "truncated": stats.n_truncated, "dropped": stats.n_dropped,
            "correct_fraction": stats.n_correct_steps / max(stats.n_steps_labeled, 1)}


def _one_class(stats: EncodeStats) -> bool:
    return stats.n_correct_steps in (0, stats.n_steps_labeled)


def _pick_best_metric(requested: str, val_stats: EncodeStats, group_stats: Mapping[str, EncodeStats]) -> str:
    """AUROC is undefined on a one-class validation set: fall back to the loss there;
    `verify_auroc` needs a group with both classes, else it falls back to the pooled AUROC."""
    if requested == "verify_auroc" and all(_one_class(s) for s in group_stats.values()):
        requested = "auroc"
    if requested == "auroc" and _one_class(val_stats):
        return "loss"
    return requested


def build_val_examples(tokenizer, val_items, max_length: int, soft: bool):
    """(examples, stats, group stats, group spans): `val_items` is a list, or a mapping of
    VAL_GROUPS names to lists (encoded one group after the other; evaluation keeps the order)."""
    if not isinstance(val_items, Mapping):
        examples, stats = build_examples(tokenizer, val_items, max_length, soft)
        return examples, stats, {}, {}
    unknown = set(val_items) - set(VAL_GROUPS)
    if unknown:
        raise ValueError(f"train_prm: unknown validation group(s) {sorted(unknown)}; known: {VAL_GROUPS}")
    examples, group_stats, spans = [], {}, {}
    for name, items in val_items.items():
        encoded, group_stats[name] = build_examples(tokenizer, items, max_length, soft)
        spans[name] = (len(examples), len(examples) + len(encoded))
        examples += encoded
    stats = EncodeStats(*(sum(getattr(s, f.name) for s in group_stats.values()) for f in fields(EncodeStats)))
    return examples, stats, group_stats, spans


def train_prm(train_items, val_items, tokenizer, model, train_cfg: Mapping[str, Any],
              out_dir: str | os.PathLike) -> dict[str, Any]:
    """Train `model` in place on `(Problem, steps, labels)` items; keep the best validation epoch.

    Labels per step are 0/1 (bools accepted) or, with `soft_labels`, floats in [0, 1]; metrics
    always score against the hard label (soft target >= 0.5 counts as correct).

    Writes `out_dir/model` (model + tokenizer, atomically) and `out_dir/metrics.json`; returns
    the same metrics: `val` (best epoch: step_accuracy, auroc, first_error_f1, ...), `history`
    (per epoch), data counts (truncated/dropped), class weights, timings.
    """
    cfg = resolve_train_cfg(train_cfg)
    check_process_count()  # under accelerate launch: no more ranks than GPUs
    out = Path(out_dir)
    max_length = min(cfg["max_length"], int(model.config.max_position_embeddings))
    soft = bool(cfg["soft_labels"])
    train_examples, train_stats = build_examples(tokenizer, train_items, max_length, soft)
    val_examples, val_stats, group_stats, spans = build_val_examples(tokenizer, val_items, max_length, soft)
    if not train_examples or not val_examples:
        raise ValueError(f"train_prm: need training and validation examples after encoding, got "
                         f"{len(train_examples)} train and {len(val_examples)} val")
    weights = class_weights_from_stats(train_stats) if cfg["class_balance"] else None
    best_metric = _pick_best_metric(cfg["best_metric"], val_stats, group_stats)
    checkpoints = out / "checkpoints"
    shutil.rmtree(checkpoints, ignore_errors=True)  # leftovers of a killed run are not ours
    patience = cfg["early_stopping_patience"]
    callbacks = [EarlyStoppingCallback(early_stopping_patience=patience)] if patience else []
    trainer = PRMTrainer(
        model=model,
        args=_training_args(cfg, checkpoints, best_metric),
        train_dataset=train_examples,
        eval_dataset=val_examples,
        # Pads are masked out, so a tokenizer without a pad token can pad with any id.
        data_collator=PRMCollator(tokenizer.pad_token_id if tokenizer.pad_token_id is not None
                                  else 0),
        compute_metrics=make_compute_metrics(float(cfg["threshold"]), spans),
        preprocess_logits_for_metrics=_probability_correct,
        callbacks=callbacks,
        soft_labels=soft,
        class_weights=weights,
    )
    # Metrics come back in the returned dict and metrics.json; no per-epoch prints.
    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    if not trainer.args.disable_tqdm:
        trainer.add_callback(_StepBars)
    started = time.perf_counter()
    with _quiet_progress_bars():
        train_output = trainer.train()
    train_seconds = time.perf_counter() - started
    history = [{k.removeprefix("eval_"): v for k, v in row.items()}
               for row in trainer.state.log_history if "eval_loss" in row]
    best = _best_history_row(history, trainer.state.best_global_step)
    shutil.rmtree(checkpoints, ignore_errors=True)
    model_dir = save_atomically(trainer.model, tokenizer, out / "model")
    metrics = {
        "val": best,
        "history": history,
        "best_metric": best_metric,
        "best_epoch": best.get("epoch"),
        "epochs_run": float(trainer.state.epoch or 0.0),
        "stopped_early": float(trainer.state.epoch or 0.0) < cfg["epochs"],
        "train_loss": float(train_output.training_loss),
        "train_seconds": train_seconds,
        "train": _stats_dict(train_stats),
        "val_data": _stats_dict(val_stats),
        "class_weights": weights,
        "max_length": max_length,
        "model_dir": str(model_dir),
        "config": cfg,
    }
    write_json(out / "metrics.json", _json_safe(metrics))
    return metrics


class _StepBars(ProgressCallback):
    """Trainer's step and evaluation bars, without the per-epoch metric lines it writes."""

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            self.training_bar = progress(None, "PRM training", total=state.max_steps, unit="step")
        self.current_step = 0

    def on_log(self, args, state, control, logs=None, **kwargs):
        pass


@contextmanager
def _quiet_progress_bars():
    """Checkpoint saves draw a "Writing model shards" bar each time; hide it while training."""
    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def _best_history_row(history: list[dict], best_step: int | None) -> dict:
    for row in history:
        if row.get("step") == best_step:
            return row
    return history[-1] if history else {}


def _json_safe(value):
    """NaN is not JSON: write null (e.g. AUROC on a one-class set)."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value
