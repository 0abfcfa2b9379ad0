"""The run's plan is library code: run through a plain in-memory runner, with no Prefect server
and no flow, it writes the same results.json as the Prefect flow; what it fans out, and at how
many threads."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest

from aprm.pipeline.runner_hook import InMemoryRunner, StageOutcome


class RecordingRunner(InMemoryRunner):
    """Records each stage as (how, name, inputs): `run` in the plan's process or `submit` to the
    fan-out. `deferred`: a submitted stage runs only when first resolved (recorded as `resolve`),
    as on a busy worker pool; else at once."""

    def __init__(self, deferred: bool = False) -> None:
        super().__init__()
        self.deferred = deferred
        self.calls: list[tuple[str, str, dict]] = []

    def run(self, fn, name, **kwargs):
        self.calls.append(("run", name, kwargs))
        return super().run(fn, name, **kwargs)

    def submit(self, fn, name, **kwargs):
        self.calls.append(("submit", name, kwargs))

        @functools.cache
        def resolve():
            if self.deferred:
                self.calls.append(("resolve", name, kwargs))
            return InMemoryRunner.run(self, fn, name, **kwargs)

        if not self.deferred:
            resolve()
        return resolve


class PathRecorder:
    """Records each stage as (how, name, inputs) and runs none: its outcome's path is its name."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict]] = []

    def run(self, fn, name, **kwargs):
        self.calls.append(("run", name, kwargs))
        return StageOutcome(name, {"path": name}, False, 0.0)

    def submit(self, fn, name, **kwargs):
        outcome = self.run(fn, name, **kwargs)
        self.calls[-1] = ("submit", name, kwargs)
        return lambda: outcome


@pytest.mark.slow
def test_the_plan_without_prefect_gives_the_flows_results(smoke_run, tmp_path):
    from aprm.hashing import code_version
    from aprm.pipeline.plan import run_plan
    from flows.config import compose_config, method_config, method_names
    from pipeline_helpers import SMOKE, canonical_results

    flow_home, flow_summary = smoke_run
    cfg = compose_config([*SMOKE, f"paths.home={tmp_path}"])
    games = {method: method_config(method, cfg) for method in method_names(cfg)}
    runner = RecordingRunner()
    plan = run_plan(cfg, games, runner, tmp_path / "artifacts", code_version(), flow_summary["config_hash"],
                    flow_summary["git_sha"])
    ours = canonical_results(Path(plan.report_paths["results"]), tmp_path)
    assert ours == canonical_results(Path(flow_summary["results"]), flow_home)
    assert [o.name for o in plan.outcomes] == [s["name"] for s in flow_summary["stages"]]
    assert not any(o.cached for o in plan.outcomes)
    # What needs only the solver is fanned out before any PRM trains; evaluation and cross-play
    # are fanned out; training runs in the plan's process.
    kinds = {name.split("[")[0]: kind for kind, name, _ in runner.calls}
    assert {stage: kinds[stage] for stage in ("sample-solutions", "mc-rollouts", "evaluate", "crossplay")} == {
        "sample-solutions": "submit", "mc-rollouts": "submit", "evaluate": "submit", "crossplay": "submit"}
    assert kinds["train-solver"] == kinds["train-prm"] == kinds["game-round"] == "run"
    names = [name for _, name, _ in runner.calls]
    # APRM and Adv-RM start from one G_0: one set-up stage, read by both games' round 0
    assert names.count("game-setup[seed=0]") == 1 and not any(n.startswith("game-setup[seed=0,") for n in names)
    prepared = [o.value for o in plan.outcomes if o.name.startswith("prepare-game[")]
    assert len(prepared) == 2 and prepared[0]["state"]["generator"] == prepared[1]["state"]["generator"]
    assert prepared[0]["metrics"] == prepared[1]["metrics"] and prepared[0]["metrics"]["rule_pairs"] > 0
    first_prm = names.index("train-prm[static,seed=0]")
    assert max(i for i, n in enumerate(names) if n.startswith(("sample-solutions", "mc-rollouts"))) < first_prm
    # the MC rollouts are listed where they were before: with the method that trains on them
    listed = [o.name for o in plan.outcomes]
    assert listed.index("mc-rollouts[seed=0]") == listed.index("train-prm[mc,seed=0]") - 1
    # R's step AUROC on the solver's errors after each round reaches results.json's rounds when defined
    rows = {(r["method"], r["round"]): r["metrics"] for r in json.loads(Path(plan.report_paths["results"]).read_text())["rounds"]}
    for outcome in (o for o in plan.outcomes if o.name.startswith("game-round[")):
        method, k = outcome.name[len("game-round["):].split(",")[:2]
        value = outcome.value["metrics"]["step_auroc_solver_errors"]
        assert rows[(method, int(k))].get("step_auroc_solver_errors") == (None if value is None else pytest.approx(value))
    # the runner's memory is its cache: the same plan again runs nothing
    again = run_plan(cfg, games, runner, tmp_path / "artifacts", code_version(), flow_summary["config_hash"],
                     flow_summary["git_sha"])
    assert all(o.cached for o in again.outcomes) and again.report_paths == plan.report_paths


