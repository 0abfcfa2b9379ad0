"""Stage: tokenizer trained on the training corpus, solver built and SFT-trained on it."""

from __future__ import annotations

from pathlib import Path

from aprm.models.factory import build_model, load_tokenizer_for
from aprm.models.solver import format_prompt, format_solution, train_solver
from aprm.models.tokenizer import train_tokenizer
from aprm.pipeline.common import load_splits, seed_everything


def training_corpus(problems) -> list[str]:
    return [format_prompt(p) + format_solution(p.reference_steps) for p in problems]


def train_solver_stage(splits_path: str, model_cfg: dict, train_cfg: dict, seed: int,
                       out_dir: Path, threads: int | None = None) -> dict:
    """Writes `out_dir/model` (solver weights + the tokenizer every role shares)."""
    seed_everything(seed, threads)
    splits = load_splits(splits_path)
    if model_cfg["kind"] == "tiny":
        tokenizer = train_tokenizer(training_corpus(splits.train), vocab_size=int(model_cfg["vocab_size"]),
                                    digit_places=int(model_cfg["digit_places"]))
    else:
        tokenizer = load_tokenizer_for(model_cfg, "solver")
    model = build_model("solver", model_cfg, tokenizer, seed=seed)
    metrics = train_solver(splits.train, tokenizer, model, {**train_cfg, "seed": seed}, out_dir / "model")
    metrics["parameters"] = sum(p.numel() for p in model.parameters())
    return metrics
