"""Stage: Math-Shepherd style Monte-Carlo step labels from solver rollouts.

For each pool solution and each step prefix steps[:i+1], K solver rollouts continue from the
prefix; the step's estimate is the fraction of rollouts that reach the right answer (soft) or
whether any does (hard, applied when training). The last step needs no rollout: its estimate is
the solution's own outcome.
"""

from __future__ import annotations

from pathlib import Path

from aprm.io import write_jsonl
from aprm.pipeline.common import seed_everything
from aprm.pipeline.samples_stage import is_correct, read_samples


def mc_rollout_stage(solver_dir: str, pool_path: str, mc_cfg: dict, eval_cfg: dict, seed: int,
                     out_path: Path, threads: int | None = None) -> dict:
    from aprm.models.loading import load_causal_lm
    from aprm.models.solver import sample_solutions

    seed_everything(seed, threads)
    per_problem = int(mc_cfg["samples_per_problem"])
    chosen = [(problem, sample) for problem, samples in read_samples(pool_path)
              for sample in samples[:per_problem] if sample["steps"] and not sample["truncated"]]
    requests = [(index, step) for index, (_, sample) in enumerate(chosen)
                for step in range(len(sample["steps"]) - 1)]
    # A rollout's random stream is keyed by (problem, prefix, k), so two samples of a problem that
    # begin alike (a confident solver's usually do: 43% of the benchmark's prefixes) would draw the
    # very same rollouts: each distinct prefix is rolled out once.
    prefix_of = [(chosen[i][0].id, tuple(chosen[i][1]["steps"][: step + 1])) for i, step in requests]
    distinct: dict[tuple, int] = {}  # each prefix -> its first request
    for i, key in enumerate(prefix_of):
        distinct.setdefault(key, i)
    firsts = list(distinct.values())
    model, tokenizer = load_causal_lm(solver_dir)
    drawn_once = sample_solutions(
        model, tokenizer, [chosen[requests[r][0]][0] for r in firsts], n=int(mc_cfg["rollouts"]),
        temperature=float(eval_cfg["temperature"]), top_p=float(eval_cfg["top_p"]),
        max_new_tokens=int(eval_cfg["max_new_tokens"]), seed=seed,
        prefixes=[list(prefix_of[r][1]) for r in firsts], desc="MC rollouts",
    ) if requests else []
    rollouts = dict(zip(firsts, drawn_once))
    accuracy = [[0.0] * (len(sample["steps"]) - 1) + [float(sample["correct"])] for _, sample in chosen]
    for (index, step), key in zip(requests, prefix_of):
        drawn = rollouts[distinct[key]]
        problem = chosen[index][0]
        hits = sum(is_correct(r.final_answer, problem.answer) and not r.truncated for r in drawn)
        accuracy[index][step] = hits / len(drawn)
    rows = [{"problem": problem.to_dict(), "steps": sample["steps"], "rollout_accuracy": acc}
            for (problem, sample), acc in zip(chosen, accuracy)]
    write_jsonl(out_path, rows)
    steps = [a for acc in accuracy for a in acc]
    return {"solutions": len(rows), "rollouts": len(firsts) * int(mc_cfg["rollouts"]),
            "shared_prefixes": len(requests) - len(firsts),
            "mean_step_estimate": sum(steps) / max(len(steps), 1),
            "hard_negative_rate": sum(a == 0 for a in steps) / max(len(steps), 1)}
