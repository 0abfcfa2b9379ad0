"""A run's whole config as structured configs: the top-level keys (`RunConfig`, the base that
conf/config.yaml composes on) and one dataclass per group option (aprm.group_configs, aprm.train_configs,
aprm.method_configs). `validate_config` checks a composed config (a plain dict) against them
before any compute, reporting every problem at once, each naming its key, so a bad sweep fails
in milliseconds instead of after training. Torch-free.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, List, Optional

from aprm.group_configs import (
    MODEL_CONFIGS,
    DataConfig,
    EvalConfig,
    OracleConfig,
    TrackingConfig,
    backend_configs,
)
from aprm.method_configs import GeneratorRLConfig, build_method_config
from aprm.train_configs import TrainConfig
from aprm.structured import (
    ConfigProblems,
    build_config,
    choice,
    int_at_least,
    nested_config,
    number,
    positive_int,
    subset,
)

RUNNER_KINDS = ("threads", "processes", "dask", "ray")  # Prefect task runners of the fan-out (flows.task_runners)


class ConfigValidationError(ValueError):
    pass


@nested_config
@dataclass
class PathsConfig:
    # Everything a run writes lives under home: artifacts/ (content-addressed) and mlruns/.
    home: Optional[str] = None  # null = the current working directory
    artifacts: Optional[str] = None  # null = <home>/artifacts


@nested_config
@dataclass
class RunnerConfig:
    """Where the fanned-out stages (sampling, MC rollouts, evaluation, cross-play) run. kind: threads
    (this process), processes (a local pool, no extra), dask (pip install 'aprm[dask]') or ray
    (pip install 'aprm[ray]'). address null = `workers` local workers, each stage at
    max(1, threads // workers) torch threads (the only way the runner reaches a cache key: that
    thread count); else an existing scheduler: tcp://host:8786 (Dask), auto or ray://host:10001
    (Ray), each stage at `threads`. Enters no config hash. Local workers report to this run's
    Prefect server; a remote cluster needs PREFECT_API_URL set to a server its workers can reach
    (docs/scaling.md, "Scaling out")."""

    kind: str = "threads"
    workers: int = 2
    address: Optional[str] = None

    def __post_init__(self) -> None:
        choice(self, "kind", RUNNER_KINDS)
        positive_int(self, "workers")
        if self.address is not None and not self.address.strip():
            raise ValueError("address must be a non-empty string or null")
        if self.address is not None and self.kind in ("threads", "processes"):
            raise ValueError(f"address is for an existing Dask or Ray cluster; kind={self.kind} runs "
                             f"local workers: leave address null")


@nested_config
@dataclass
class RetryConfig:
    """Prefect retries of a stage that calls a server (backend=openai). Only transient failures are
    retried (server unreachable, 5xx or timeouts left after backend.max_retries, an attempt past
    timeout_s); a bad setting, a 4xx or a bug fails on the first attempt. timeout_s bounds one
    attempt (null = no limit; it interrupts only a flow running in the main thread)."""

    retries: int = 2
    delay_s: float = 5.0
    timeout_s: Optional[float] = None

    def __post_init__(self) -> None:
        int_at_least(self, 0, "retries", high=20)
        number(self, "delay_s", 0.0, high=3600.0)
        number(self, "timeout_s", 0.0, strict=True)


@nested_config
@dataclass
class StageRetriesConfig:
    """Per stage; these settings enter no cache key and no config hash."""

    sample_solutions: RetryConfig = field(default_factory=RetryConfig)


@nested_config
@dataclass
class DataPathsConfig:
    """Local data files (null = ../shared/data beside the repo or $APRM_DATA_ROOT when the file is
    there, else the Hugging Face hub dataset, cached by `datasets`)."""

    gsm8k_train: Optional[str] = None
    gsm8k_test: Optional[str] = None
    math500: Optional[str] = None
    svamp: Optional[str] = None
    processbench_dir: Optional[str] = None


@nested_config
@dataclass
class EvalPrmConfig:
    """experiment=eval_prm: evaluate a given PRM (model.prm, model.prm_format) instead of training."""

    # a previous run's sample-solutions artifact (samples.jsonl) or your own JSONL in that format
    # (aprm/pipeline/stored_samples.py); null = ProcessBench only. That it is a file is checked
    # before the run (flows.dry_run).
    samples: Optional[str] = None
    suite: str = "samples"  # the report's column for it
    name: Optional[str] = None  # the report's row; null = the last part of model.prm

    def __post_init__(self) -> None:
        if self.samples is not None and not self.samples.strip():
            raise ValueError(f"samples: expected a path or null, got {self.samples!r}")


# RL rewards that are no method: the oracle's outcome check and its step labels (the ceiling a
# perfect PRM would give)
REFERENCE_REWARDS = ("oracle_outcome", "oracle_step")


@nested_config
@dataclass
class RlConfig:
    """experiment=rl: GRPO fine-tunes a copy of the SFT solver on ID training problems, once per
    reward in `rewards` (a compared method's final PRM, or a reference in REFERENCE_REWARDS; [] =
    no RL), with KL to the SFT solver. Curves every `eval_every` steps on fixed ID validation
    problems; after RL, pass@1 and majority@N of each RL'd solver on every test suite."""

    rewards: List[str] = field(default_factory=list)
    steps: int = 40
    train_problems: int = 400  # the first that many ID train problems are the prompts
    eval_every: int = 10
    val_problems: int = 50  # the first that many ID validation problems carry the curves
    val_samples: int = 2  # samples per validation problem at each curve point
    # a solution's reward: its PRM step scores aggregated (min, last or mean), mixed with the
    # final-answer check: (1 - answer_weight) * PRM + answer_weight * correct
    aggregation: str = "min"
    answer_weight: float = 0.0
    # no steps, text past max_completion_length, or a PRM score that is not a number
    failure_reward: float = 0.0
    # a reward is hacked from the first curve point where the gap (PRM judgment - oracle accuracy)
    # exceeds its value at step 0 by this much
    hacking_margin: float = 0.1
    eval_samples: int = 16  # post-RL samples per test problem (pass@1, majority@N)
    eval_problems: Optional[int] = None  # the first that many problems of each test suite; null = all
    grpo: GeneratorRLConfig = field(default_factory=lambda: GeneratorRLConfig(
        prompts_per_step=4, num_generations=4, max_completion_length=160, lr=1.0e-4, beta=0.05))

    def __post_init__(self) -> None:
        from aprm.methods import method_names  # the registry imports the method configs

        subset(self, "rewards", [*method_names(), *REFERENCE_REWARDS], nonempty=False)
        positive_int(self, "steps", "train_problems", "eval_every", "val_problems", "val_samples", "eval_samples",
                     "eval_problems")
        choice(self, "aggregation", ("min", "last", "mean"))
        number(self, "answer_weight", 0.0, high=1.0)
        number(self, "failure_reward", -1.0, high=1.0)
        number(self, "hacking_margin", 0.0, strict=True, high=1.0)


