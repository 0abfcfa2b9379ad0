"""Measure the symbolic step oracle (aprm.oracle) and the rule perturbations (aprm.perturb).

    .venv/bin/python bench/oracle_eval.py [--data-root PATH] [--out FILE.json]

1. False alarms on human-written GSM8K reference steps (train + test, every step): the share
   judged incorrect (goal <= 0.5%), by reason, with examples.
2. ProcessBench gsm8k (400 solutions): first-error accuracy on erroneous (acc_err) and correct
   (acc_cor) solutions, F1 = harmonic mean (the ProcessBench definition), and the share of steps
   judged unknown. Problems are matched to gsm8k/test.jsonl by normalized question text for the
   gold answer and the reference solution. Modes: no_answer (no gold answer, no reference),
   reference_free (gold answer, no reference), reference_aware (gold answer and the GSM8K
   reference steps), reference_aware_strict (as reference_aware, but a step whose result the
   reference never reaches counts as wrong even when the oracle is not confident: unknown
   "progress" verdicts read as incorrect).
3. Synthetic perturbations: per rule, agreement of the oracle's first-error index with a ground
   truth computed from problem.meta (the hidden chain), independent of the oracle.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

from aprm.data import default_data_root, generate_split, load_gsm8k, load_processbench
from aprm.data.synthetic import apply_op
from aprm.io import write_json
from aprm.oracle import label_steps
from aprm.perturb import PERTURBATIONS, perturb_solution

SECTIONS = ("gsm8k", "processbench", "synthetic")
SYNTHETIC_SPLITS = ("test-id", "test-long", "test-big", "test-unseen", "test-div")
_SYNTH_EQ = re.compile(r"(-?\d+) ([-+*/]) (-?\d+) = (-?\d+)\.$")


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def _first_incorrect(verdicts) -> int:
    return next((i for i, v in enumerate(verdicts) if v.label == "incorrect"), -1)


def gsm8k_false_alarms(problems, examples: int, seed: int) -> dict:
    counts: Counter = Counter()
    flagged: list[dict] = []
    steps_total = 0
    start = time.perf_counter()
    for problem in problems:
        steps = list(problem.reference_steps)
        for step, verdict in zip(steps, label_steps(problem, steps)):
            steps_total += 1
            counts[f"{verdict.label}:{verdict.reason}"] += 1
            if verdict.label == "incorrect":
                flagged.append({"id": problem.id, "step": step, "reason": verdict.reason,
                                "detail": verdict.detail})
    seconds = time.perf_counter() - start
    incorrect = sum(c for k, c in counts.items() if k.startswith("incorrect:"))
    unknown = sum(c for k, c in counts.items() if k.startswith("unknown:"))
    rng = random.Random(seed)
    return {
        "problems": len(problems), "steps": steps_total,
        "flagged_incorrect": incorrect, "false_alarm_rate": incorrect / max(steps_total, 1),
        "unknown": unknown, "unknown_rate": unknown / max(steps_total, 1),
        "by_verdict": dict(sorted(counts.items())),
        "ms_per_step": 1000 * seconds / max(steps_total, 1),
        "examples": rng.sample(flagged, min(examples, len(flagged))),
    }


def processbench_eval(items, gsm_test) -> dict:
    by_question = {_norm(p.question): p for p in gsm_test}
    matched = [by_question.get(_norm(item.problem.question)) for item in items]
    out: dict = {"solutions": len(items),
                 "matched_to_gsm8k_test": sum(m is not None for m in matched)}
    for mode in ("no_answer", "reference_free", "reference_aware", "reference_aware_strict"):
        stats: Counter = Counter()
        for item, gold in zip(items, matched):
            problem = item.problem
            reference = None
            if mode != "no_answer" and gold is not None:
                problem = replace(problem, answer=gold.answer)
                if mode.startswith("reference_aware"):
                    reference = list(gold.reference_steps)
            verdicts = label_steps(problem, list(item.solution.steps), reference=reference)
            if mode == "reference_aware_strict":  # every progress miss counts as an error
                verdicts = [replace(v, label="incorrect") if v.reason == "progress" else v
                            for v in verdicts]
            predicted, label = _first_incorrect(verdicts), item.first_error
            stats["steps"] += len(verdicts)
            stats["unknown_steps"] += sum(v.label == "unknown" for v in verdicts)
            if label == -1:
                stats["correct_solutions"] += 1
                stats["correct_hit"] += predicted == -1
            else:
                stats["erroneous_solutions"] += 1
                stats["erroneous_hit"] += predicted == label
                stats["erroneous_early"] += 0 <= predicted < label
                stats["erroneous_late"] += predicted > label
                stats["erroneous_missed"] += predicted == -1
            if predicted >= 0:
                reason = verdicts[predicted].reason
                stats[f"flag_reason:{reason}"] += 1
                stats[f"flag_reason_hit:{reason}"] += predicted == label
        acc_err = stats["erroneous_hit"] / max(stats["erroneous_solutions"], 1)
        acc_cor = stats["correct_hit"] / max(stats["correct_solutions"], 1)
        f1 = 2 * acc_err * acc_cor / (acc_err + acc_cor) if acc_err + acc_cor else 0.0
        out[mode] = {"acc_err": acc_err, "acc_cor": acc_cor, "f1": f1,
                     "unknown_step_rate": stats["unknown_steps"] / max(stats["steps"], 1),
                     "counts": dict(sorted(stats.items()))}
    return out


def synthetic_truth(problem, new_steps: list[str], index: int, kind: str) -> int:
    """First wrong step of a perturbed synthetic solution, from the hidden chain in meta."""
    values, ops = problem.meta["values"], problem.meta["ops"]
    if kind == "dropped_step":  # new step `index` uses values[index + 1], produced by no step
        given = {values[0]} | {operand for _, operand in ops} | set(values[:index + 1])
        return -1 if values[index + 1] in given else index
    match = _SYNTH_EQ.search(new_steps[index])
    if match is None:
        return index
    a, op, b, c = int(match.group(1)), match.group(2), int(match.group(3)), int(match.group(4))
    want_op, operand = ops[index]
    if op == "/" and (b == 0 or a % b):
        return index
    same = (a, b) == (values[index], operand) or (op in "+*" and (b, a) == (values[index], operand))
    holds = op == want_op and same and apply_op(a, op, b) == c == values[index + 1]
    return -1 if holds else index


def synthetic_eval(per_split: int, seed: int) -> dict:
    problems = [p for split in SYNTHETIC_SPLITS for p in generate_split(split, per_split, seed)]
    rng = random.Random(seed)
    out: dict = {"problems": len(problems), "splits": list(SYNTHETIC_SPLITS)}
    reference_fa = sum(_first_incorrect(label_steps(p, list(p.reference_steps))) != -1
                       for p in problems)
    out["reference_solutions_flagged"] = reference_fa
    for kind in PERTURBATIONS:
        stats: Counter = Counter()
        for problem in problems:
            result = perturb_solution(problem, list(problem.reference_steps), kind, rng)
            if result is None:
                stats["not_applicable"] += 1
                continue
            new_steps, index = result
            truth = synthetic_truth(problem, new_steps, index, kind)
            stats["applied"] += 1
            stats["truth_error"] += truth != -1
            for mode, reference in (("reference_free", None),
                                    ("reference_aware", list(problem.reference_steps))):
                verdicts = label_steps(problem, new_steps, reference=reference)
                predicted = _first_incorrect(verdicts)
                stats[f"{mode}:agree"] += predicted == truth
                stats[f"{mode}:unknown_steps"] += sum(v.label == "unknown" for v in verdicts)
                if truth != -1:
                    stats[f"{mode}:detected_any_index"] += predicted != -1
                    if predicted == truth:
                        stats[f"{mode}:reason:{verdicts[predicted].reason}"] += 1
                else:
                    stats[f"{mode}:false_alarm"] += predicted != -1
        applied = max(stats["applied"], 1)
        out[kind] = {"applied": stats["applied"], "truth_errors": stats["truth_error"],
                     "agreement_reference_free": stats["reference_free:agree"] / applied,
                     "agreement_reference_aware": stats["reference_aware:agree"] / applied,
                     "counts": dict(sorted(stats.items()))}
    return out


def _fmt_pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", type=Path, default=None,
                        help="folder holding gsm8k/ and processbench/ (default: shared/data)")
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON")
    parser.add_argument("--synthetic-per-split", type=int, default=200)
    parser.add_argument("--examples", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=None, help="first N GSM8K problems only")
    parser.add_argument("--only", action="append", choices=SECTIONS, default=None,
                        help="run only this section (repeatable)")
    args = parser.parse_args(argv)
    root = args.data_root or default_data_root()
    if root is None or not (root / "gsm8k").is_dir():
        print(f"no data root with gsm8k/ found ({root}); pass --data-root", file=sys.stderr)
        return 2
    train = load_gsm8k(root / "gsm8k" / "train.jsonl")
    test = load_gsm8k(root / "gsm8k" / "test.jsonl")
    results: dict = {"data_root": str(root)}
    sections = set(args.only or SECTIONS)
    if "gsm8k" in sections:
        _report_gsm8k(results, train + test, args)
    if "processbench" in sections:
        _report_processbench(results, root, test)
    if "synthetic" in sections:
        _report_synthetic(results, args)
    if args.out:
        write_json(args.out, results)
        print(f"wrote {args.out}")
    return 0


def _report_gsm8k(results: dict, problems, args) -> None:
    gsm = gsm8k_false_alarms(problems[:args.limit], args.examples, args.seed)
    results["gsm8k_reference_false_alarms"] = gsm
    print(f"GSM8K reference steps: {gsm['steps']} steps of {gsm['problems']} problems, "
          f"flagged incorrect {gsm['flagged_incorrect']} ({_fmt_pct(gsm['false_alarm_rate'])}), "
          f"unknown {gsm['unknown']} ({_fmt_pct(gsm['unknown_rate'])}), "
          f"{gsm['ms_per_step']:.2f} ms/step")
    for key, count in gsm["by_verdict"].items():
        print(f"  {key:28s} {count}")
    for ex in gsm["examples"]:
        print(f"  false alarm [{ex['reason']}] {ex['step'][:110]!r} -- {ex['detail'][:70]}")


def _report_processbench(results: dict, root: Path, test) -> None:
    items = load_processbench(root / "processbench" / "gsm8k.json")
    pb = processbench_eval(items, test)
    results["processbench_gsm8k"] = pb
    print(f"ProcessBench gsm8k: {pb['solutions']} solutions, matched to GSM8K test: "
          f"{pb['matched_to_gsm8k_test']}")
    for mode in ("no_answer", "reference_free", "reference_aware", "reference_aware_strict"):
        m = pb[mode]
        print(f"  {mode:22s} acc_err {_fmt_pct(m['acc_err'])}  acc_cor {_fmt_pct(m['acc_cor'])}"
              f"  F1 {100 * m['f1']:.1f}  unknown steps {_fmt_pct(m['unknown_step_rate'])}")
    print("  published F1: Math-Shepherd-PRM-7B 47.9, RLHFlow-PRM-Mistral-8B 50.4, "
          "Qwen2.5-Math-7B-PRM800K 68.2")


def _report_synthetic(results: dict, args) -> None:
    syn = synthetic_eval(args.synthetic_per_split, args.seed)
    results["synthetic_perturbations"] = syn
    print(f"Synthetic: {syn['problems']} problems ({', '.join(syn['splits'])}); reference "
          f"solutions flagged: {syn['reference_solutions_flagged']}")
    for kind in PERTURBATIONS:
        k = syn[kind]
        print(f"  {kind:14s} applied {k['applied']:5d}  truth errors {k['truth_errors']:5d}  "
              f"agreement ref-free {_fmt_pct(k['agreement_reference_free'])}  "
              f"ref-aware {_fmt_pct(k['agreement_reference_aware'])}")


if __name__ == "__main__":
    sys.exit(main())
