"""GRPO with TRL's GRPOTrainer and a Python reward function: one RL phase of the generator G
(`train_generator_round`) and the solver's RL on a method's PRM (`run_grpo`, aprm.rl).

GRPO (group-relative PPO-style clipped policy gradient) stands in for the paper's PPO: TRL 1.16
has no PPOTrainer. KL to the fixed reference G_ref enters the loss through `beta`. TRL builds
its reference copy from `model.config._name_or_path`, so the policy (loaded from this round's
G) is pointed at G_ref's folder: the KL is to the round-0 G, not to the start of this round.
"""

from __future__ import annotations

import math
import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch

from aprm.game.generator import Slot, slot_prompt
from aprm.game.ogda import make_optimizer
from aprm.method_configs import GeneratorRLConfig
from aprm.structured import build_config
from aprm.models.loading import MODEL_INIT_LOCK
from aprm.models.solver import save_atomically
from aprm.progress import progress_enabled

# reward_fn(prompt_indices, texts, truncated) -> one float per completion
RewardFn = Callable[[Sequence[int], Sequence[str], Sequence[bool]], list[float]]

# What a direct caller gets; the method config (aprm.method_configs.GeneratorRLConfig) holds the
# defaults, and the round sets `steps` (g_steps_per_r_step * prm_update.steps) and `seed`.
GRPO_DEFAULTS: dict[str, Any] = {"steps": 4, "seed": 0, **asdict(GeneratorRLConfig())}


def resolve_grpo_cfg(cfg: Mapping[str, Any], where: str = "method.generator_rl") -> dict[str, Any]:
    """Defaults < cfg, checked by the structured config; errors name `<where>.<key>`."""
    cfg = dict(cfg)
    run = {key: cfg.pop(key, GRPO_DEFAULTS[key]) for key in ("steps", "seed")}
    if isinstance(run["steps"], bool) or not isinstance(run["steps"], int) or run["steps"] < 1:
        raise ValueError(f"{where}.steps must be a positive int, got {run['steps']!r}")
    return {**run, **asdict(build_config(GeneratorRLConfig, cfg, where))}


class _TrlReward:
    """Adapts TRL's reward-function call to reward_fn(prompt_indices, texts, truncated)."""

    __name__ = "reward"

    def __init__(self, reward_fn: RewardFn, eos_id: int):
        self.reward_fn, self.eos_id = reward_fn, eos_id

    def __call__(self, prompts, completions, completion_ids, prompt_index, **_: Any) -> list[float]:
        truncated = [not ids or ids[-1] != self.eos_id for ids in completion_ids]
        texts = [c.strip() for c in completions]
        rewards = self.reward_fn(list(prompt_index), texts, truncated)
        if len(rewards) != len(texts):
            raise ValueError(f"reward_fn returned {len(rewards)} rewards for {len(texts)} completions")
        return [float(r) for r in rewards]


def train_generator_round(
    generator_path: str | Path,
    reference_path: str | Path,
    slots: Sequence[Slot],
    reward_fn: RewardFn,
    rl_cfg: Mapping[str, Any],
    out_dir: str | Path,
) -> dict[str, Any]:
    """Run `steps` GRPO updates of G (loaded from generator_path) on the slots' prompts and save
    it to out_dir; reward_fn gets slot indices."""
    if not slots:
        raise ValueError("train_generator_round needs at least one slot")
    metrics = run_grpo(generator_path, reference_path, [slot_prompt(s) for s in slots], reward_fn, rl_cfg, out_dir)
    return {k: v for k, v in metrics.items() if k != "resumed"}