@dataclass
class RunConfig:
    """The top-level keys. The groups (data, oracle, model, train, method, eval, backend, tracking)
    are checked by their own dataclasses."""

    # One seed per pipeline run; `seeds` (a list) fans several seeds out inside one flow run.
    seed: int = 0
    seeds: Optional[List[int]] = None
    # Seed of the data split, static set and solver; null = the run's seed. A fixed value shares one
    # solver across `seeds`, which then vary sampling, PRM training and the game (not the policy).
    solver_seed: Optional[int] = None
    # Seed of the solver samples the PRMs fit and select on: the pool (train problems, with its MC
    # rollouts) and ID validation; null = the run's seed. A fixed value draws them once and shares
    # them across `seeds` (which must share the solver: `solver_seed`), like a fixed training set;
    # the seeds then vary the test suites' samples, PRM training and the game.
    fit_samples_seed: Optional[int] = None
    # Baselines trained and evaluated beside `method` on the same paired samples.
    compare_with: List[str] = field(default_factory=list)
    # true: compose, validate, check every data file and model the run needs, print the plan and
    # exit (no Prefect, MLflow or compute; nothing written under paths.home).
    dry_run: bool = False
    # false: the console shows one line per stage, progress bars and a closing summary; true (or
    # `aprm -v`): every library's log lines and prints too. Enters no cache key and no config hash.
    verbose: bool = False
    paths: PathsConfig = field(default_factory=PathsConfig)
    threads: int = 2
    runner: RunnerConfig = field(default_factory=RunnerConfig)
    stage_retries: StageRetriesConfig = field(default_factory=StageRetriesConfig)
    eval_prm: Optional[EvalPrmConfig] = None
    data_paths: DataPathsConfig = field(default_factory=DataPathsConfig)
    rl: RlConfig = field(default_factory=RlConfig)
    overrides: List[str] = field(default_factory=list)  # the command line's (set by flows.config)

    def __post_init__(self) -> None:
        int_at_least(self, 0, "seed", "solver_seed", "fit_samples_seed")
        if self.fit_samples_seed is not None and self.solver_seed is None:
            raise ValueError("fit_samples_seed needs solver_seed: only seeds that share the solver can share "
                             "its samples")
        positive_int(self, "threads")
        if self.seeds is not None and not self.seeds:
            raise ValueError("seeds must be null or a non-empty list of integers, got []")
        from aprm.methods import method_names  # the registry imports the method configs

        subset(self, "compare_with", method_names(), nonempty=False)