@pytest.mark.parametrize(("threads", "runner", "expected"), [
    (2, {"kind": "threads", "workers": 2, "address": None}, 1),
    (2, {"kind": "processes", "workers": 1, "address": None}, 2),
    (1, {"kind": "processes", "workers": 2, "address": None}, 1),  # never 0
    (8, {"kind": "dask", "workers": 3, "address": None}, 2),
    (4, {"kind": "dask", "workers": 16, "address": "tcp://head:8786"}, 4),  # a remote worker's own cores
])
def test_fanned_out_stages_share_the_cores_among_local_workers(threads, runner, expected):
    from aprm.pipeline.runner_hook import fanout_threads

    assert fanout_threads({"threads": threads, "runner": runner}) == expected


def test_sampling_is_submitted_with_its_retry_policy_at_the_fanout_thread_count():
    """Every sample stage goes to the fan-out (a timeout is the runner's business: the Prefect
    runner keeps a timed stage in the flow's thread, tests/test_stage_retries.py)."""
    from aprm.pipeline.solver_work import SeedStart, submit_sampling
    from flows.config import compose_config

    cfg = compose_config(["experiment=smoke", "threads=2", "runner.workers=2"])
    start, runner = SeedStart(0, Path("artifacts"), "code", [], "splits.json", "static", "solver"), PathRecorder()
    submit_sampling(cfg, [start], runner)
    assert [(how, name, kwargs.get("retry"), kwargs["threads"]) for how, name, kwargs in runner.calls] == [
        ("submit", f"sample-solutions[{suite},seed=0]", "sample_solutions", 1) for suite in ("pool", "val", "id")]
    assert start.outcome("id").value == {"path": "sample-solutions[id,seed=0]"}


def test_a_shared_fit_samples_seed_draws_the_pool_its_rollouts_and_val_once_for_every_seed():
    """fit_samples_seed: the pool, its MC rollouts and ID validation are one stage each, drawn at
    that seed and read by every seed; the test suites are still drawn per seed. Unset, each seed
    draws its own under the names it always had."""
    from aprm.pipeline.solver_work import SeedStart, submit_mc_rollouts, submit_sampling
    from flows.config import compose_config, method_config, method_names

    def submitted(overrides: list[str]) -> tuple[list[tuple[str, int]], list[SeedStart]]:
        cfg = compose_config(["experiment=smoke", "seeds=[0,1]", "solver_seed=0", "compare_with=[mc]", *overrides])
        games = {method: method_config(method, cfg) for method in method_names(cfg)}
        starts = [SeedStart(seed, Path("artifacts"), "code", [], "splits.json", "static", "solver") for seed in (0, 1)]
        runner = PathRecorder()
        submit_sampling(cfg, starts, runner)
        submit_mc_rollouts(cfg, games, starts, runner)
        return [(name, kwargs["seed"]) for _, name, kwargs in runner.calls], starts

    calls, starts = submitted(["fit_samples_seed=1"])
    assert calls == [("sample-solutions[pool,seed=1]", 1), ("sample-solutions[val,seed=1]", 1),
                     ("sample-solutions[id,seed=0]", 0), ("sample-solutions[id,seed=1]", 1),
                     ("mc-rollouts[seed=1]", 1)]
    for key in ("pool", "val", "mc:mc"):
        assert starts[0].outcome(key) is starts[1].outcome(key)
    assert starts[0].outcome("id") is not starts[1].outcome("id")
    calls, _ = submitted([])
    assert [name for name, seed in calls] == [
        f"sample-solutions[{suite},seed={seed}]" for seed in (0, 1) for suite in ("pool", "val", "id")
    ] + ["mc-rollouts[seed=0]", "mc-rollouts[seed=1]"]


