"""The plan of a run: which stages run, in what order, on which inputs, and what goes into the
report. Plain library code: every stage goes through a `StageRunner` hook
(aprm.pipeline.runner_hook), which is all that caching, retries and fan-out need. `flows`
supplies a Prefect runner (cached tasks, retries, a task runner for the fan-out);
`InMemoryRunner` runs the same plan in this process with no server, which is how a test checks
that the flow adds nothing to the numbers.

Per seed: prepare-data -> oracle-label -> train-solver -> train-verifier (when on) and
sample-solutions (pool, val, suites) -> each method's scorer (aprm.methods: a trained PRM, a
fit, or a game's rounds) -> evaluate every (method, suite) -> after all seeds, cross-play, RL
and one report.

What needs only the solver (the verifier LM, sampling, MC rollouts: aprm.pipeline.solver_work)
is fanned out for every seed at once; evaluation and cross-play are fanned out too. A fanned-out
stage gets `fanout_threads` (the local workers share the cores), so with process workers
(runner.kind=processes, dask or ray) the sampling of two suites runs at once on 2 cores. There the
PRMs and the games' stages are fanned out as well, every (seed, method) a chain of stages
advanced together with the others (`run_seeds`); with the threads runner they train one after
another in this process at `threads`, once all sampling is done. The solver always trains here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from aprm.hashing import derived_seed
from aprm.methods import get_method
from aprm.pipeline import stages
from aprm.pipeline.chains import Chain, StageStarter, advance_together
from aprm.pipeline.crossplay_plan import SeedPlayers, crossplay_parts, seed_players
from aprm.pipeline.runner_hook import StageOutcome, StageRunner, fanout_threads
from aprm.pipeline.solver_work import (SeedStart, sampling_settings, solver_stages, submit_mc_rollouts, submit_sampling,
                                       submit_verifier)
from aprm.run_config import REFERENCE_REWARDS

# A game round's best-of-N on ID val reads only these (no first-error, no report settings).
ROUND_EVAL_KEYS = ("aggregations", "headline_aggregation", "score_batch_size")
# The round metrics that go into results.json (all of them go to MLflow).
ROUND_KEYS = ("fool_rate", "valid_rate", "prm_acc_fresh_before", "prm_acc_fresh_after", "static_acc",
              "static_auroc", "kept_rate", "kept_oracle_wrong_rate", "base_oracle_wrong_rate", "kl_g_ref",
              "g_loss", "g_reward_mean", "r_loss", "step_auroc_solver_errors", "wall_s")


def round_eval_settings(eval_cfg: dict) -> dict[str, Any]:
    return {key: eval_cfg[key] for key in ROUND_EVAL_KEYS}


@dataclass
class MethodResult:
    prm_dir: str
    stages: list[StageOutcome] = field(default_factory=list)
    rounds: list[dict] = field(default_factory=list)
    generators: dict[str, str] = field(default_factory=dict)  # a game's G after each round: cross-play attackers


@dataclass
class SeedResult:
    stages: list[StageOutcome]
    runs: list[dict]
    rounds: list[dict]
    objective: float | None
    references: list[dict] = field(default_factory=list)  # the oracle's first-error F1 per step-label suite
    prm_dirs: dict[str, str] = field(default_factory=dict)  # each method's final PRM
    generators: dict[str, str] = field(default_factory=dict)  # G0 and each game's G after each round
    splits: str = ""
    solver_dir: str = ""


@dataclass
class PlanResult:
    per_seed: list[SeedResult]
    outcomes: list[StageOutcome]  # every stage once (where it first ran), the report last
    report_paths: dict


def run_plan(cfg: dict, games: dict[str, dict], runner: StageRunner, artifacts: Path, code: str,
             config_hash: str, git_sha: str) -> PlanResult:
    """Every stage of the run for every seed, then the report. `games` holds each method's `game`
    config (the method under test first)."""
    seeds = [int(s) for s in (cfg.get("seeds") or [cfg["seed"]])]
    untrained = [r for r in cfg["rl"]["rewards"] if r not in games and r not in REFERENCE_REWARDS]
    if untrained:
        raise ValueError(f"rl.rewards: {untrained} are not trained in this run; add them to compare_with")
    starts = [solver_stages(cfg, seed, artifacts, code, runner) for seed in seeds]
    submit_verifier(cfg, starts, runner)
    submit_sampling(cfg, starts, runner)
    submit_mc_rollouts(cfg, games, starts, runner)
    per_seed, pending = run_seeds(cfg, games, starts, runner)
    crossplay = [[resolve() for resolve in parts] for parts in pending]
    rl = [rl_on_rewards(cfg, seed, result, artifacts, code, runner) for seed, result in zip(seeds, per_seed)]
    outcomes, earlier = [], set()
    for outcome in ([o for seed_result in per_seed for o in seed_result.stages]
                    + [o for parts in crossplay for o in parts] + [o for stages_, _ in rl for o in stages_]):
        # a stage shared across seeds (solver_seed) or methods (the static PRM is R_0 of every
        # game) is listed, reported and logged once: where it first ran
        if outcome.name not in earlier:
            outcomes.append(outcome)
            earlier.add(outcome.name)
    inputs = {
        "name": cfg.get("name") or f"{cfg['method']['name']}-{cfg['data']['source']}",
        "config_hash": config_hash, "git_sha": git_sha, "seeds": seeds,
        "methods": list(games), "suites": [*cfg["data"]["suites"], *step_label_suites(cfg).values()],
        "runs": [run for r in per_seed for run in r.runs],
        "references": per_seed[0].references if per_seed else [],
        "crossplay": [{"seed": seed, **cell} for seed, parts in zip(seeds, crossplay) for o in parts
                      for cell in o.value["cells"]],
        "rounds": [row for r in per_seed for row in r.rounds],
        "rl": [row for _, rows in rl for row in rows],
        "stages": stage_rows(outcomes),
    }
    outcomes.append(runner.run(stages.report, "report", results_inputs=inputs, report_cfg=report_settings(cfg["eval"]),
                               artifacts=str(artifacts), code=code))
    return PlanResult(per_seed, outcomes, outcomes[-1].value["paths"])


def stage_rows(outcomes: list[StageOutcome]) -> list[dict]:
    """results.json's stages: compute time as first measured (stable under caching, so a re-run's
    report is cached too) and each stage's artifact."""
    return [{"name": o.name, "wall_s": round(float(o.value.get("wall_s", 0.0)), 3), "path": o.value.get("path")}
            for o in outcomes]


