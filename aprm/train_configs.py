"""The `train` config group as structured configs: the solver's SFT, the verifier LM, every PRM's
fit and the pool of solver samples (see aprm.group_configs for how groups are registered and
read). Torch-free.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from aprm.structured import choice, int_at_least, nested_config, number, positive_int

# train.prm.best_metric: any validation metric of aprm.models.prm_trainer
PRM_BEST_METRICS = ("auroc", "verify_auroc", "step_accuracy", "first_error_f1", "acc_erroneous", "acc_correct",
                    "loss")


@dataclass
class FitConfig:
    """What the solver's SFT and a PRM's fit share."""

    lr: float = 1.0e-3
    epochs: int = 3
    batch_size: int = 32
    weight_decay: float = 0.0
    warmup_ratio: float = 0.0
    max_length: int = 512

    def __post_init__(self) -> None:
        positive_int(self, "epochs", "batch_size", "max_length")
        number(self, "lr", 0.0, strict=True)
        number(self, "weight_decay", 0.0)
        number(self, "warmup_ratio", 0.0)
        if self.warmup_ratio >= 1.0:
            raise ValueError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio!r}")


@nested_config
@dataclass
class SolverTrainConfig(FitConfig):
    """train.solver: supervised fine-tuning of the solver on reference solutions."""

    lr: float = 3.0e-3
    epochs: int = 4
    warmup_ratio: float = 0.05
    grad_clip: float = 1.0
    drill_batch_size: int = 16  # equation drills (`A op B = C`) per step; 0 = none

    def __post_init__(self) -> None:
        super().__post_init__()
        int_at_least(self, 0, "drill_batch_size")
        number(self, "grad_clip", 0.0, strict=True)


@nested_config
@dataclass
class VerifierTrainConfig(SolverTrainConfig):
    """train.verifier: the LM whose surprise every PRM reads (the surprise heads and `likelihood`):
    the trained solver, SFT-continued on `problems` fresh synthetic ID problems (a new draw of the
    training family, none of them in train, val or a test suite), read once, with many equation
    drills per step. 0 = off: the PRMs read the solver itself. Why: the solver's confident errors
    are arithmetic slips it repeats across samples, which its own surprise cannot flag; a body that
    has seen more arithmetic can (docs/LOG.md, 2026-12-05 session 12)."""

    problems: int = 0
    lr: float = 1.0e-3
    epochs: int = 1
    batch_size: int = 8
    drill_batch_size: int = 64

    def __post_init__(self) -> None:
        super().__post_init__()
        int_at_least(self, 0, "problems")


@nested_config
@dataclass
class PrmTrainConfig(FitConfig):
    """train.prm: every PRM's fit (a transformer's or a surprise head's)."""

    class_balance: bool = True  # weight the two classes equally
    soft_labels: bool = False
    early_stopping_patience: Optional[int] = 2  # 0 or null: none (the best epoch is still kept)
    max_length: int = 384
    # Model selection (and early stopping) on ID validation: verify_auroc = mean of the step AUROC
    # on the solver's own oracle-labeled samples and the AUROC of perturbed vs reference steps at
    # the same position. The pooled step AUROC ("auroc") rewards step-index and length priors.
    best_metric: str = "verify_auroc"
    threshold: float = 0.5  # P(correct) below this = predicted incorrect

    def __post_init__(self) -> None:
        super().__post_init__()
        int_at_least(self, 0, "early_stopping_patience")
        number(self, "threshold", 0.0, strict=True, high=1.0)
        if self.threshold == 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {self.threshold!r}")
        choice(self, "best_metric", PRM_BEST_METRICS)


@nested_config
@dataclass
class PoolConfig:
    """Solver samples on training problems: the pool that orm, mc and the games draw from."""

    problems: int = 400
    samples: int = 4

    def __post_init__(self) -> None:
        positive_int(self, "problems", "samples")


@dataclass
class TrainConfig:
    solver: SolverTrainConfig = field(default_factory=SolverTrainConfig)
    verifier: VerifierTrainConfig = field(default_factory=VerifierTrainConfig)
    prm: PrmTrainConfig = field(default_factory=PrmTrainConfig)
    pool: PoolConfig = field(default_factory=PoolConfig)