def test_a_stage_name_started_twice_runs_once_unless_its_inputs_differ():
    """The static baseline is every game's R_0 and the games of a seed share their set-up: one
    stage each. A game whose `method.setup` differs gets its own set-up stage, named apart."""
    from aprm.pipeline.chains import StageStarter

    def game_setup(setup: dict, seed: int) -> dict:  # a stage: plain inputs, a dict out
        return {"path": f"g0-{setup['train_problems']}-{seed}"}

    runner = RecordingRunner()
    starter = StageStarter(runner, fanned=True)
    shared = [starter(game_setup, "game-setup[seed=0]", tags={"method": m}, setup={"train_problems": 400}, seed=0)
              for m in ("aprm", "advrm")]
    own = starter(game_setup, "game-setup[seed=0]", setup={"train_problems": 800}, seed=0)
    again = starter(game_setup, "game-setup[seed=0]", setup={"train_problems": 800}, seed=0)
    names = [name for _, name, _ in runner.calls]
    assert names[0] == "game-setup[seed=0]" and len(names) == 2 and names[1].startswith("game-setup[seed=0,")
    assert shared[0] is shared[1] and own is again and own is not shared[0]
    assert (shared[0]().value["path"], own().value["path"]) == ("g0-400-0", "g0-800-0")


@pytest.mark.slow
def test_every_prm_reads_the_verifier_lm_trained_once_for_a_shared_solver(tmp_path):
    """train.verifier on: one train-verifier stage for the seeds that share a solver, submitted
    before any sampling; every PRM (heads, likelihood, the games' R) reads its surprise, while G
    and the samples still come from the solver."""
    from aprm.hashing import code_version
    from aprm.io import read_json
    from aprm.pipeline.plan import run_plan
    from flows.config import compose_config, method_config, method_names
    from pipeline_helpers import SMOKE

    cfg = compose_config([*SMOKE, f"paths.home={tmp_path}", "seeds=[0,1]", "solver_seed=0",
                          "train.verifier.problems=24", "compare_with=[static,likelihood]", "method.rounds=1",
                          "eval.crossplay.slots=0"])
    games = {method: method_config(method, cfg) for method in method_names(cfg)}
    runner = RecordingRunner()
    plan = run_plan(cfg, games, runner, tmp_path / "artifacts", code_version(), "hash", "sha")
    names = [name for _, name, _ in runner.calls]
    assert names.count("train-verifier[seed=0]") == 1
    kind, _, args = next(c for c in runner.calls if c[1] == "train-verifier[seed=0]")
    assert kind == "submit" and names.index("train-verifier[seed=0]") < min(
        i for i, n in enumerate(names) if n.startswith("sample-solutions"))
    verifier = next(o for o in plan.outcomes if o.name == "train-verifier[seed=0]").value
    assert args["solver_dir"] != verifier["path"] and verifier["metrics"]["examples"] == 24
    for _, name, kwargs in runner.calls:
        if name.startswith("train-prm["):
            assert kwargs["inputs"]["verifier_dir"] == verifier["path"] and "solver_dir" not in kwargs["inputs"]
        if name.startswith(("sample-solutions[", "game-setup[")):
            assert kwargs.get("solver_dir", kwargs.get("inputs", {}).get("solver_dir")) == args["solver_dir"]
    for seed_result in plan.per_seed:
        heads = {m: d for m, d in seed_result.prm_dirs.items() if m != "likelihood"}
        assert {read_json(Path(d) / "surprise_head.json")["solver_dir"] for d in heads.values()} == {verifier["path"]}
        assert read_json(Path(seed_result.prm_dirs["likelihood"]) / "likelihood.json")["solver_dir"] == verifier["path"]


