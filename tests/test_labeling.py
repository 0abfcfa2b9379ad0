"""The static set: every kept perturbation holds an error, and the per-step rate gives long
solutions more negatives."""

from __future__ import annotations

from collections import Counter

import pytest

from aprm.data import build_splits
from aprm.io import read_jsonl, write_json
from aprm.labeling import label_static_set

ORACLE = {"perturbations": ["number_change", "operator_swap", "operand_swap", "dropped_step", "carry_error"],
          "perturbations_per_problem": 2, "use_reference": True}


@pytest.fixture(scope="module")
def splits_path(tmp_path_factory):
    data = {"source": "synthetic", "train_size": 300, "val_size": 20, "test_size": 10, "suites": ["id"],
            "on_error": "raise", "suite_seed": 0}
    path = tmp_path_factory.mktemp("static") / "splits.json"
    write_json(path, build_splits(data, 0).to_dict())
    return path


def _label(splits_path, tmp_path, **extra):
    out = tmp_path / "static.jsonl"
    metrics = label_static_set(splits_path, {**ORACLE, **extra}, 0, out)
    return metrics, list(read_jsonl(out))


def test_every_kept_perturbation_has_an_error_and_no_ops_are_counted(splits_path, tmp_path):
    metrics, rows = _label(splits_path, tmp_path)
    perturbed = [r for r in rows if r["source"].startswith("perturb:")]
    assert perturbed and all(r["labels"][-1] == 0 and r["labels"].count(0) == 1 for r in perturbed)
    # operand swaps of commutative operations leave a valid solution: counted, not kept
    assert metrics["no_error_dropped"] > 0
    assert metrics["negative_rate_operand_swap"] < 1.0
    assert metrics["negatives"] == len(perturbed)


def test_per_step_rate_gives_long_solutions_more_perturbations(splits_path, tmp_path):
    _, per_problem = _label(splits_path, tmp_path)
    _, per_step = _label(splits_path, tmp_path, perturbations_per_step=0.8)

    def per_reference_step(rows):
        items, steps = Counter(), Counter()
        for r in rows:
            n = len(r["problem"]["reference_steps"])
            if r["source"] == "reference" and r["split"] == "train":
                steps[n] += 1
            elif r["split"] == "train":
                items[n] += 1
        return {n: items[n] / (steps[n] * n) for n in steps}

    flat, scaled = per_reference_step(per_problem), per_reference_step(per_step)
    lengths = sorted(flat)
    assert len(lengths) >= 2
    # per problem: fewer perturbations per step on longer solutions; per step: about the same
    assert flat[lengths[0]] > 1.2 * flat[lengths[-1]]
    assert scaled[lengths[-1]] == pytest.approx(scaled[lengths[0]], rel=0.25)