def report_settings(eval_cfg: dict) -> dict:
    """What the report stage reads of the `eval` config."""
    return {"headline_aggregation": eval_cfg["headline_aggregation"], **eval_cfg["report"],
            "crossplay_min_valid": int(eval_cfg["crossplay"]["min_valid"])}


def trains_on_workers(cfg: dict) -> bool:
    """Whether the PRMs and the games train on the runner's workers, several at once. Not with
    the threads runner: its threads share one interpreter and would take turns, so there they
    train one after another in this process at `threads`, as the solver does."""
    return cfg["runner"]["kind"] != "threads"


def run_seeds(cfg: dict, games: dict[str, dict], starts: list[SeedStart],
              runner: StageRunner) -> tuple[list[SeedResult], list[list[Callable[[], StageOutcome]]]]:
    """Every method's scorer for every seed, then every (method, suite) evaluated and each seed's
    cross-play matrix (all fanned out). Returns the seeds' results and what resolves each part of
    each seed's cross-play (none where it is off).

    Training on the workers, the chains of every (seed, method) advance together
    (aprm.pipeline.chains), each as soon as its inputs exist. A method's evaluations are
    submitted as soon as its PRM is, and a seed's cross-play as soon as its players exist (the
    held-out attacker once the held-out seed's exist too): one seed trains while another
    evaluates. In this process, training waits for all the fanned-out sampling (both at once
    would oversubscribe the cores), and a seed's evaluations finish before the next seed trains."""
    fanned = trains_on_workers(cfg)
    starter = StageStarter(runner, fanned)
    threads = fanout_threads(cfg) if fanned else int(cfg["threads"])
    labelled, references = processbench_suites(cfg, runner, starts[0].artifacts, starts[0].code)
    chains = {(i, method): method_chain(method, method_cfg, cfg, start, starter, threads)
              for i, start in enumerate(starts) for method, method_cfg in games.items()}
    evaluations: dict[tuple[int, str], dict[str, Callable[[], StageOutcome]]] = {}
    done: dict[tuple[int, str], MethodResult] = {}
    crossplays: dict[int, list[Callable[[], StageOutcome]]] = {}
    held_out_submitted: set[int] = set()

    def players(i: int) -> SeedPlayers:
        return seed_players(games, [done[(i, method)] for method in games])

    def seed_done(i: int) -> bool:
        return all((i, method) in done for method in games)

    def start_crossplays() -> None:
        """Each seed's cross-play: its own attackers once its chains are done, and the held-out
        attacker once those of the seed whose G it holds out are done too."""
        for i, start in enumerate(starts):
            held_out = (i + 1) % len(starts)
            if i not in crossplays and seed_done(i):
                crossplays[i] = crossplay_parts(cfg, start, players(i), None, runner)
            if i in crossplays and i not in held_out_submitted and held_out != i and seed_done(held_out):
                crossplays[i] += crossplay_parts(cfg, start, players(i), players(held_out), runner)
                held_out_submitted.add(i)

    def evaluate(key: tuple[int, str], result: MethodResult) -> None:
        seed_start, method = starts[key[0]], key[1]
        suites = {**{suite: seed_start.outcome(suite) for suite in ["val", *cfg["data"]["suites"]]}, **labelled}
        evaluations[key] = {suite: runner.submit(
            stages.evaluate, f"evaluate[{method},{suite},{seed_start.tag}]",
            tags={"method": method, "suite": suite, "seed": str(seed_start.seed)}, method=method, suite=suite,
            prm_dir=result.prm_dir, samples_path=samples.value["path"], eval_cfg=cfg["eval"], seed=seed_start.seed,
            threads=fanout_threads(cfg), code=seed_start.code, **({"step_labels_only": True} if suite in labelled else {}))
            for suite, samples in suites.items()}

    def chain_done(key: tuple[int, str], result: MethodResult) -> None:
        done[key] = result
        evaluate(key, result)
        start_crossplays()

    if fanned:
        advance_together(chains, on_done=chain_done)
    else:
        for start in starts:
            start.resolve_all()
        for i in range(len(starts)):
            seed_keys = [key for key in chains if key[0] == i]
            for key in seed_keys:
                done.update(advance_together({key: chains[key]}))
            for key in seed_keys:
                evaluate(key, done[key])
                for resolve in evaluations[key].values():
                    resolve()
        start_crossplays()
    results = [seed_result(cfg, games, start, [done[(i, m)] for m in games], [evaluations[(i, m)] for m in games],
                           labelled, references) for i, start in enumerate(starts)]
    return results, [crossplays.get(i, []) for i in range(len(starts))]