def test_with_training_on_the_workers_the_seeds_train_together_and_the_numbers_do_not_move(tmp_path):
    """runner.kind=processes: the PRMs, game set-ups and rounds go to the fan-out, every seed's
    chain advances while another waits, a method's evaluations are submitted as soon as its PRM
    exists, a seed's cross-play (one stage per attacker) as soon as its players do and its
    held-out attacker once the held-out seed's do too, and results.json is the one of training in the plan's process (at one thread both)."""
    from aprm.hashing import code_version
    from aprm.pipeline.plan import run_plan
    from flows.config import compose_config, method_config, method_names
    from pipeline_helpers import SMOKE, canonical_results

    common = [*SMOKE, "threads=1", "seeds=[0,1]", "compare_with=[static,mc]", "method.rounds=1",
              "eval.crossplay.slots=6"]
    results = {}
    for kind, runner in (("threads", InMemoryRunner()), ("processes", RecordingRunner(deferred=True))):
        cfg = compose_config([*common, f"paths.home={tmp_path / kind}", f"runner.kind={kind}"])
        games = {method: method_config(method, cfg) for method in method_names(cfg)}
        plan = run_plan(cfg, games, runner, tmp_path / kind / "artifacts", code_version(), "hash", "sha")
        results[kind] = canonical_results(Path(plan.report_paths["results"]), tmp_path / kind)
    assert results["processes"] == results["threads"]
    submitted = {name: kwargs for kind, name, kwargs in runner.calls if kind == "submit"}
    # every stage on a worker computes at one thread; prepare-game only writes a game's round-0 files
    assert {name.split("[")[0] for name, kwargs in submitted.items() if "threads" not in kwargs} == {"prepare-game"}
    assert all(kwargs["threads"] == 1 for kwargs in submitted.values() if "threads" in kwargs)
    events = [(kind, name) for kind, name, _ in runner.calls]
    kinds = {name.split("[")[0]: kind for kind, name in events if kind != "resolve"}
    assert kinds["train-solver"] == "run"
    assert kinds["train-prm"] == kinds["prepare-game"] == kinds["game-round"] == kinds["evaluate"] == "submit"
    # both seeds' R_0 are queued before any PRM is waited on; seed 0's evaluations before seed 1's game ends
    first_trained = events.index(("resolve", "train-prm[static,seed=0]"))
    assert events.index(("submit", "train-prm[static,seed=1]")) < first_trained
    assert events.index(("submit", "evaluate[static,id,seed=0]")) < events.index(("resolve", "game-round[aprm,0,seed=1]"))
    assert sum(1 for kind, name in events if (kind, name) == ("submit", "train-prm[static,seed=0]")) == 1
    # every part of both cross-plays is queued when the last chain ends, before any evaluation is waited on
    parts = [f"crossplay[seed={seed},{a}]" for seed in (0, 1) for a in ("rules+solver", "G0", "aprm-G1",
                                                                       "held-out-aprm-G1")]
    assert max(events.index(("submit", name)) for name in parts) < min(
        i for i, (kind, name) in enumerate(events) if (kind, name.split("[")[0]) == ("resolve", "evaluate"))
    assert len(json.loads(Path(plan.report_paths["results"]).read_text())["crossplay"]) > 0
