"""The config groups `data`, `oracle`, `model`, `eval`, `backend` and `tracking` as structured
configs (`train`'s: aprm.train_configs): one dataclass per group option, the only place its
defaults are written.

`flows.config` registers each as `<group>/base_<option>` in Hydra's ConfigStore and
`conf/<group>/<option>.yaml` composes on it; config validation (`aprm.run_config`) and the
library (solver and PRM trainers, model factory, backends) read the same classes, so a library
caller gets the defaults a composed run gets. Torch-free.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from aprm.data.errors import ON_ERROR_CHOICES
from aprm.data.paths import DEFAULT_LAYOUT
from aprm.data.processbench import PROCESSBENCH_SPLITS
from aprm.data.families import FAMILIES, family_specs
from aprm.eval.aggregate import AGGREGATIONS
from aprm.models.references import PRM_FORMATS, PRM_INITS, PRM_KINDS, ROLES
from aprm.perturb import PERTURBATIONS
from aprm.structured import choice, int_at_least, nested_config, number, positive_int, subset

DATA_SOURCES = ("synthetic", "gsm8k")
SYNTHETIC_SUITES = tuple(FAMILIES)
REAL_SUITES = ("gsm8k", "svamp", "math500")
TINY_ARCHS = ("llama", "gpt2", "qwen2")


def _methods() -> list[str]:
    from aprm.methods import method_names  # the registry imports the method configs

    return method_names()


@dataclass
class DataConfig:
    """The embedded default domain: seeded integer-operation word problems (aprm/data/synthetic.py);
    `data=gsm8k` reads GSM8K instead (aprm/data/splits.py)."""

    source: str = "synthetic"
    train_size: Optional[int] = 3000  # null = all rows (gsm8k)
    val_size: int = 200
    test_size: Optional[int] = 200  # per suite; null = all rows (real suites)
    # null, or {suite: problems} for the suites that differ from test_size (a synthetic suite's
    # smaller draw is a prefix of its larger one)
    suite_sizes: Optional[Dict[str, int]] = None
    suites: List[str] = field(default_factory=lambda: list(SYNTHETIC_SUITES))
    on_error: str = "raise"  # bad rows in data files: raise, or skip and count them
    # Seed of the test suites (null = the run seed); fixed so that seeds share the same problems.
    suite_seed: Optional[int] = 0
    # local data files; the group's YAML links them to the top-level `data_paths`
    paths: Optional[Dict[str, Optional[str]]] = None
    # null, or overrides of the family specs (aprm/data/families.py FAMILIES), e.g.
    # {id: {op_count: [1, 2], addend: [1, 9]}}; `id` also sets train and validation. Fields:
    # template_set, op_count, start, addend, factor, divisor, ops, op_weights, value_cap,
    # needs_division, min_divisions, max_divisions, wide_addend, wide_rate, min_wide, max_wide,
    # held_out_ops, distractors, distractors_after.
    families: Optional[Dict[str, Any]] = None

    def __post_init__(self) -> None:
        choice(self, "source", DATA_SOURCES)
        positive_int(self, "train_size", "val_size", "test_size")
        int_at_least(self, 0, "suite_seed")
        choice(self, "on_error", ON_ERROR_CHOICES)
        subset(self, "suites", SYNTHETIC_SUITES if self.source == "synthetic" else REAL_SUITES)
        family_specs(self.families, key="families")
        for suite, size in (self.suite_sizes or {}).items():
            if suite not in self.suites:
                raise ValueError(f"suite_sizes.{suite}: not one of suites {self.suites}")
            if size < 1:
                raise ValueError(f"suite_sizes.{suite} must be a positive integer, got {size}")
        unknown = sorted(set(self.paths or {}) - set(DEFAULT_LAYOUT))
        if unknown:
            raise ValueError(f"paths: unknown key(s) {unknown}; known: {sorted(DEFAULT_LAYOUT)}")


@dataclass
class OracleConfig:
    """Symbolic step oracle (aprm/oracle). The static-perturbation set it labels is used by the
    `static` baseline and reported as a per-rule agreement table."""

    use_reference: bool = True
    perturbations: List[str] = field(default_factory=lambda: list(PERTURBATIONS))
    perturbations_per_problem: int = 2
    # null: perturbations_per_problem for every problem. A number: that many perturbed solutions per
    # reference step in expectation, so long solutions get more negatives (docs/LOG.md, 2026-12-04:
    # it narrows the length prior but does not remove it).
    perturbations_per_step: Optional[float] = None
    static_train_problems: Optional[int] = None  # train problems the static set is built from (null = all)

    def __post_init__(self) -> None:
        subset(self, "perturbations", PERTURBATIONS)
        positive_int(self, "perturbations_per_problem", "static_train_problems")
        number(self, "perturbations_per_step", 0.0, strict=True, high=5.0)


# The architecture keys of a tiny model; model.roles.<role> may override any of them.
TINY_ARCH_KEYS = ("arch", "hidden_size", "num_layers", "num_heads", "intermediate_size", "max_position_embeddings",
                  "dropout", "tie_word_embeddings", "attention")
# transformers' attention kernels a tiny model may run with
TINY_ATTENTIONS = ("eager", "sdpa")


@dataclass
class ModelPrmConfig:
    """What every model kind says about its PRMs."""

    # Where every PRM (static, mc, orm, Adv-RM members, APRM's R_0) starts: fresh = random init at
    # roles.prm sizes (a tiny model) or the model.prm checkpoint under a new 2-label head (hf);
    # solver = the trained solver's weights under a new 2-label head.
    prm_init: str = "fresh"
    # What every PRM is: surprise_head = a logistic head on the frozen solver's surprise at each
    # step (aprm.models.surprise_head); transformer = a token-classification model trained from
    # `prm_init`. On ID validation of the default the head on static data reaches step AUROC 0.953
    # on the solver's errors, the transformer 0.57 (bench/prm_learnability.py, docs/LOG.md).
    prm_kind: str = "surprise_head"
    # experiment=eval_prm: the PRM to evaluate (a folder or a hub id) and its format
    prm: Optional[str] = None
    prm_format: str = "native"

    def __post_init__(self) -> None:
        choice(self, "prm_init", PRM_INITS)
        choice(self, "prm_kind", PRM_KINDS)
        choice(self, "prm_format", PRM_FORMATS)
        if self.prm_kind == "surprise_head" and self.prm_init != "fresh":
            raise ValueError(f"prm_init: {self.prm_init!r} applies to model.prm_kind=transformer only "
                             "(a surprise_head PRM always reads the trained solver); leave it at 'fresh'")


@dataclass
class TinyModelConfig(ModelPrmConfig):
    """Tiny transformers built from config on the local tokenizer (no hub). Sizes tuned so the
    solver errs often at temperature 1 (docs/LOG.md, "Solver calibration")."""

    kind: str = "tiny"
    arch: str = "llama"
    vocab_size: int = 384  # of the tokenizer trained on the run's problems
    # the tokenizer tags a number's last digit_places digits with their place (aprm.models.tokenizer)
    digit_places: int = 5
    tokenizer: Optional[str] = None  # a saved tokenizer folder instead of training one
    hidden_size: int = 128
    num_layers: int = 3
    num_heads: int = 4
    intermediate_size: int = 256
    max_position_embeddings: int = 384
    dropout: float = 0.0
    tie_word_embeddings: bool = True
    # transformers' attention kernel, saved with the model so that a reload runs the same one.
    # eager is 1.13x faster for SFT steps and 1.2x for sampling on 2 CPU cores
    # (bench/attention_speed.py), but its rounding trained the benchmark's solver into a much
    # worse one (ID validation majority@16 54-58% against 82-86%: docs/LOG.md, session 15).
    attention: str = "sdpa"
    # per-role overrides of the architecture keys above
    roles: Dict[str, Dict[str, Any]] = field(default_factory=lambda: {
        "solver": {},
        "prm": {"hidden_size": 96, "num_layers": 2, "intermediate_size": 192},
        "generator": {"hidden_size": 96, "num_layers": 2, "intermediate_size": 192},
    })

    def __post_init__(self) -> None:
        super().__post_init__()
        choice(self, "kind", ("tiny",))
        positive_int(self, "vocab_size")
        int_at_least(self, 0, "digit_places", high=20)
        bad = sorted(set(self.roles) - set(ROLES))
        if bad:
            raise ValueError(f"roles: unknown role(s) {bad}; roles: {list(ROLES)}")
        for role in ROLES:
            self.role_settings(role)

    def role_settings(self, role: str) -> dict[str, Any]:
        """The architecture of `role`: the model's keys < roles.<role>; errors name the key."""
        override = self.roles.get(role) or {}
        unknown = sorted(set(override) - set(TINY_ARCH_KEYS))
        if unknown:
            raise ValueError(f"roles.{role}: unknown key(s) {unknown}; known: {list(TINY_ARCH_KEYS)}")
        settings = {key: override.get(key, getattr(self, key)) for key in TINY_ARCH_KEYS}
        where = {key: f"roles.{role}.{key}" if key in override else key for key in TINY_ARCH_KEYS}
        if settings["arch"] not in TINY_ARCHS:
            raise ValueError(f"{where['arch']} must be one of {list(TINY_ARCHS)}, got {settings['arch']!r}")
        for key in ("hidden_size", "num_layers", "num_heads", "intermediate_size", "max_position_embeddings"):
            value = settings[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{where[key]} must be a positive int, got {value!r}")
        if settings["hidden_size"] % settings["num_heads"]:
            raise ValueError(f"{where['hidden_size']}={settings['hidden_size']} is not divisible by "
                             f"model.{where['num_heads']}={settings['num_heads']}")
        dropout = settings["dropout"]
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
            raise ValueError(f"{where['dropout']} must be in [0, 1), got {dropout!r}")
        if not isinstance(settings["tie_word_embeddings"], bool):
            raise ValueError(f"{where['tie_word_embeddings']} must be true or false")
        if settings["attention"] not in TINY_ATTENTIONS:
            raise ValueError(f"{where['attention']} must be one of {list(TINY_ATTENTIONS)}, "
                             f"got {settings['attention']!r}")
        return settings


@dataclass
class HfModelConfig(ModelPrmConfig):
    """Any Hugging Face model id or local path per role (the same code path as tiny)."""

    kind: str = "hf"
    solver: Optional[str] = None  # each role's id or path: required by the roles a run loads (flows.dry_run)
    generator: Optional[str] = None
    prm_kind: str = "transformer"

    def __post_init__(self) -> None:
        super().__post_init__()
        choice(self, "kind", ("hf",))


MODEL_CONFIGS = {"tiny": TinyModelConfig, "hf": HfModelConfig}


@nested_config
@dataclass
class CrossplayConfig:
    """Cross-play: every attacker (rule perturbations, G_0, each game's G after each round, the
    solver) against every method's final PRM, on `slots` reference-solution slots of the ID test
    suite (0 = off). A PRM is fooled by a valid (oracle-wrong) corruption it scores >= threshold; a
    cell with fewer than min_valid valid corruptions is marked as too few in the report. 500 slots:
    the solver's own next step is wrong at about 12% of them (docs/LOG.md), ~60 valid corruptions."""

    slots: int = 500
    temperature: float = 1.0
    max_new_tokens: int = 40
    threshold: float = 0.5
    min_valid: int = 50

    def __post_init__(self) -> None:
        int_at_least(self, 0, "slots")
        positive_int(self, "max_new_tokens", "min_valid")
        number(self, "temperature", 0.0, strict=True)
        number(self, "threshold", 0.0, high=1.0)


@nested_config
@dataclass
class ReportConfig:
    """Headline = best-of-N with eval.headline_aggregation; differences against the best baseline
    chosen on the ID suite, with a paired bootstrap CI over problems."""

    id_suite: str = "id"
    # methods that are never a baseline; the group's YAML sets the method under test
    target_methods: List[str] = field(default_factory=list)
    n_resamples: int = 2999
    # Per-method exceptions to headline_aggregation. An ORM is trained on the outcome at every step,
    # so its verdict on a solution is the last step's score; min would rank by its noisiest step.
    method_aggregation: Optional[Dict[str, str]] = field(default_factory=lambda: {"orm": "last"})

    def __post_init__(self) -> None:
        positive_int(self, "n_resamples")
        bad = [f"{k}: {v!r}" for k, v in (self.method_aggregation or {}).items()
               if k not in _methods() or v not in AGGREGATIONS]
        if bad:
            raise ValueError(f"method_aggregation: bad entries {bad}; methods: {list(_methods())}, "
                             f"aggregations: {list(AGGREGATIONS)}")


@dataclass
class EvalConfig:
    """Best-of-N evaluation: n samples per test problem, scored by every method's PRM."""

    n_samples: int = 16
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 160
    aggregations: List[str] = field(default_factory=lambda: ["last", "min", "prod"])
    headline_aggregation: str = "min"
    first_error_threshold: float = 0.5
    processbench_splits: List[str] = field(default_factory=list)
    score_batch_size: int = 64
    crossplay: CrossplayConfig = field(default_factory=CrossplayConfig)
    report: ReportConfig = field(default_factory=ReportConfig)

    def __post_init__(self) -> None:
        int_at_least(self, 1, "n_samples", high=4096)
        positive_int(self, "max_new_tokens", "score_batch_size")
        number(self, "temperature", 0.0, strict=True)
        number(self, "top_p", 0.0, strict=True, high=1.0)
        number(self, "first_error_threshold", 0.0, high=1.0)
        subset(self, "aggregations", AGGREGATIONS)
        choice(self, "headline_aggregation", AGGREGATIONS)
        subset(self, "processbench_splits", PROCESSBENCH_SPLITS, nonempty=False)


@dataclass
class HfBackendConfig:
    """In-process generation with transformers `generate`."""

    name: str = "hf"
    batch_size: int = 64
    device: str = "auto"  # auto = CUDA when there is one, else CPU; or any torch device

    def __post_init__(self) -> None:
        choice(self, "name", ("hf",))
        positive_int(self, "batch_size")


@dataclass
class TrackingConfig:
    """MLflow store: SQLite under <home>/mlruns (absolute, so Hydra job dirs share it)."""

    enabled: bool = True
    uri: Optional[str] = None  # null = sqlite:///<home>/mlruns/mlflow.db
    experiment_name: str = "aprm"


def backend_configs() -> dict[str, type]:
    from aprm.backends.openai_settings import OpenAIBackendConfig

    return {"hf": HfBackendConfig, "openai": OpenAIBackendConfig}