GROUPS = ("data", "oracle", "model", "train", "method", "eval", "backend", "tracking")


def _group_class(group: str, section: Any) -> type:
    """The dataclass of a group's chosen option (model by `kind`, backend by `name`)."""
    if group == "model":
        kind = section.get("kind")
        if kind not in MODEL_CONFIGS:
            raise ValueError(f"model.kind must be one of {list(MODEL_CONFIGS)}, got {kind!r}")
        return MODEL_CONFIGS[kind]
    if group == "backend":
        classes = backend_configs()
        if section.get("name") not in classes:
            raise ValueError(f"backend.name must be one of {list(classes)}, got {section.get('name')!r}")
        return classes[section["name"]]
    return {"data": DataConfig, "oracle": OracleConfig, "train": TrainConfig, "eval": EvalConfig,
            "tracking": TrackingConfig}[group]


def validate_config(cfg: dict) -> None:
    """Raise ConfigValidationError listing every bad key; None when the config is sound."""
    problems: list[str] = []
    top = {k: v for k, v in cfg.items() if k not in GROUPS}
    try:
        build_config(RunConfig, top, "")
    except ValueError as err:
        problems += _problems(err)
    for group in GROUPS:
        section = cfg.get(group)
        if not isinstance(section, dict):
            problems.append(f"{group}: must be a mapping, got {section!r}")
            continue
        try:
            if group == "method":
                build_method_config(section)
            else:
                build_config(_group_class(group, section), section, group)
        except ValueError as err:
            problems += _problems(err)
    if cfg.get("eval_prm"):
        problems += _eval_prm_problems(cfg)
    problems += _verifier_problems(cfg)
    if problems:
        raise ConfigValidationError("invalid config:\n  " + "\n  ".join(problems))


def _problems(err: ValueError) -> list[str]:
    return err.problems if isinstance(err, ConfigProblems) else [str(err)]


def _verifier_problems(cfg: dict) -> list[str]:
    """train.verifier draws fresh problems, which only the synthetic generator has."""
    verifier = (cfg.get("train") or {}).get("verifier") or {}
    source = (cfg.get("data") or {}).get("source", "synthetic")
    if verifier.get("problems") and source != "synthetic":
        return [f"train.verifier.problems={verifier['problems']}: the verifier LM reads fresh problems, "
                f"which only data.source=synthetic draws (got {source!r}); set it to 0"]
    return []


def _eval_prm_problems(cfg: dict) -> list[str]:
    """experiment=eval_prm: the PRM to score and something to score it on."""
    model, spec = cfg.get("model", {}), cfg["eval_prm"]
    problems = []
    if not isinstance(model.get("prm"), str) or not model["prm"].strip():
        problems.append("model.prm: experiment=eval_prm needs the PRM to evaluate (a folder or a hub id)")
    if spec.get("samples") is None and not cfg.get("eval", {}).get("processbench_splits"):
        problems.append("eval_prm.samples: null and eval.processbench_splits empty: nothing to evaluate on")
    return problems
