"""The `method` config group as structured configs: one dataclass per method, the only place its
defaults are written.

Hydra composes each `conf/method/<name>.yaml` on top of its dataclass's defaults (registered in
Hydra's ConfigStore by `flows.config`), so the composed config holds every key; config
validation and the library resolve a method's plain dict through the same dataclass
(`build_config`: unknown keys and types; each dataclass's `__post_init__`: ranges and choices).
Errors name the key (`method.probe.slots`). Torch-free, so composing a config stays fast.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any, List, Mapping, Optional

from aprm.game.advrm import DISAGREEMENT_KINDS, Z_KEEP, check_lambda
from aprm.game.replay import POLICIES
from aprm.game.rewards import RewardConfig
from aprm.structured import build_config, choice, nested_config, number, positive_int

nested_config(RewardConfig)

OPTIMIZER_CHOICES = ("ogda", "optimistic_adam", "adamw")
# method.feature of `likelihood` (aprm.models.likelihood): min log-prob over a step's digit tokens,
# or over all of its tokens
LIKELIHOOD_FEATURES = ("numeric_min", "all_min")
MC_ESTIMATIONS = ("hard", "soft")  # any rollout correct, or the fraction correct (soft labels)


@nested_config
@dataclass
class ProbeConfig:
    """After each round: G's fool rate and KL to G_0 on fresh slots."""

    slots: int = 32
    temperature: float = 1.0
    max_new_tokens: int = 40
    kl_slots: int = 16

    def __post_init__(self) -> None:
        positive_int(self, "slots", "max_new_tokens", "kl_slots")
        number(self, "temperature", 0.0, strict=True)


@nested_config
@dataclass
class ReplayConfig:
    """R's replay buffer of negatives."""

    capacity: int = 2048
    policy: str = "fifo"
    seed: int = 0

    def __post_init__(self) -> None:
        positive_int(self, "capacity")
        choice(self, "policy", POLICIES)


@nested_config
@dataclass
class GeneratorRLConfig:
    """G's GRPO (its step count is derived: g_steps_per_r_step * prm_update.steps)."""

    prompts_per_step: int = 4
    num_generations: int = 4  # completions per prompt (the GRPO group)
    max_completion_length: int = 40  # synthetic steps are ~15-25 tokens
    temperature: float = 1.0
    lr: float = 1.0e-4
    beta: float = 0.05  # KL(G || G_ref) coefficient
    epsilon: float = 0.2  # PPO clip
    optimizer: str = "adamw"  # or ogda / optimistic_adam
    weight_decay: float = 0.0

    def __post_init__(self) -> None:
        positive_int(self, "prompts_per_step", "max_completion_length")
        if isinstance(self.num_generations, bool) or not isinstance(self.num_generations, int) or self.num_generations < 2:
            raise ValueError(f"num_generations must be an int >= 2 (GRPO groups), got {self.num_generations!r}")
        for name in ("lr", "temperature"):
            number(self, name, 0.0, strict=True)
        number(self, "beta", 0.0)
        choice(self, "optimizer", OPTIMIZER_CHOICES)


@nested_config
@dataclass
class PrmUpdateConfig:
    """R's update in a round."""

    steps: int = 20
    batch_size: int = 16
    # OGDA is SGD-like: 0.01-0.05 matched AdamW at 1e-3 after 100 steps; use ~1e-3 for the Adam kinds
    lr: float = 0.02
    optimizer: str = "ogda"
    weight_decay: float = 0.0
    anchor_l2: float = 1.0e-3  # coefficient of ||theta - theta_0||^2
    grad_clip: float = 1.0
    class_balance: bool = True  # weight the two classes equally per batch, as train.prm.class_balance does
    max_length: int = 512

    def __post_init__(self) -> None:
        positive_int(self, "steps", "batch_size", "max_length")
        if self.batch_size < 2:
            raise ValueError("batch_size must be >= 2 (half positives, half negatives)")
        number(self, "lr", 0.0, strict=True)
        for name in ("weight_decay", "anchor_l2", "grad_clip"):
            number(self, name, 0.0)
        choice(self, "optimizer", OPTIMIZER_CHOICES)


@nested_config
@dataclass
class WarmStartConfig:
    """G_0: the generator SFT-warm-started on oracle-verified rule perturbations."""

    enabled: bool = True
    epochs: int = 3
    batch_size: int = 32
    lr: float = 3.0e-3
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    max_length: int = 512

    def __post_init__(self) -> None:
        positive_int(self, "epochs", "batch_size", "max_length")


@nested_config
@dataclass
class SetupConfig:
    """Round 0, on the pipeline side (aprm.pipeline.game_stage)."""

    train_problems: int = 400
    # rule kinds G_0 is warm-started on; conf/method/rounds/common.yaml links it to oracle.perturbations
    perturbations: Optional[List[str]] = None
    perturbations_per_problem: int = 2
    warm_start: WarmStartConfig = field(default_factory=WarmStartConfig)

    def __post_init__(self) -> None:
        positive_int(self, "train_problems", "perturbations_per_problem")