def seed_result(cfg: dict, games: dict[str, dict], start: SeedStart, trained: list[MethodResult],
                evaluations: list[dict[str, Callable[[], StageOutcome]]], labelled: dict[str, StageOutcome],
                references: list[dict]) -> SeedResult:
    """A seed's stages, runs and rounds, in the order of `games` and of the suites."""
    samples = {suite: start.outcome(suite) for suite in ["val", *cfg["data"]["suites"]]}
    verifier = start.verifier()
    outcomes = [*start.stages, *([verifier] if verifier else []), start.outcome("pool"), *samples.values(),
                *labelled.values()]
    rounds: list[dict] = []
    for result in trained:
        outcomes += result.stages
        rounds += result.rounds
    players = seed_players(games, trained)
    runs, objective = [], None
    for method, by_suite in zip(games, evaluations):
        for suite, resolve in by_suite.items():
            outcome = resolve()
            outcomes.append(outcome)
            if suite == "val":
                if method == cfg["method"]["name"]:
                    objective = id_val_objective(outcome.value["run"], cfg["eval"])
            else:
                runs.append(outcome.value["run"])
    return SeedResult(outcomes, runs, rounds, objective, references, players.prm_dirs, players.generators,
                      start.splits, start.solver_dir)


def rl_on_rewards(cfg: dict, seed: int, result: SeedResult, artifacts: Path, code: str,
                  runner: StageRunner) -> tuple[list[StageOutcome], list[dict]]:
    """`rl.rewards`: per reward, GRPO of a copy of the seed's SFT solver on that reward, then its
    samples on every test suite against the SFT solver's (results.json `rl` rows)."""
    rl_cfg = cfg["rl"]
    if not rl_cfg["rewards"]:
        return [], []
    tag, threads = f"seed={seed}", int(cfg["threads"])
    n, limit = int(rl_cfg["eval_samples"]), rl_cfg["eval_problems"]
    eval_cfg = {**sampling_settings(cfg["eval"]), "n_samples": n}
    # the SFT solver's samples: the run's own when N and the problems are the same (one stage, cached)
    at_n = "" if n == int(cfg["eval"]["n_samples"]) and limit is None else f"n={n},limit={limit},"

    def sample(solver_dir: str, suite: str, who: str) -> StageOutcome:
        return runner.run(stages.sample_solutions, f"sample-solutions[{suite},{who}{tag}]", retry="sample_solutions",
                          solver_dir=solver_dir, splits_path=result.splits, suite=suite, eval_cfg=eval_cfg,
                          backend_cfg=cfg["backend"], seed=seed, threads=threads, artifacts=str(artifacts), code=code,
                          **({"limit": int(limit)} if limit else {}))

    suites = list(cfg["data"]["suites"])
    sft = {suite: sample(result.solver_dir, suite, at_n) for suite in suites}
    outcomes, rows = list(sft.values()), []
    for reward in rl_cfg["rewards"]:
        trained = runner.run(stages.rl_solver, f"rl-solver[{reward},{tag}]", tags={"method": reward, "seed": str(seed)},
                             reward=reward, prm_dir=result.prm_dirs.get(reward), solver_dir=result.solver_dir,
                             splits_path=result.splits, rl_cfg=rl_cfg,
                             score_batch_size=int(cfg["eval"]["score_batch_size"]), seed=seed, threads=threads,
                             artifacts=str(artifacts), code=code)
        after = {suite: sample(trained.value["path"], suite, f"rl-{reward},{at_n}") for suite in suites}
        evaluated = runner.run(stages.rl_evaluate, f"rl-evaluate[{reward},{tag}]",
                               sft_samples={s: o.value["path"] for s, o in sft.items()},
                               rl_samples={s: o.value["path"] for s, o in after.items()},
                               n_resamples=int(cfg["eval"]["report"]["n_resamples"]), seed=seed, code=code)
        outcomes += [trained, *after.values(), evaluated]
        rows.append({"seed": seed, "reward": reward, "curve": trained.value["curve"],
                     "hacking_step": trained.value["hacking_step"], "metrics": trained.value["metrics"],
                     "suites": evaluated.value["suites"]})
    return outcomes, rows


