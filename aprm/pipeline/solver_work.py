"""A seed's stages up to its solver, and the solver's work that needs nothing else: the verifier
LM, the samples (pool, ID validation, every suite) and the MC rollouts. The plan submits all of
it for every seed to the fan-out, and waits for it before any PRM trains."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from aprm.methods import get_method
from aprm.pipeline import stages
from aprm.pipeline.chains import StageStarter
from aprm.pipeline.runner_hook import StageOutcome, StageRunner, fanout_threads

# The eval settings that change what the solver writes. Sampling and MC rollouts get only these,
# so their cache keys survive a change to scoring, aggregation, first-error or report settings.
SAMPLING_KEYS = ("n_samples", "temperature", "top_p", "max_new_tokens")


def sampling_settings(eval_cfg: dict) -> dict[str, Any]:
    return {key: eval_cfg[key] for key in SAMPLING_KEYS}


@dataclass
class SeedStart:
    """A seed's stages up to its solver, and the solver's fanned-out work (samples, MC rollouts),
    each resolved once, when first needed."""

    seed: int
    artifacts: Path
    code: str
    stages: list[StageOutcome]  # prepare-data, oracle-label, train-solver
    splits: str
    static: str
    solver_dir: str
    pending: dict[str, Callable[[], StageOutcome]] = field(default_factory=dict)
    resolved: dict[str, StageOutcome] = field(default_factory=dict)

    @property
    def tag(self) -> str:
        return f"seed={self.seed}"

    def outcome(self, key: str) -> StageOutcome:
        if key not in self.resolved:
            self.resolved[key] = self.pending.pop(key)()
        return self.resolved[key]

    def has(self, key: str) -> bool:
        return key in self.pending or key in self.resolved

    def resolver(self, key: str) -> Callable[[], StageOutcome]:
        """What resolves `key` when called (a chain yields it: aprm.pipeline.chains)."""
        return lambda: self.outcome(key)

    def verifier(self) -> StageOutcome | None:
        """The verifier LM's stage (submit_verifier), or None when `train.verifier` is off."""
        return self.outcome("verifier") if self.has("verifier") else None

    def resolve_all(self) -> None:
        for key in list(self.pending):
            self.outcome(key)

    def fanout_args(self, cfg: dict) -> dict[str, Any]:
        return {"artifacts": str(self.artifacts), "code": self.code, "seed": self.seed,
                "threads": fanout_threads(cfg)}


def solver_stages(cfg: dict, seed: int, artifacts: Path, code: str, runner: StageRunner) -> SeedStart:
    """prepare-data -> oracle-label -> train-solver for a seed (for `solver_seed`, when set: one
    solver shared by every seed)."""
    base_seed = seed if cfg.get("solver_seed") is None else int(cfg["solver_seed"])
    base, base_tag = {"artifacts": str(artifacts), "code": code, "seed": base_seed}, f"seed={base_seed}"
    data = runner.run(stages.prepare_data, f"prepare-data[{base_tag}]", data_cfg=cfg["data"], **base)
    labels = runner.run(stages.oracle_label, f"oracle-label[{base_tag}]", splits_path=data.value["path"],
                        oracle_cfg=cfg["oracle"], **base)
    solver = runner.run(stages.train_solver, f"train-solver[{base_tag}]", splits_path=data.value["path"],
                        model_cfg=cfg["model"], train_cfg=cfg["train"]["solver"], threads=int(cfg["threads"]), **base)
    return SeedStart(seed, artifacts, code, [data, labels, solver], data.value["path"], labels.value["path"],
                     solver.value["path"])


def submit_verifier(cfg: dict, starts: list[SeedStart], runner: StageRunner) -> None:
    """The verifier LM (`train.verifier`), fanned out: once per solver, shared by the seeds that
    share it (`solver_seed`). Submitted before the sampling, so that a worker starts on it first
    while the others sample. Nothing when `train.verifier.problems` is 0."""
    train_cfg = cfg["train"]["verifier"]
    if not int(train_cfg["problems"]):
        return
    data_cfg = {"source": cfg["data"].get("source", "synthetic"), "families": cfg["data"].get("families")}
    start_once = StageStarter(runner, fanned=True)  # seeds sharing the solver: one stage
    for start in starts:
        base_seed = start.seed if cfg.get("solver_seed") is None else int(cfg["solver_seed"])
        start.pending["verifier"] = start_once(
            stages.train_verifier, f"train-verifier[seed={base_seed}]", solver_dir=start.solver_dir,
            data_cfg=data_cfg, train_cfg=train_cfg, **{**start.fanout_args(cfg), "seed": base_seed})


# The samples PRMs fit (pool, and MC rollouts from it) and select on (val): `fit_samples_seed`
FIT_SUITES = ("pool", "val")


def samples_seed(cfg: dict, start: SeedStart, suite: str) -> int:
    """The seed a suite's samples are drawn at: `fit_samples_seed` for the pool and ID validation
    when set (one draw shared by the seeds), else the seed's own."""
    shared = cfg.get("fit_samples_seed")
    return int(shared) if shared is not None and suite in FIT_SUITES else start.seed


def submit_sampling(cfg: dict, starts: list[SeedStart], runner: StageRunner) -> None:
    """Every seed's samples, fanned out: the pool (train problems, for ORM labels, MC rollouts and
    the game), ID validation and every test suite. A suite drawn at a shared seed
    (`fit_samples_seed`) is one stage for all the seeds."""
    pool_cfg = cfg["train"]["pool"]
    sampling = sampling_settings(cfg["eval"])
    pool = {"eval_cfg": {**sampling, "n_samples": int(pool_cfg["samples"])}, "limit": int(pool_cfg["problems"])}
    start_once = StageStarter(runner, fanned=True)
    for start in starts:
        for suite in ["pool", "val", *cfg["data"]["suites"]]:
            seed = samples_seed(cfg, start, suite)
            start.pending[suite] = start_once(
                stages.sample_solutions, f"sample-solutions[{suite},seed={seed}]", suite=suite,
                solver_dir=start.solver_dir, splits_path=start.splits, backend_cfg=cfg["backend"],
                retry="sample_solutions", **{**start.fanout_args(cfg), "seed": seed, "eval_cfg": sampling,
                                             **(pool if suite == "pool" else {})})


def submit_mc_rollouts(cfg: dict, games: dict[str, dict], starts: list[SeedStart], runner: StageRunner) -> None:
    """Monte-Carlo rollouts from the pool's steps, fanned out, for each method that trains on them
    (`mc`): they need only the solver, so they run alongside the sampling. From a shared pool
    (`fit_samples_seed`) they are one stage for all the seeds."""
    start_once = StageStarter(runner, fanned=True)
    for start in starts:
        seed = samples_seed(cfg, start, "pool")
        for method, method_cfg in games.items():
            if "mc" in get_method(method).inputs:
                start.pending[f"mc:{method}"] = start_once(
                    stages.mc_rollouts, f"mc-rollouts[seed={seed}]", solver_dir=start.solver_dir,
                    pool_path=start.outcome("pool").value["path"], method_cfg=method_cfg,
                    eval_cfg=sampling_settings(cfg["eval"]), **{**start.fanout_args(cfg), "seed": seed})
