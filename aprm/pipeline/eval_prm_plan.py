"""The plan of `experiment=eval_prm`: one given PRM scored on ProcessBench and on a stored sample
set, through the same stages and runner hook as a training run's plan (aprm.pipeline.plan)."""

from __future__ import annotations

from pathlib import Path

from aprm.pipeline import stages
from aprm.pipeline.plan import PlanResult, SeedResult, processbench_suites, report_settings, stage_rows
from aprm.pipeline.runner_hook import StageRunner, fanout_threads


def run_eval_prm(cfg: dict, runner: StageRunner, artifacts: Path, code: str, config_hash: str,
                 git_sha: str) -> PlanResult:
    """`experiment=eval_prm`: the PRM at model.prm (in model.prm_format) scored on ProcessBench and,
    when eval_prm.samples names a sample file, best-of-N on it; nothing is trained."""
    from aprm.hashing import file_hash

    spec, seed = cfg["eval_prm"], int(cfg["seed"])
    ref, prm_format = str(cfg["model"]["prm"]), cfg["model"]["prm_format"]
    name = spec.get("name") or prm_name(ref)
    labelled, references = processbench_suites(cfg, runner, artifacts, code)
    suites, outcomes = dict(labelled), list(labelled.values())
    if spec.get("samples"):
        stored = runner.run(stages.stored_samples, f"stored-samples[{spec['suite']}]", samples_file=str(spec["samples"]),
                            digest=file_hash(spec["samples"]), on_error=cfg["data"]["on_error"],
                            artifacts=str(artifacts), code=code)
        outcomes.append(stored)
        suites = {spec["suite"]: stored, **labelled}
    if not suites:
        raise ValueError("experiment=eval_prm has nothing to score: set eval_prm.samples and/or "
                         "eval.processbench_splits")
    pending = [runner.submit(stages.evaluate, f"evaluate[{name},{suite},seed={seed}]",
                             tags={"method": name, "suite": suite, "seed": str(seed)}, method=name, suite=suite,
                             prm_dir=ref, samples_path=outcome.value["path"], eval_cfg=cfg["eval"], seed=seed,
                             threads=fanout_threads(cfg), code=code, prm_format=prm_format,
                             **({"step_labels_only": True} if suite in labelled else {}))
               for suite, outcome in suites.items()]
    evaluated = [resolve() for resolve in pending]
    outcomes += evaluated
    inputs = {"name": f"eval_prm-{name}", "config_hash": config_hash, "git_sha": git_sha, "seeds": [seed],
              "methods": [name], "suites": list(suites), "runs": [o.value["run"] for o in evaluated],
              "references": references,
              "stages": stage_rows(outcomes)}
    report_cfg = {**report_settings(cfg["eval"]), "id_suite": next(iter(suites)), "target_methods": [name]}
    outcomes.append(runner.run(stages.report, "report", results_inputs=inputs, report_cfg=report_cfg,
                               artifacts=str(artifacts), code=code))
    return PlanResult([SeedResult(outcomes[:-1], inputs["runs"], [], None, references)], outcomes,
                      outcomes[-1].value["paths"])


def prm_name(ref: str) -> str:
    """A method name for a PRM reference: the folder's or hub repository's last part."""
    return ref.rstrip("/").split("/")[-1] or ref