def processbench_suites(cfg: dict, runner: StageRunner, artifacts: Path,
                        code: str) -> tuple[dict[str, StageOutcome], list[dict]]:
    """The ProcessBench suites ({suite: its stage}) and the oracle's first-error scores there."""
    labelled = {suite: runner.run(stages.processbench_suite, f"processbench[{split}]", paths_cfg=cfg["data"]["paths"],
                                  split=split, on_error=cfg["data"]["on_error"], artifacts=str(artifacts), code=code)
                for split, suite in step_label_suites(cfg).items()}
    references = [{"name": "oracle", "suite": suite, "first_error": outcome.value["metrics"]["oracle_first_error"]}
                  for suite, outcome in labelled.items()]
    return labelled, references


def step_label_suites(cfg: dict) -> dict[str, str]:
    """{ProcessBench split: suite name} of `eval.processbench_splits`."""
    from aprm.data.processbench import suite_name

    return {split: suite_name(split) for split in cfg["eval"].get("processbench_splits") or []}


def id_val_objective(run: dict, eval_cfg: dict) -> float:
    """ID-validation best-of-N with the headline aggregation: what sweeps tune on."""
    curve = run["best_of_n"][eval_cfg["headline_aggregation"]]
    return float(curve[str(run["n_max"])])


def method_chain(method: str, method_cfg: dict, cfg: dict, start: SeedStart, starter: StageStarter,
                 threads: int) -> Chain[MethodResult]:
    """One method's scorer for a seed (aprm.methods): a baseline PRM, a fit, or the rounds of a
    game, as a chain of stages (aprm.pipeline.chains), starting with the solver's work it reads."""
    compute = {"artifacts": str(start.artifacts), "code": start.code, "seed": start.seed, "threads": threads}
    pool = yield start.resolver("pool")
    val = yield start.resolver("val")
    verifier = (yield start.resolver("verifier")) if start.has("verifier") else None
    # verifier_dir: the LM whose surprise every PRM reads (train.verifier; the solver when it is off)
    inputs = {"splits": start.splits, "solver_dir": start.solver_dir,
              "verifier_dir": verifier.value["path"] if verifier else start.solver_dir,
              "val_samples": val.value["path"], "static": start.static, "pool": pool.value["path"]}
    spec = get_method(method)
    if spec.is_game:
        return (yield from game_chain(method, method_cfg, cfg, inputs, compute, starter, start.tag))
    outcomes = []
    if "mc" in spec.inputs:
        if not start.has(f"mc:{method}"):
            raise ValueError(f"method {method!r} trains on MC rollouts, and none were run for {start.tag}")
        mc = yield start.resolver(f"mc:{method}")
        outcomes.append(mc)
        inputs = {**inputs, "mc": mc.value["path"]}
    # what the method's PRM reads (the cache key: nothing else); a fit without items reads no static set
    needed = () if spec.fit else ("static", *spec.inputs)
    prm = yield starter(stages.train_prm, f"train-prm[{method},{start.tag}]", tags={"method": method}, method=method,
                        method_cfg=spec.cache_cfg(method_cfg),
                        inputs={k: inputs[k] for k in ("verifier_dir", "val_samples", *needed)},
                        model_cfg=cfg["model"], train_cfg=cfg["train"]["prm"], **compute)
    return MethodResult(prm.value["path"], outcomes + [prm])


