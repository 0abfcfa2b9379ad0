"""Determinism: one config and seed give the same results in another home and another process,
whether the fanned-out stages run in threads or in worker processes; another seed gives other
samples."""

from __future__ import annotations

import pytest
from pipeline_helpers import SMOKE, canonical_results, results_path, run_cli, stage_states


@pytest.mark.slow
def test_two_fresh_smoke_runs_give_identical_results(smoke_run, tmp_path):
    home_a, first = smoke_run  # run in this process (the flow called directly), fan-out in threads
    home_b = tmp_path / "home"
    # A fresh interpreter (its own hash seed and thread pools), the tokenizer trained with the
    # tokenizers library's default parallelism, which the test session switches off, and the
    # fan-out (sampling, MC rollouts, evaluation, cross-play) in spawned worker processes. The
    # runner enters no config hash: both runs write the same results file.
    code, log = run_cli([*SMOKE, "runner.kind=processes"], home_b, unset=("TOKENIZERS_PARALLELISM",))
    assert code == 0, log[-4000:]
    assert all(stage_states(log).get(name) == "ran" for name in ("sample-solutions[id,seed=0]", "evaluate[aprm,id,seed=0]"))
    a = canonical_results(results_path(home_a, first["config_hash"]), home_a)
    b = canonical_results(results_path(home_b, first["config_hash"]), home_b)
    assert a == b
    assert '"best_of_n"' in a and '"rounds"' in a  # the comparison covered the evaluated runs


def test_sampling_stage_is_seeded(tmp_path):
    """The sampling stage (seed_everything + hf backend + oracle labels) writes byte-identical
    samples for one seed and different samples for another."""
    from aprm.data import generate_split
    from aprm.models.factory import build_model
    from aprm.models.solver import format_prompt, format_solution, save_atomically
    from aprm.models.tokenizer import train_tokenizer
    from aprm.pipeline.samples_stage import sample_suite_stage

    problems = generate_split("train", 6, seed=0)
    tok = train_tokenizer(format_prompt(p) + format_solution(p.reference_steps) for p in problems)
    model = build_model("solver", {"kind": "tiny", "arch": "llama", "hidden_size": 32, "num_layers": 1,
                                   "num_heads": 2, "intermediate_size": 64,
                                   "max_position_embeddings": 256}, tok, seed=0)
    solver_dir = save_atomically(model, tok, tmp_path / "solver")
    eval_cfg = {"n_samples": 2, "temperature": 1.0, "top_p": 1.0, "max_new_tokens": 16}
    backend_cfg = {"name": "hf", "batch_size": 4, "device": "cpu"}

    def sample(seed: int, name: str) -> bytes:
        sample_suite_stage(str(solver_dir), problems, eval_cfg, backend_cfg, seed, tmp_path / name, threads=1)
        return (tmp_path / name).read_bytes()

    seed0 = sample(0, "a.jsonl")
    assert sample(0, "b.jsonl") == seed0
    assert sample(1, "c.jsonl") != seed0
