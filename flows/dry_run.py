"""Pre-flight checks and `dry_run=true`: every data file and model a config needs, checked
without loading a model, downloading anything or starting Prefect or MLflow.

`preflight_models` and `preflight_data` also run before every real run, so an offline run whose
hub model or dataset is not cached stops at once with the `model.*` or `data_paths.*` key instead
of failing inside a stage.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from aprm.data.errors import DataError
from aprm.data.hub import HUB_SOURCES
from aprm.data.paths import local_data_path, resolve_data_path
from aprm.data.splits import REAL_SUITES
from aprm.methods import get_method
from aprm.pipeline.runner_hook import fanout_threads
from aprm.models.references import ROLES, ModelConfigError, hf_reference, is_offline
from flows.config import method_config, method_names

NOT_CACHED = "not cached: downloads on first real run"


class PreflightError(ValueError):
    """Data files or models a run needs are missing; the message names every key."""


@dataclass(frozen=True)
class ModelCheck:
    role: str
    ref: str
    status: str
    offline_miss: bool = False  # a hub id absent from the cache while HF_HUB_OFFLINE=1


@dataclass(frozen=True)
class DataCheck:
    key: str  # the setting that moves it, e.g. data_paths.math500
    path: Path | None  # None: no local file, the hub dataset `hub` is loaded
    hub: str | None = None


def _hub_status(ref: str) -> str:
    from huggingface_hub import try_to_load_from_cache

    cached = try_to_load_from_cache(ref, "config.json")  # a path only when really cached
    return f"in local HF cache ({Path(cached).parent})" if isinstance(cached, str) else NOT_CACHED


def check_models(cfg: dict, problems: list[str]) -> list[ModelCheck]:
    """One ModelCheck per model the run loads: each role of a `kind: hf` config (none for tiny),
    or the PRM that experiment=eval_prm evaluates; problems appended."""
    model_cfg = cfg["model"]
    if cfg.get("eval_prm"):
        check = check_reference("prm", str(model_cfg["prm"]), problems)
        return [check] if check else []
    if model_cfg.get("kind") != "hf":
        return []
    checks = []
    for role in ROLES:
        try:
            ref = hf_reference(role, model_cfg)
        except ModelConfigError as err:
            problems.append(str(err))
            continue
        check = check_reference(role, ref, problems)
        if check:
            checks.append(check)
    return checks


def check_reference(role: str, ref: str, problems: list[str]) -> ModelCheck | None:
    """A local folder, or a hub id and whether it is cached; None (and a problem) for neither."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    if Path(ref).exists():
        return ModelCheck(role, ref, "local path")
    try:
        validate_repo_id(ref)
    except HFValidationError as err:
        problems.append(f"model.{role}: {ref!r} is neither an existing path nor a valid "
                        f"Hugging Face id ({err})")
        return None
    status = _hub_status(ref)
    return ModelCheck(role, ref, status, status == NOT_CACHED and is_offline())


def preflight_models(cfg: dict) -> list[ModelCheck]:
    """Raise PreflightError when a model the run loads cannot be found (offline: not cached)."""
    problems: list[str] = []
    checks = check_models(cfg, problems)
    problems += [f"model.{c.role}: {c.ref!r} is not in the local HF cache and HF_HUB_OFFLINE=1 "
                 f"forbids downloading it; download it first or unset HF_HUB_OFFLINE"
                 for c in checks if c.offline_miss]
    if cfg.get("eval_prm") and not problems and not any(c.offline_miss or c.status == NOT_CACHED for c in checks):
        from aprm.models.prm_formats import PRMFormatError, check_format

        try:
            check_format(str(cfg["model"]["prm"]), cfg["model"]["prm_format"])
        except PRMFormatError as err:
            problems.append(str(err))
    if problems:
        raise PreflightError("model check failed:\n  " + "\n  ".join(problems))
    return checks