def game_chain(kind: str, game_cfg: dict, cfg: dict, inputs: dict, compute: dict, starter: StageStarter,
               tag: str) -> Chain[MethodResult]:
    """R_0 (static PRMs: one, or an ensemble for Adv-RM, trained at once), the round-0 set-up, then
    each round as its own stage, so a killed run resumes at the first unfinished round."""
    from aprm.game.state import final_prm  # torch-free: a fully cached run never imports torch here

    seed = compute["seed"]
    members = []
    for member in range(int(game_cfg.get("ensemble_size", 1))):
        # member 0 is the very stage the static baseline runs: one name, so it is listed once
        name = f"train-prm[static,{tag}" + (f",member={member}" if member else "") + "]"
        members.append(starter(stages.train_prm, name, method="static", method_cfg=get_method("static").cache_cfg({}),
                               model_cfg=cfg["model"], train_cfg=cfg["train"]["prm"],
                               inputs={k: inputs[k] for k in ("verifier_dir", "val_samples", "static")},
                               **{**compute, "seed": seed if member == 0 else derived_seed(seed, "prm-member", member)}))
    # G_0, its rule pairs and R's positives: one stage for every game of the seed with this set-up
    shared = starter(stages.game_setup, f"game-setup[{tag}]", setup=game_cfg["setup"],
                     inputs={k: inputs[k] for k in ("splits", "solver_dir", "pool")}, model_cfg=cfg["model"],
                     **compute)
    outcomes: list[StageOutcome] = []
    for resolve in members:
        outcomes.append((yield resolve))
    r0_dirs = [o.value["path"] for o in outcomes]
    outcomes.append((yield shared))
    setup = {k: outcomes[-1].value[k] for k in ("generator", "rule_pairs", "static_eval", "positives")}
    prepared = yield starter(stages.prepare_game, f"prepare-game[{kind},{tag}]", game_cfg=game_cfg, setup=setup,
                             inputs={"splits": inputs["splits"], "r0_dirs": r0_dirs},
                             artifacts=compute["artifacts"], code=compute["code"])
    outcomes.append(prepared)
    state, rounds = prepared.value["state"], []
    generators = {"G0": state["generator"]}  # the shared warm start
    for k in range(int(game_cfg["rounds"])):
        outcome = yield starter(stages.game_round, f"game-round[{kind},{k},{tag}]",
                                tags={"method": kind, "round": str(k)}, step=k, kind=kind, state=state, round_idx=k,
                                game_cfg=game_cfg, val_samples=inputs["val_samples"],
                                eval_cfg=round_eval_settings(cfg["eval"]), **compute)
        outcomes.append(outcome)
        state = outcome.value["state"]
        rounds.append(round_row(kind, seed, k, outcome.value["metrics"]))
        generators[f"{kind}-G{k + 1}"] = state["generator"]
    return MethodResult(final_prm(state), outcomes, rounds, generators)


def round_row(kind: str, seed: int, k: int, metrics: dict) -> dict:
    keep = [key for key in metrics if key in ROUND_KEYS or key.endswith("_id_val")]
    row = {"seed": seed, "method": kind, "round": k,
           "metrics": {key: float(metrics[key]) for key in keep if _finite(metrics[key])}}
    probe = metrics.get("probe") or {}
    wrong = probe.get("samples", 0) * (metrics.get("valid_rate") or 0.0)
    if metrics.get("error_mix") and wrong:
        row["error_types"] = {reason: int(round(share * wrong)) for reason, share in metrics["error_mix"].items()}
    return row


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value
