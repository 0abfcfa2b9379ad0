"""The skeleton every game round shares (APRM's and Adv-RM's): open the round (config, state,
slots, seeds), G's attack (GRPO against the frozen R, then a probe sample), the replay buffer,
R's update, G's drift from its reference, and the files a round leaves. The rounds themselves
(aprm_game.py, advrm_game.py) say only how corruptions are judged and which become negatives.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch

from aprm.game.config import resolve_game_cfg
from aprm.game.generator import Slot, corruption_slots, generator_kl, sample_corruptions
from aprm.game.generator_rl import train_generator_round
from aprm.game.replay import Negative, ReplayBuffer
from aprm.game.state import check_state, read_items, read_problems
from aprm.io import write_json, write_jsonl
from aprm.models.prm_metrics import auroc


def round_seed(seed: int, round_idx: int) -> int:
    """The seed of round `round_idx`: G's GRPO, the probe sample, R's update, the stage's RNGs."""
    return seed * 1000 + round_idx


def member_seed(seed: int, round_idx: int, member: int) -> int:
    """R's update seed for ensemble member `member` (Adv-RM)."""
    return seed * 1000 + round_idx * 10 + member


def kl_seed(seed: int, round_idx: int) -> int:
    """The seed of the KL(G || G_ref) estimate's samples."""
    return seed + 7919 * round_idx


def round_slots(all_slots: list[Slot], count: int, seed: str) -> list[Slot]:
    """A seeded sample (without replacement where possible) of slots, in a stable order."""
    rng = random.Random(seed)
    if count >= len(all_slots):
        return list(all_slots)
    return rng.sample(all_slots, count)


@dataclass
class Round:
    """One round's resolved config, input state, output folder and slots."""

    kind: str
    index: int
    cfg: dict
    state: dict
    out: Path
    slots_by_id: dict[str, Slot]
    train_slots: list[Slot]
    probe_slots: list[Slot]
    started: float

    @property
    def seed(self) -> int:
        return self.cfg["seed"]

    @property
    def round_seed(self) -> int:
        return round_seed(self.seed, self.index)


def open_round(kind: str, state: Mapping[str, Any], round_idx: int, game_cfg: Mapping[str, Any], out_dir,
               keys: Sequence[str]) -> Round:
    started = time.perf_counter()
    cfg = resolve_game_cfg(game_cfg, kind)
    state = check_state(state, keys)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(round_seed(cfg["seed"], round_idx))
    all_slots = corruption_slots(read_problems(state["problems"]))
    seed = cfg["seed"]
    return Round(kind, round_idx, cfg, state, out, {s.slot_id: s for s in all_slots},
                 round_slots(all_slots, cfg["slots_per_round"], f"{seed}|train-slots|{round_idx}"),
                 round_slots(all_slots, cfg["probe"]["slots"], f"{seed}|probe-slots"), started)


@dataclass
class Attack:
    g_metrics: dict
    generator: Any
    tokenizer: Any
    probe_judge: Any


def attack(rnd: Round, train_judge, probe_judge_for: Callable[[list[Slot]], Any]) -> Attack:
    """G's phase: GRPO steps against the frozen R (rewarded by `train_judge`) -> G_{k+1}; then
    G_{k+1} writes one corruption per probe slot, judged by a fresh judge *before* R moves."""
    from aprm.models.loading import load_causal_lm

    rl_cfg = {**rnd.cfg["generator_rl"], "seed": rnd.round_seed}
    g_metrics = train_generator_round(rnd.state["generator"], rnd.state["generator_ref"], rnd.train_slots,
                                      train_judge, rl_cfg, rnd.out / "generator")
    generator, tokenizer = load_causal_lm(rnd.out / "generator")
    probe = rnd.cfg["probe"]
    samples = sample_corruptions(generator, tokenizer, rnd.probe_slots, probe["temperature"], probe["max_new_tokens"],
                                 seed=rnd.round_seed)
    probe_judge = probe_judge_for(rnd.probe_slots)
    probe_judge(list(range(len(rnd.probe_slots))), [s.text for s in samples], [s.truncated for s in samples])
    return Attack(g_metrics, generator, tokenizer, probe_judge)