def needed_data(cfg: dict) -> list[tuple[str, str | None]]:
    """(data path key, ProcessBench split or None) for every file the config reads."""
    data = cfg["data"]
    keys: list[tuple[str, str | None]] = []
    if not cfg.get("eval_prm"):  # evaluating a given PRM reads no training data or sampled suites
        if data["source"] == "gsm8k":
            keys.append(("gsm8k_train", None))
        keys += [(REAL_SUITES[s][0], None) for s in data["suites"] if s in REAL_SUITES]
    keys += [("processbench_dir", split) for split in cfg["eval"].get("processbench_splits") or []]
    return list(dict.fromkeys(keys))


def check_data(cfg: dict, problems: list[str], fetch: bool = False) -> list[DataCheck]:
    """Where each data file the config reads comes from. `fetch`: load what only the hub has
    (downloading it, or from the datasets cache), as a real run would; else name its hub id."""
    checks = []
    samples = (cfg.get("eval_prm") or {}).get("samples")
    if samples is not None:
        if Path(samples).expanduser().is_file():
            checks.append(DataCheck("eval_prm.samples", Path(samples).expanduser()))
        else:
            problems.append(f"eval_prm.samples: {samples} is not a file")
    for key, split in needed_data(cfg):
        name = f"data_paths.{key}"
        try:
            path = (resolve_data_path if fetch else local_data_path)(cfg["data"].get("paths"), key)
        except DataError as err:
            problems.append(str(err))
            continue
        if path is None:
            checks.append(DataCheck(name + (f" [{split}]" if split else ""), None, HUB_SOURCES[key].describe()))
            continue
        if split is not None:
            path = path / f"{split}.json"
            if not path.is_file():
                problems.append(f"{name}: no ProcessBench split '{split}' at {path} "
                                f"(eval.processbench_splits lists it)")
                continue
            name = f"{name} [{split}]"
        checks.append(DataCheck(name, path))
    return checks


def preflight_data(cfg: dict) -> list[DataCheck]:
    """Before a real run: every data file there, hub data loaded (or PreflightError naming each
    `data_paths` key, e.g. offline with the hub dataset not cached)."""
    problems: list[str] = []
    checks = check_data(cfg, problems, fetch=True)
    if problems:
        raise PreflightError("data not found:\n  " + "\n  ".join(problems))
    return checks


def count_rows(path: Path) -> int:
    """Records in a data file: lines of a .jsonl, items of a JSON array."""
    if path.suffix == ".jsonl":
        with path.open("rb") as handle:
            return sum(1 for line in handle if line.strip())
    return len(json.loads(path.read_text(encoding="utf-8")))


def dry_run(cfg: dict) -> str:
    """The plan of the run `cfg` describes; PreflightError listing every missing input."""
    problems: list[str] = []
    data = check_data(cfg, problems)
    models = check_models(cfg, problems)
    if problems:
        raise PreflightError("dry run found problems:\n  " + "\n  ".join(problems))
    return format_plan(cfg, data, models)


def format_eval_prm_plan(cfg: dict, data: list[DataCheck], models: list[ModelCheck]) -> str:
    spec = cfg["eval_prm"]
    suites = ([spec["suite"]] if spec.get("samples") else []) + [
        f"processbench-{split}" for split in cfg["eval"].get("processbench_splits") or []]
    lines = [f"aprm dry run: evaluate model.prm={cfg['model']['prm']} (format {cfg['model']['prm_format']}), "
             "training nothing (nothing run)",
             f"suites:  {suites}" + (f" (best-of-N on {spec['samples']})" if spec.get("samples") else ""),
             f"stages:  processbench x {len(suites) - bool(spec.get('samples'))}, "
             f"{'stored-samples, ' if spec.get('samples') else ''}evaluate x {len(suites)}, report"]
    lines += [f"model.prm  {m.ref}  [{m.status}]" for m in models]
    lines.append("data files:" if data else "data files: none")
    lines += [f"  {d.key:<36} {d.path or 'Hugging Face hub: ' + str(d.hub)}" for d in data]
    return "\n".join(lines)