def run_grpo(
    policy_path: str | Path,
    reference_path: str | Path,
    prompts: Sequence[str],
    reward_fn: RewardFn,
    rl_cfg: Mapping[str, Any],
    out_dir: str | Path,
    callbacks: Sequence[Any] = (),
    save_every: int = 0,
    where: str = "method.generator_rl",
) -> dict[str, Any]:
    """Run `steps` GRPO updates of the causal LM at policy_path on `prompts` and save it to out_dir.

    KL is to reference_path (when beta > 0). `callbacks` are transformers TrainerCallbacks.
    save_every > 0 checkpoints every that many steps in a scratch folder beside out_dir, and a
    call that finds checkpoints there (a killed run) resumes from the last one.
    A bad setting names `<where>.<key>`.
    Returns metrics: mean reward, GRPO's KL estimate (if beta > 0), loss, completions seen, wall time.
    """
    from datasets import Dataset  # lazy: heavy imports, only needed here
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    cfg = resolve_grpo_cfg(rl_cfg, where)
    if not prompts:
        raise ValueError("run_grpo needs at least one prompt")
    out = Path(out_dir)
    tokenizer = AutoTokenizer.from_pretrained(str(policy_path), local_files_only=True)
    with MODEL_INIT_LOCK:
        model = AutoModelForCausalLM.from_pretrained(str(policy_path), local_files_only=True)
    if cfg["beta"] > 0:
        model.config._name_or_path = str(reference_path)  # TRL loads its frozen reference from here
    on_cpu = not torch.cuda.is_available()
    batch = cfg["prompts_per_step"] * cfg["num_generations"]
    scratch = out.parent / f".{out.name}.grpo"
    args = GRPOConfig(
        output_dir=str(scratch),
        max_steps=cfg["steps"],
        per_device_train_batch_size=batch,
        gradient_accumulation_steps=1,
        num_generations=cfg["num_generations"],
        max_completion_length=cfg["max_completion_length"],
        temperature=float(cfg["temperature"]),
        learning_rate=float(cfg["lr"]),
        weight_decay=float(cfg["weight_decay"]),
        beta=float(cfg["beta"]),
        epsilon=float(cfg["epsilon"]),
        seed=int(cfg["seed"]),
        data_seed=int(cfg["seed"]),
        use_cpu=on_cpu,
        bf16=False,
        fp16=False,
        gradient_checkpointing=False,  # tiny models: recompute costs more than the memory saved
        disable_dropout=True,
        report_to=[],
        logging_steps=1,
        save_strategy="steps" if save_every else "no",
        save_steps=save_every or 500,
        save_total_limit=1,
        disable_tqdm=not progress_enabled(),
        dataloader_num_workers=0,
        dataloader_pin_memory=not on_cpu,
    )
    rows = [{"prompt": prompt, "prompt_index": i} for i, prompt in enumerate(prompts)]
    optimizer = None
    if cfg["optimizer"] != "adamw":
        optimizer = make_optimizer(cfg["optimizer"], model.parameters(), float(cfg["lr"]), float(cfg["weight_decay"]))
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=_TrlReward(reward_fn, tokenizer.eos_token_id),
        args=args,
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
        optimizers=(optimizer, None),
        callbacks=list(callbacks),
    )
    resume = bool(save_every) and any(scratch.glob("checkpoint-*"))
    started = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=True if resume else None)
    wall = time.perf_counter() - started
    logs = [row for row in trainer.state.log_history if "reward" in row]
    shutil.rmtree(scratch, ignore_errors=True)
    trainer.model.config._name_or_path = str(out)
    save_atomically(trainer.model, tokenizer, out)
    return {
        "steps": int(trainer.state.global_step),
        "reward_mean": _mean([row["reward"] for row in logs]),
        "reward_first": logs[0]["reward"] if logs else None,
        "reward_last": logs[-1]["reward"] if logs else None,
        "grpo_kl": _mean([row["kl"] for row in logs if "kl" in row]) if cfg["beta"] > 0 else None,
        "loss": float(result.training_loss),
        "completions": int(trainer.state.global_step) * batch,
        "wall_s": wall,
        "resumed": resume,
    }


def _mean(values: Sequence[float]) -> float | None:
    values = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return sum(values) / len(values) if values else None