@dataclass
class MethodConfig:
    """Any method: its registered name. A method without a config of its own uses this."""

    name: str = "static"


@dataclass
class McConfig(MethodConfig):
    name: str = "mc"
    rollouts: int = 4  # solver rollouts from every step prefix of pool solutions
    samples_per_problem: int = 2
    estimation: str = "hard"

    def __post_init__(self) -> None:
        positive_int(self, "rollouts", "samples_per_problem")
        choice(self, "estimation", MC_ESTIMATIONS)


@dataclass
class LikelihoodMethodConfig(MethodConfig):
    name: str = "likelihood"
    # all_min: min log-prob over all of the step's tokens; numeric_min: over its digit tokens only.
    # Chosen on ID validation (docs/LOG.md, 2026-12-04): equal on the solver's own errors (0.956),
    # all_min also catches operator swaps (1.00 vs 0.58).
    feature: str = "all_min"

    def __post_init__(self) -> None:
        choice(self, "feature", LIKELIHOOD_FEATURES)


@dataclass
class GameConfig(MethodConfig):
    """What both games play with: rounds, G's GRPO, the probe, R's replay and the round-0 set-up.
    The paper publishes no reward values, coefficients or round counts (../shared/DESIGN.md):
    these are ours; what each round measured is in docs/LOG.md."""

    rounds: int = 3
    g_steps_per_r_step: int = 1  # G's GRPO steps per round = this * prm_update.steps
    slots_per_round: int = 64  # training slots G practises on in a round
    scorer_batch_size: int = 32
    oracle_reference: bool = True  # the oracle sees the reference solution (its progress rule)
    generator_rl: GeneratorRLConfig = field(default_factory=GeneratorRLConfig)
    replay: ReplayConfig = field(default_factory=ReplayConfig)
    probe: ProbeConfig = field(default_factory=ProbeConfig)
    setup: SetupConfig = field(default_factory=SetupConfig)
    rewards: RewardConfig = field(default_factory=RewardConfig)
    prm_update: PrmUpdateConfig = field(default_factory=PrmUpdateConfig)

    def __post_init__(self) -> None:
        positive_int(self, "rounds", "g_steps_per_r_step", "slots_per_round", "scorer_batch_size")


@dataclass
class AprmConfig(GameConfig):
    """APRM: G (RL, GRPO with KL to G_0) writes wrong steps to fool R; R (OGDA) learns to catch
    the oracle-verified ones."""

    name: str = "aprm"


@dataclass
class AdvrmConfig(GameConfig):
    """Adv-RM (arXiv 2504.06141): no oracle in the loop; the adversary maximises
    R_target - lam * R_second over an ensemble; samples with ensemble disagreement z > z_threshold
    become negatives. Its reward is the ensemble score, so of `rewards` it reads only `failed`
    (structural defects), `threshold` and `max_step_chars`."""

    name: str = "advrm"
    prm_update: PrmUpdateConfig = field(default_factory=lambda: PrmUpdateConfig(lr=1.0e-3, optimizer="adamw"))
    ensemble_size: int = 2
    lam: float = 2.0  # must be > 1
    z_threshold: float = Z_KEEP
    disagreement: str = "signed"
    z_baseline: str = "reference"  # reference: z against disagreement on positives; batch: the batch itself

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.ensemble_size, bool) or not isinstance(self.ensemble_size, int) or self.ensemble_size < 2:
            raise ValueError(f"ensemble_size must be an int >= 2, got {self.ensemble_size!r}")
        try:
            check_lambda(self.lam)
        except ValueError as err:
            raise ValueError(f"lam: {err}") from None
        choice(self, "disagreement", DISAGREEMENT_KINDS)
        choice(self, "z_baseline", ("reference", "batch"))
        number(self, "z_threshold", -math.inf)


def build_method_config(values: Mapping[str, Any], where: str = "method") -> MethodConfig:
    """The `method` config (a plain dict, composed or given by a library caller) as the dataclass
    its registered method names (aprm.methods: `Method.config`).

    The group holds settings for more than one method (an experiment sets the games' rounds,
    and the baselines are composed with the same experiment): a method reads its own keys and
    ignores those of another registered method; a key no method knows is an error."""
    from aprm.methods import REGISTRY, get_method  # the registry imports this module

    cls = get_method(values.get("name", "static")).config
    own = {f.name for f in fields(cls)}
    anyone = {f.name for method in REGISTRY.values() for f in fields(method.config)}
    unknown = sorted(set(values) - anyone)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; known: {sorted(own)}")
    return build_config(cls, {k: v for k, v in values.items() if k in own}, where)


