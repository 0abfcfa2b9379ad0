"""The generator G: prompt format, warm start on rule perturbations, seeded sampling, KL to G_ref.

G is a causal LM. It sees a problem, the (correct) steps so far and the correct next step, and
writes a wrong replacement for that step, ending with eos:

    Question: <question>
    Steps so far:
    <step 1>
    ...
    Correct step: <correct step>
    Wrong step:
    <completion: the wrong step></s>

Before any game round, G is fine-tuned on rule perturbations (`aprm.perturb`) that the oracle
confirms are wrong: it starts out writing well-formed wrong steps, and RL then moves it toward
the wrong steps R misses. The RL round itself (TRL GRPO) lives in `generator_rl`.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Mapping, Sequence

import torch

from aprm.method_configs import WarmStartConfig
from aprm.structured import build_config
from aprm.models.sampling import GumbelSampler, decoding, pick_device, sample_seed
from aprm.models.solver import collate_causal, save_atomically
from aprm.progress import progress
from aprm.schema import Problem

IGNORE_INDEX = -100
MAX_PROMPT_CHARS = 4000  # a synthetic prompt is ~400 chars; longer ones are rejected, not truncated

# A direct caller's warm-start defaults: the method config's (method.setup.warm_start, without
# its `enabled` switch) plus the seed the pipeline gives.
WARM_START_DEFAULTS: dict[str, Any] = {
    **{k: v for k, v in asdict(WarmStartConfig()).items() if k != "enabled"}, "seed": 0}


@dataclass(frozen=True)
class Slot:
    """A place to corrupt: the reference step `index` of `problem` (earlier steps are the prefix)."""

    problem: Problem
    index: int

    @property
    def prefix(self) -> tuple[str, ...]:
        return tuple(self.problem.reference_steps[: self.index])

    @property
    def correct_step(self) -> str:
        return self.problem.reference_steps[self.index]

    @property
    def slot_id(self) -> str:
        return f"{self.problem.id}#{self.index}"


def corruption_slots(problems: Sequence[Problem]) -> list[Slot]:
    """Every reference step of every problem (the final answer step included)."""
    slots = [Slot(p, i) for p in problems for i in range(len(p.reference_steps))]
    if not slots:
        raise ValueError("no reference steps to corrupt: the problems have no reference_steps")
    return slots


def generator_prompt(problem: Problem, prefix: Sequence[str], correct_step: str) -> str:
    """G's prompt (ends with a newline: the wrong step starts a line)."""
    question = " ".join(problem.question.split())
    lines = [f"Question: {question}", "Steps so far:"]
    lines += [" ".join(step.split()) for step in prefix] or ["(none)"]
    lines += [f"Correct step: {' '.join(correct_step.split())}", "Wrong step:"]
    prompt = "\n".join(lines) + "\n"
    if len(prompt) > MAX_PROMPT_CHARS:
        raise ValueError(f"problem {problem.id}: generator prompt of {len(prompt)} chars exceeds {MAX_PROMPT_CHARS}")
    return prompt


def slot_prompt(slot: Slot) -> str:
    return generator_prompt(slot.problem, slot.prefix, slot.correct_step)


def perturbation_pairs(
    problems: Sequence[Problem],
    kinds: Sequence[str],
    seed: int,
    judge: Callable[..., Any],
    perturb: Callable[..., Any],
    per_problem: int = 2,
    use_reference: bool = True,
) -> list[tuple[Slot, str]]:
    """(slot, wrong step) pairs from rule perturbations that `judge` (the oracle) labels incorrect.

    perturb(problem, steps, kind, rng) -> (new_steps, index) | None, judge(problem, prefix, step,
    reference=...) -> Verdict: passed in so the caller picks them (aprm.perturb.perturb_solution,
    aprm.oracle.judge_step). Up to per_problem distinct pairs per problem, from 3*per_problem tries.
    """
    if per_problem < 1:
        raise ValueError(f"per_problem={per_problem} must be >= 1")
    if not kinds:
        raise ValueError("perturbation_pairs needs at least one perturbation kind")
    pairs = []
    for problem in problems:
        rng = random.Random(f"{seed}|warm|{problem.id}")
        seen: set[tuple[int, str]] = set()
        for attempt in range(3 * per_problem):  # bounded: some kinds do not apply to every problem
            if len(seen) >= per_problem:
                break
            result = perturb(problem, list(problem.reference_steps), kinds[attempt % len(kinds)], rng)
            if result is None:
                continue
            new_steps, index = result
            wrong = new_steps[index]
            slot = Slot(problem, index)
            if (index, wrong) in seen or wrong.strip() == slot.correct_step.strip():
                continue
            reference = list(problem.reference_steps) if use_reference else None
            if judge(problem, list(slot.prefix), wrong, reference=reference).label != "incorrect":
                continue
            seen.add((index, wrong))
            pairs.append((slot, wrong))
    return pairs


