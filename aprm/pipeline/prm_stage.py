"""Stage: train one baseline PRM (`static`, `mc`, `orm`: aprm.methods) on its own training items,
or calibrate the training-free `likelihood` verifier.

Every method is early-stopped on the same ID validation set, so model selection is comparable,
in two groups (prm_trainer's `verify_auroc`): oracle-labeled solver samples on validation problems
(`samples_stage.process_labels`), and each rule-perturbed solution of those problems beside the
reference cut at the same step (`paired_items`: never empty, even when a weak solver writes
nothing usable).
"""

from __future__ import annotations

from pathlib import Path

from aprm.io import read_jsonl
from aprm.models.factory import build_prm
from aprm.models.loading import load_saved_tokenizer
from aprm.models.prm_trainer import train_prm
from aprm.pipeline.common import seed_everything
from aprm.pipeline.samples_stage import process_labels, read_samples
from aprm.schema import Problem

Item = tuple[Problem, list[str], list]


def static_items(static_path: str | Path, split: str = "train") -> list[Item]:
    return [(Problem.from_dict(r["problem"]), r["steps"], r["labels"])
            for r in read_jsonl(static_path) if r["split"] == split]


def perturbation_pairs(static_path: str | Path, split: str = "val") -> list[tuple[str, Item, Item]]:
    """(rule, reference item, perturbed item) for every perturbation whose last step is wrong: the
    reference solution cut at the same step (all 1) beside it, so the wrong step and the right one
    sit at the same position."""
    pairs = []
    for row in read_jsonl(static_path):
        if row["split"] != split or not row["source"].startswith("perturb:") or row["labels"][-1] != 0:
            continue
        problem, steps = Problem.from_dict(row["problem"]), row["steps"]
        reference = list(problem.reference_steps[: len(steps)])
        if len(reference) == len(steps) and reference != steps:
            pairs.append((row["source"].split(":", 1)[1], (problem, reference, [1] * len(steps)),
                          (problem, steps, row["labels"])))
    return pairs


def paired_items(static_path: str | Path, split: str = "val") -> list[Item]:
    return [item for _, right, wrong in perturbation_pairs(static_path, split) for item in (right, wrong)]


def validation_groups(inputs: dict) -> dict[str, list[Item]]:
    return {"samples": process_items(inputs["val_samples"]), "paired": paired_items(inputs["static"])}


def process_items(samples_path: str | Path) -> list[Item]:
    items = []
    for problem, samples in read_samples(samples_path):
        for sample in samples:
            labeled = process_labels(sample)
            if labeled:
                items.append((problem, *labeled))
    return items


def outcome_items(samples_path: str | Path) -> list[Item]:
    """ORM: every step of a sample carries the sample's final-answer correctness."""
    return [(problem, s["steps"], [int(s["correct"])] * len(s["steps"]))
            for problem, samples in read_samples(samples_path) for s in samples if s["steps"]]


def mc_items(mc_path: str | Path, soft: bool) -> list[Item]:
    """Math-Shepherd labels from rollouts: hard = any rollout correct, soft = fraction correct."""
    items = []
    for row in read_jsonl(mc_path):
        fractions = row["rollout_accuracy"]
        labels = fractions if soft else [int(f > 0) for f in fractions]
        items.append((Problem.from_dict(row["problem"]), row["steps"], labels))
    return items


def static_train_items(method_cfg: dict, inputs: dict) -> list[Item]:
    return static_items(inputs["static"])


def outcome_train_items(method_cfg: dict, inputs: dict) -> list[Item]:
    return outcome_items(inputs["pool"])


def mc_train_items(method_cfg: dict, inputs: dict) -> list[Item]:
    return mc_items(inputs["mc"], soft=method_cfg.get("estimation", "hard") == "soft")


