"""experiment=first_look, the README's first look, through the real Prefect flow and MLflow store:
every method on an easier ID domain, accuracies not zero, and the static PRM ahead of the first
sample (docs/LOG.md, 2026-12-04, session 9: 2 min 44 s on 2 cores)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow


def test_first_look_verifies_on_id(prefect_server, tmp_path):
    from aprm.eval.results import load_results
    from flows.pipeline import aprm_pipeline

    summary = aprm_pipeline(overrides=["experiment=first_look", f"paths.home={tmp_path}"])
    results = load_results(summary["results"])
    assert results["methods"] == ["aprm", "static", "mc", "orm", "likelihood", "advrm"]
    runs = {r["method"]: r for r in results["runs"] if r["suite"] == "id"}
    static = runs["static"]
    assert static["n_max"] == 8 and static["counts"]["samples"] == 800
    pass1, best, majority = static["pass_at"]["1"], static["best_of_n"]["min"]["8"], static["majority"]["8"]
    assert pass1 >= 0.10, pass1  # the solver solves some problems ...
    assert static["pass_at"]["8"] >= pass1 + 0.30  # ... and leaves room for a reranker
    assert best >= pass1 + 0.08 and best > majority, (best, pass1, majority)
    assert runs["likelihood"]["best_of_n"]["min"]["8"] > pass1