def encode_pair(tokenizer, prompt: str, target: str, max_length: int) -> tuple[list[int], list[int]]:
    """bos + prompt + target + eos; labels only on target and eos (as TRL tokenizes the prompt)."""
    prompt_ids = tokenizer(prompt)["input_ids"]
    target_ids = tokenizer(target, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    ids = prompt_ids + target_ids
    if len(ids) > max_length:
        raise ValueError(f"generator example of {len(ids)} tokens exceeds max_length={max_length}: {prompt[:60]!r}")
    return ids, [IGNORE_INDEX] * len(prompt_ids) + target_ids


def warm_start_generator(
    pairs: Sequence[tuple[Slot, str]], tokenizer, model, train_cfg: Mapping[str, Any], out_dir
) -> dict[str, Any]:
    """SFT of G on (slot, wrong step) pairs; saves model + tokenizer to out_dir (None: don't save)."""
    train_cfg = dict(train_cfg)
    seed = train_cfg.pop("seed", 0)
    cfg = {**asdict(build_config(WarmStartConfig, train_cfg, "method.setup.warm_start")), "seed": seed}
    if not pairs:
        raise ValueError("warm_start_generator needs at least one (slot, wrong step) pair")
    examples = [encode_pair(tokenizer, slot_prompt(s), wrong, cfg["max_length"]) for s, wrong in pairs]
    device = pick_device()
    model.to(device)
    model.train()
    torch.manual_seed(cfg["seed"])
    order_rng = random.Random(cfg["seed"])
    optimizer = torch.optim.AdamW(model.parameters(), lr=float(cfg["lr"]), weight_decay=float(cfg["weight_decay"]))
    losses: list[float] = []
    started = time.perf_counter()
    steps_per_epoch = math.ceil(len(examples) / cfg["batch_size"])
    bar = progress(None, "generator warm start", total=cfg["epochs"] * steps_per_epoch, unit="step")
    for _ in range(cfg["epochs"]):
        order = list(range(len(examples)))
        order_rng.shuffle(order)
        for start in range(0, len(order), cfg["batch_size"]):
            batch = collate_causal([examples[i] for i in order[start : start + cfg["batch_size"]]], tokenizer.pad_token_id)
            loss = model(**{k: v.to(device) for k, v in batch.items()}).loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), float(cfg["grad_clip"]))
            optimizer.step()
            losses.append(float(loss.detach()))
            bar.update()
    bar.close()
    model.eval()
    if not all(math.isfinite(v) for v in losses):
        raise FloatingPointError(f"generator warm start: non-finite loss (lr={cfg['lr']})")
    window = max(1, min(10, len(losses) // 4))
    if out_dir is not None:
        save_atomically(model, tokenizer, out_dir)
    return {
        "pairs": len(pairs),
        "steps": len(losses),
        "loss_first": sum(losses[:window]) / window,
        "loss_last": sum(losses[-window:]) / window,
        "wall_s": time.perf_counter() - started,
    }


@dataclass(frozen=True)
class GeneratedStep:
    text: str  # decoded completion, stripped of surrounding whitespace
    truncated: bool  # stopped at max_new_tokens without eos
    token_ids: tuple[int, ...] = ()  # as generated, eos included when present


def _left_pad(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, width - len(r) :] = torch.tensor(list(r), dtype=torch.long)
        mask[i, width - len(r) :] = 1
    return ids, mask


@torch.inference_mode()
def sample_corruptions(
    model, tokenizer, slots: Sequence[Slot], temperature: float, max_new_tokens: int, seed: int, batch_size: int = 32
) -> list[GeneratedStep]:
    """One seeded completion per slot; each row owns its generator (independent of batching)."""
    if temperature <= 0 or max_new_tokens < 1 or batch_size < 1:
        raise ValueError(f"bad sampling args temperature={temperature} max_new_tokens={max_new_tokens} batch_size={batch_size}")
    device = next(model.parameters()).device
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    out: list[GeneratedStep] = []
    with decoding(model):
        for start in range(0, len(slots), batch_size):
            chunk = slots[start : start + batch_size]
            prompts = [tokenizer(slot_prompt(s))["input_ids"] for s in chunk]
            ids, mask = _left_pad(prompts, pad)
            gens = [torch.Generator().manual_seed(sample_seed(seed, s.slot_id, 0)) for s in chunk]
            output = model.generate(
                input_ids=ids.to(device), attention_mask=mask.to(device), max_new_tokens=max_new_tokens,
                do_sample=False, num_beams=1, pad_token_id=pad, eos_token_id=eos,
                logits_processor=[GumbelSampler(gens, temperature, 1.0)],
            )
            for row in output[:, ids.shape[1] :].tolist():
                done = eos in row
                kept = row[: row.index(eos) + 1] if done else row
                text = tokenizer.decode(kept, skip_special_tokens=True).strip()
                out.append(GeneratedStep(text, not done, tuple(kept)))
    return out


@torch.inference_mode()
def generator_kl(
    model, ref_model, tokenizer, slots: Sequence[Slot], max_new_tokens: int, seed: int, batch_size: int = 32
) -> float:
    """Monte-Carlo KL(G || G_ref) in nats per completion.

    Completions y ~ G (temperature 1); for each, the exact per-token KL of the two next-token
    distributions is summed along y: an unbiased estimate of the sequence KL with lower variance
    than log G(y) - log G_ref(y).
    """
    samples = sample_corruptions(model, tokenizer, slots, 1.0, max_new_tokens, seed, batch_size)
    device = next(model.parameters()).device
    ref_model.to(device).eval()
    was_training = model.training
    model.eval()
    total = 0.0
    try:
        for slot, sample in zip(slots, samples):
            prompt = tokenizer(slot_prompt(slot))["input_ids"]
            ids = torch.tensor([prompt + list(sample.token_ids)], device=device)
            positions = slice(len(prompt) - 1, ids.shape[1] - 1)  # logits that predict the completion
            logp = torch.log_softmax(model(input_ids=ids).logits[0, positions].float(), -1)
            logq = torch.log_softmax(ref_model(input_ids=ids).logits[0, positions].float(), -1)
            total += float((logp.exp() * (logp - logq)).sum())
    finally:
        model.train(was_training)
    return total / max(1, len(slots))