def extend_replay(rnd: Round, fresh: Sequence[Negative]) -> tuple[ReplayBuffer, int]:
    """The state's replay buffer plus this round's negatives, saved under the round's folder."""
    replay = ReplayBuffer.load(rnd.state["replay"])
    added = replay.extend(fresh)
    replay.save(rnd.out / "replay.jsonl")
    return replay, added


NO_UPDATE = {"loss_last": None, "loss_first": None, "steps": 0, "anchor_sq_dist": None, "optimizer_resumed": False}


def update_r(rnd: Round, r, replay: ReplayBuffer, ref_path: str, seed: int, optimizer_in: str | None,
             optimizer_out: Path) -> tuple[dict, str | None]:
    """R's phase: positives + replay negatives, pulled toward R_0 -> (metrics, optimizer state).
    With no verified negative yet (G never broke a step) there is nothing to learn and R stays."""
    if not len(replay):
        return dict(NO_UPDATE), optimizer_in
    metrics = r.update(read_items(rnd.state["positives"]), replay.items(), ref_path,
                       {**rnd.cfg["prm_update"], "seed": seed}, optimizer_in, optimizer_out)
    return metrics, str(optimizer_out)


def generator_drift(rnd: Round, generator, tokenizer) -> float:
    """KL(G_{k+1} || G_ref) on the first probe slots."""
    from aprm.models.loading import load_causal_lm

    ref_generator, _ = load_causal_lm(rnd.state["generator_ref"])
    probe = rnd.cfg["probe"]
    return generator_kl(generator, ref_generator, tokenizer, rnd.probe_slots[: probe["kl_slots"]],
                        probe["max_new_tokens"], seed=kl_seed(rnd.seed, rnd.index))


def static_scores(scorer, negatives: list[Negative]) -> tuple[list[float], list[float]]:
    """R's P(correct) of each static negative's wrong step and of the reference step it replaced."""
    wrong_items = [(n.problem, [*n.prefix, n.step]) for n in negatives]
    right_items = [(n.problem, [*n.prefix, n.problem.reference_steps[len(n.prefix)]]) for n in negatives]
    return [s[-1] for s in scorer.score_batch(wrong_items)], [s[-1] for s in scorer.score_batch(right_items)]


def static_accuracy(scorer, negatives: list[Negative], threshold: float) -> dict[str, float | None]:
    """R on the static perturbation set: rejects the wrong step / accepts the reference step there.

    static_auroc ranks the reference steps against the wrong ones without a threshold: the
    accuracies at a fixed threshold mostly move with R's bias, the AUROC only with what R tells apart.
    """
    if not negatives:
        return {"static_acc": None, "static_acc_negatives": None, "static_acc_positives": None, "static_auroc": None}
    return static_metrics(*static_scores(scorer, negatives), threshold)


def static_metrics(wrong: list[float], right: list[float], threshold: float) -> dict[str, float]:
    acc_neg = sum(p < threshold for p in wrong) / len(wrong)
    acc_pos = sum(p >= threshold for p in right) / len(right)
    return {"static_acc": (acc_neg + acc_pos) / 2, "static_acc_negatives": acc_neg, "static_acc_positives": acc_pos,
            "static_auroc": auroc(right + wrong, [1] * len(right) + [0] * len(wrong))}


def close_round(rnd: Round, records: Sequence[Any], metrics: dict) -> dict:
    """Write every judged sample and the round's metrics (with its wall time); return the metrics."""
    write_jsonl(rnd.out / "samples.jsonl", (r.to_dict() for r in records))
    metrics = {**metrics, "wall_s": time.perf_counter() - rnd.started}
    write_json(rnd.out / "metrics.json", metrics)
    return metrics
