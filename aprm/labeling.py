"""Oracle labeling of the static step set: reference solutions (positives) and fixed rule
perturbations of them (negatives where the oracle says so). This is the "static data" that the
`static` baseline trains on and the set on which R's accuracy is tracked across rounds.

A labeled item is `{split, problem, steps, labels, source}` with one 0/1 label per step. A solution
is cut after its first wrong step (labels 1..1,0), the usual first-error convention: what follows
a wrong step is not evidence about step quality. Items with an `unknown` verdict are dropped, and
so are perturbations the oracle finds no error in (counted per rule: `negative_rate_<rule>` is the
share of a rule's applications that made an error).
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

from aprm.data import Splits
from aprm.io import read_json, write_jsonl
from aprm.oracle import label_steps
from aprm.perturb import perturb_solution
from aprm.progress import progress
from aprm.schema import Problem


def oracle_labels(problem: Problem, steps: list[str], reference: list[str] | None) -> list[int] | None:
    """0/1 labels up to and including the first wrong step; None when any verdict is unknown."""
    labels: list[int] = []
    for verdict in label_steps(problem, steps, reference=reference):
        if verdict.label == "unknown":
            return None
        labels.append(1 if verdict.label == "correct" else 0)
        if verdict.label == "incorrect":
            break
    return labels


def label_static_set(splits_path: Path, oracle_cfg: dict, seed: int, out_path: Path) -> dict:
    splits = Splits.from_dict(read_json(splits_path))
    rng = random.Random(seed)
    kinds = list(oracle_cfg["perturbations"])
    per_problem = int(oracle_cfg["perturbations_per_problem"])
    per_step = oracle_cfg.get("perturbations_per_step")
    # The static set may use fewer train problems than the solver's SFT (labeling and PRM
    # training cost grow with it; the solver needs many more problems to learn arithmetic).
    cap = oracle_cfg.get("static_train_problems")
    train = splits.train if cap is None else splits.train[: int(cap)]
    use_reference = bool(oracle_cfg.get("use_reference", True))
    rows: list[dict] = []
    counts: Counter = Counter()
    for split_name, problems in (("train", train), ("val", splits.val)):
        for problem in progress(problems, f"static labels ({split_name})", unit="problem"):
            steps = list(problem.reference_steps)
            reference = steps if use_reference else None
            flagged = oracle_labels(problem, steps, reference)
            counts["reference_steps"] += len(steps)
            counts["reference_false_alarms"] += 0 if flagged is None else flagged.count(0)
            rows.append(_item(split_name, problem, steps, [1] * len(steps), "reference"))
            count = per_problem if per_step is None else _stochastic_round(float(per_step) * len(steps), rng)
            for kind in rng.sample(kinds, k=min(count, len(kinds))):
                perturbed = perturb_solution(problem, steps, kind, rng)
                if perturbed is None:
                    counts[f"not_applicable_{kind}"] += 1
                    continue
                new_steps, _ = perturbed
                labels = oracle_labels(problem, new_steps, reference)
                if labels is None:
                    counts["unknown"] += 1
                    continue
                counts[f"{kind}_items"] += 1
                if 0 not in labels:
                    # the edit left a valid solution (e.g. a dropped step whose value the question
                    # gives): no error to learn from, only a near-copy of the reference as a positive
                    counts[f"{kind}_no_error"] += 1
                    continue
                counts[f"{kind}_negatives"] += 1
                rows.append(_item(split_name, problem, new_steps[: len(labels)], labels, f"perturb:{kind}"))
    write_jsonl(out_path, rows)
    metrics = {
        "items": len(rows),
        "negatives": sum(1 for r in rows if 0 in r["labels"]),
        "unknown_dropped": counts["unknown"],
        "no_error_dropped": sum(counts[f"{kind}_no_error"] for kind in kinds),
        "reference_false_alarm_rate": counts["reference_false_alarms"] / max(counts["reference_steps"], 1),
    }
    for kind in kinds:
        if counts[f"{kind}_items"]:
            metrics[f"negative_rate_{kind}"] = counts[f"{kind}_negatives"] / counts[f"{kind}_items"]
    return metrics


def _stochastic_round(value: float, rng: random.Random) -> int:
    """floor(value), plus one with probability frac(value): the expected count is `value`."""
    whole = int(value)
    return whole + int(rng.random() < value - whole)


def _item(split: str, problem: Problem, steps: list[str], labels: list[int], source: str) -> dict:
    return {"split": split, "problem": problem.to_dict(), "steps": steps, "labels": labels,
            "source": source}
