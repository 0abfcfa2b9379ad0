"""Stage: train one baseline PRM (`static`, `mc` or `orm`) on its own training items.

Every method is early-stopped on the same ID validation set, so model selection is comparable:
oracle-labeled solver samples on validation problems (`samples_stage.process_labels`) plus the
oracle-labeled reference and rule-perturbed solutions of those problems (never empty, even when
a weak solver writes nothing usable).
"""

from __future__ import annotations

from pathlib import Path

from aprm.io import read_jsonl
from aprm.models.factory import build_prm
from aprm.models.loading import load_saved_tokenizer
from aprm.models.prm_trainer import train_prm
from aprm.pipeline.common import seed_everything
from aprm.pipeline.samples_stage import process_labels, read_samples
from aprm.schema import Problem

Item = tuple[Problem, list[str], list]


def static_items(static_path: str | Path, split: str = "train") -> list[Item]:
    return [(Problem.from_dict(r["problem"]), r["steps"], r["labels"])
            for r in read_jsonl(static_path) if r["split"] == split]


def process_items(samples_path: str | Path) -> list[Item]:
    items = []
    for problem, samples in read_samples(samples_path):
        for sample in samples:
            labeled = process_labels(sample)
            if labeled:
                items.append((problem, *labeled))
    return items


def outcome_items(samples_path: str | Path) -> list[Item]:
    """ORM: every step of a sample carries the sample's final-answer correctness."""
    return [(problem, s["steps"], [int(s["correct"])] * len(s["steps"]))
            for problem, samples in read_samples(samples_path) for s in samples if s["steps"]]


def mc_items(mc_path: str | Path, soft: bool) -> list[Item]:
    """Math-Shepherd labels from rollouts: hard = any rollout correct, soft = fraction correct."""
    items = []
    for row in read_jsonl(mc_path):
        fractions = row["rollout_accuracy"]
        labels = fractions if soft else [int(f > 0) for f in fractions]
        items.append((Problem.from_dict(row["problem"]), row["steps"], labels))
    return items


def train_items_for(method: str, method_cfg: dict, inputs: dict) -> list[Item]:
    if method == "static":
        return static_items(inputs["static"])
    if method == "orm":
        return outcome_items(inputs["pool"])
    if method == "mc":
        return mc_items(inputs["mc"], soft=method_cfg.get("estimation", "hard") == "soft")
    raise ValueError(f"game.name={method!r} is not a baseline PRM; choose static, mc or orm")


def train_baseline_prm(method: str, method_cfg: dict, inputs: dict, model_cfg: dict,
                       train_cfg: dict, seed: int, out_dir: Path, threads: int | None = None) -> dict:
    """inputs: {"tokenizer_dir" (the trained solver), "val_samples", "static", and "pool" | "mc"
    paths}."""
    seed_everything(seed, threads)
    tokenizer = load_saved_tokenizer(inputs["tokenizer_dir"])
    train = train_items_for(method, method_cfg, inputs)
    val = process_items(inputs["val_samples"]) + static_items(inputs["static"], split="val")
    model = build_prm(model_cfg, tokenizer, inputs["tokenizer_dir"], seed=seed)
    soft = method == "mc" and method_cfg.get("estimation") == "soft"
    metrics = train_prm(train, val, tokenizer, model, {**train_cfg, "seed": seed, "soft_labels": soft},
                        out_dir)
    return {"train_items": len(train), "val_items": len(val), **_flat_val(metrics)}


def _flat_val(metrics: dict) -> dict:
    out = {f"val_{k}": v for k, v in metrics.get("val", {}).items() if isinstance(v, (int, float))}
    out.update({k: metrics[k] for k in ("train_loss", "train_seconds", "epochs_run") if k in metrics})
    return out