def train_baseline_prm(method: str, method_cfg: dict, inputs: dict, model_cfg: dict,
                       train_cfg: dict, seed: int, out_dir: Path, threads: int | None = None) -> dict:
    """Train (or fit) the scorer of a registered non-game method (aprm.methods) into out_dir/model.

    inputs: {"verifier_dir" (the LM whose surprise the PRM reads: the verifier LM of
    `train.verifier`, or the trained solver), "val_samples", and for trained methods "static" and
    the method's own inputs}."""
    from aprm.methods import get_method, resolve

    seed_everything(seed, threads)
    spec = get_method(method)
    if spec.is_game:
        raise ValueError(f"method.name={method!r} is a game: its PRM comes from its rounds, not train-prm")
    if spec.fit:
        return resolve(spec.fit)(inputs["verifier_dir"], inputs["val_samples"], method_cfg, seed, out_dir)
    train = resolve(spec.items)(method_cfg, inputs)
    val = validation_groups(inputs)
    if model_cfg["prm_kind"] == "surprise_head":
        return fit_head_prm(train, val, inputs["verifier_dir"], seed, out_dir)
    tokenizer = load_saved_tokenizer(inputs["verifier_dir"])
    model = build_prm(model_cfg, tokenizer, inputs["verifier_dir"], seed=seed)
    soft = bool(spec.soft_labels and spec.soft_labels(method_cfg))
    metrics = train_prm(train, val, tokenizer, model, {**train_cfg, "seed": seed, "soft_labels": soft},
                        out_dir)
    return {"train_items": len(train), "val_items": sum(map(len, val.values())), **_flat_val(metrics)}


def _flat_val(metrics: dict) -> dict:
    out = {f"val_{k}": v for k, v in metrics.get("val", {}).items() if isinstance(v, (int, float))}
    out.update({k: metrics[k] for k in ("train_loss", "train_seconds", "epochs_run") if k in metrics})
    return out


def fit_head_prm(train: list[Item], val: dict[str, list[Item]], solver_dir: str, seed: int,
                 out_dir: Path) -> dict:
    """`model.prm_kind: surprise_head`: fit the head on a seeded bootstrap of the method's items and
    report the same validation AUROCs the transformer PRM selects on; writes `out_dir/model`."""
    import time

    from aprm.models.prm_trainer import group_metrics
    from aprm.models.likelihood import SURPRISE_FEATURES
    from aprm.models.surprise_head import (HeadPRM, SurpriseHead, SurpriseHeadScorer, fit_head, labeled_tensors,
                                           shared_reader)

    started = time.perf_counter()
    reader = shared_reader(solver_dir)
    data = labeled_tensors(reader, train, desc="solver surprise (train)")
    # no labeled step (a tiny run whose solver wrote nothing labelable): an uninformed head, 0.5
    # for every step, rather than a failed run; train_steps = 0 says so
    head = fit_head(data, seed) if data else SurpriseHead([0.0] * len(SURPRISE_FEATURES), [1.0] * len(SURPRISE_FEATURES))
    prm = HeadPRM(str(solver_dir), head)
    prm.save(out_dir / "model")
    scorer = SurpriseHeadScorer(prm, reader)
    rows = [item for group in val.values() for item in group]
    scores = scorer.score_batch([(p, s) for p, s, _ in rows], desc="solver surprise (val)")
    spans, start = {}, 0
    for name, group in val.items():
        spans[name] = (start, start + len(group))
        start += len(group)
    targets = [[int(v >= 0.5) for v in labels] for _, _, labels in rows]
    val_metrics = group_metrics([sc[: len(t)] for sc, t in zip(scores, targets)], targets, spans)
    return {"train_items": len(train), "train_steps": sum(len(x) for x, _ in data),
            "val_items": len(rows), **{f"val_{k}": v for k, v in val_metrics.items()},
            "train_seconds": time.perf_counter() - started}


def fit_likelihood_verifier(solver_dir: str, val_samples: str, method_cfg: dict, seed: int,
                            out_dir: Path) -> dict:
    """Platt-calibrate the solver's step surprise on oracle-labeled ID-val samples; writes
    `out_dir/model/likelihood.json` (what evaluation loads in place of PRM weights)."""
    from aprm.models.likelihood import SURPRISE_FEATURES, LikelihoodConfig, calibrate, save_config
    from aprm.models.prm_metrics import auroc
    from aprm.models.surprise_head import shared_reader

    items = process_items(val_samples)
    config = LikelihoodConfig(solver_dir=str(solver_dir), feature=str(method_cfg.get("feature", "all_min")))
    column = SURPRISE_FEATURES.index(config.feature)
    rows = shared_reader(solver_dir).vectors([(p, s) for p, s, _ in items], desc="likelihood features")
    features, labels = [], []
    for (_, _, step_labels), vectors in zip(items, rows):
        features += [vector[column] for vector in vectors]
        labels += step_labels[: len(vectors)]
    coef, intercept = calibrate(features, labels, seed)
    save_config(LikelihoodConfig(config.solver_dir, config.feature, coef, intercept), out_dir / "model")
    step_auroc = auroc(features, labels) if features else float("nan")
    return {"train_items": 0, "val_items": len(items), "val_steps": len(labels),
            "val_step_auroc": step_auroc, "coef": coef if coef is not None else float("nan"),
            "intercept": intercept}