def suite_sizes(cfg: dict) -> str:
    """Problems per test suite, e.g. "val 200, id 200, long 100" (null test_size: all rows)."""
    data = cfg["data"]
    sizes = {"val": data["val_size"], **{suite: (data.get("suite_sizes") or {}).get(suite, data["test_size"])
                                         for suite in data["suites"]}}
    return ", ".join(f"{suite} {'all' if size is None else size}" for suite, size in sizes.items())


def verifier_line(verifier: dict) -> str:
    if not int(verifier["problems"]):
        return "  train-verifier: off (train.verifier.problems=0): the PRMs read the solver's surprise"
    return (f"  train-verifier: the solver on {verifier['problems']} fresh problems "
            f"(+{verifier['drill_batch_size']} drills a step): the LM every PRM reads")


def format_plan(cfg: dict, data: list[DataCheck], models: list[ModelCheck]) -> str:
    if cfg.get("eval_prm"):
        return format_eval_prm_plan(cfg, data, models)
    seeds = cfg.get("seeds") or [cfg["seed"]]
    methods = method_names(cfg)
    suites = list(cfg["data"]["suites"])
    pool, runner = cfg["train"]["pool"], cfg["runner"]
    shared = " (shared by all seeds)" if cfg.get("solver_seed") is not None else ""
    lines = [
        f"aprm dry run: {cfg['method']['name']} on data.source={cfg['data']['source']} (nothing run)",
        f"seeds:   {seeds} (solver_seed={cfg.get('solver_seed')})",
        f"methods: {methods}",
        f"suites:  {suites} (+ val); report picks baselines on '{cfg['eval']['report']['id_suite']}'",
        f"problems: {suite_sizes(cfg)}",
        f"fan-out: runner.kind={runner['kind']}, {runner['workers']} workers at {fanout_threads(cfg)} "
        f"thread(s) each (sampling, MC rollouts, evaluate, cross-play); training at threads={cfg['threads']}",
        "stages per seed:",
        "  prepare-data, oracle-label, train-solver" + shared,
        verifier_line(cfg["train"]["verifier"]) + shared,
        (f"  sample-solutions: pool ({pool['problems']} problems x {pool['samples']}), "
         f"val + {len(suites)} suites x {cfg['eval']['n_samples']} samples"),
        *([f"    pool, its MC rollouts and val drawn once at fit_samples_seed={cfg['fit_samples_seed']} "
           "(shared by all seeds)"] if cfg.get("fit_samples_seed") is not None else []),
    ]
    for method in methods:
        stages = get_method(method).stages()
        if get_method(method).is_game:
            stages = stages.replace("method.rounds", str(method_config(method, cfg)["rounds"]))
        lines.append(f"  {method}: {stages}")
    lines.append(f"  evaluate: {len(methods)} methods x {len(suites) + 1} suites")
    rl = cfg["rl"]
    if rl["rewards"]:
        lines.append(f"  RL on {len(rl['rewards'])} rewards ({', '.join(rl['rewards'])}): rl-solver ({rl['steps']} GRPO "
                     f"steps), sample-solutions x {len(suites)} suites x {rl['eval_samples']} samples, rl-evaluate")
    lines.append("  report")
    if models:
        lines.append("models:")
        for m in models:
            warn = "  WARNING: HF_HUB_OFFLINE=1, a real run would fail" if m.offline_miss else ""
            lines.append(f"  model.{m.role:<9} {m.ref}  [{m.status}]{warn}")
    else:
        lines.append(f"models: kind={cfg['model']['kind']} (built from config, nothing to download)")
    lines.append("data files:" if data else "data files: none (generated data)")
    lines += [f"  {d.key:<36} {d.path}  ({count_rows(d.path)} rows)" if d.path else
              f"  {d.key:<36} Hugging Face hub: {d.hub} (loaded, and cached, by the real run)" for d in data]
    return "\n".join(lines)
