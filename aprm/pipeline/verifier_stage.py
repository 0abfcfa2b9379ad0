"""Stage: the verifier LM, the body whose surprise every PRM reads (`train.verifier`).

The trained solver, SFT-continued on a fresh draw of synthetic ID training problems, each read
once, with `drill_batch_size` equation drills per step (aprm.models.solver). The draw is the
`train` split's bucket under a seed derived from the run's, so none of its problems can be a
validation or test problem (aprm.data.synthetic: splits own disjoint buckets of chains)."""

from __future__ import annotations

from pathlib import Path

from aprm.data.families import family_specs
from aprm.data.synthetic import generate_split
from aprm.hashing import derived_seed
from aprm.models.loading import load_causal_lm
from aprm.models.solver import train_solver
from aprm.pipeline.common import seed_everything


def train_verifier_stage(solver_dir: str, data_cfg: dict, train_cfg: dict, seed: int, out_dir: Path,
                         threads: int | None = None) -> dict:
    """Writes `out_dir/model` (the verifier LM and the solver's tokenizer)."""
    problems = int(train_cfg["problems"])
    if problems <= 0:
        raise ValueError("train.verifier.problems is 0: the PRMs read the solver itself, no stage to run")
    if data_cfg.get("source", "synthetic") != "synthetic":
        raise ValueError(f"train.verifier.problems={problems} needs fresh problems, which only "
                         f"data.source=synthetic can draw (got {data_cfg.get('source')!r}); set it to 0")
    seed_everything(seed, threads)
    fresh = generate_split("train", problems, derived_seed(seed, "verifier-problems"),
                           family_specs(data_cfg.get("families")))
    model, tokenizer = load_causal_lm(solver_dir)
    sft = {key: value for key, value in train_cfg.items() if key != "problems"}
    return train_solver(fresh, tokenizer, model, {**sft, "seed": seed}, out_dir / "model")
