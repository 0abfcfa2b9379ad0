"""ProcessBench as a suite of the run: human step labels in, every method's first-error F1 and
the oracle's out, beside the published PRMs' figures in the report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aprm.pipeline.processbench_stage import processbench_suite_stage
from aprm.pipeline.samples_stage import read_samples

QUESTION = "Sam has 3 apples and buys 4 more apples. How many apples does Sam have now?"


def row(ident: int, steps: list[str], label: int) -> dict:
    return {"id": f"gsm8k-{ident}", "generator": "test", "problem": QUESTION, "steps": steps,
            "final_answer_correct": label == -1, "label": label}


def test_a_split_becomes_one_labelled_sample_per_problem_and_the_oracle_is_scored(tmp_path):
    rows = [row(0, ["Sam has 3 + 4 = 8 apples.", "The answer is \\boxed{8}."], 0),   # the oracle sees it
            row(1, ["Sam has 3 + 4 = 7 apples.", "The answer is \\boxed{7}."], -1),
            # wrong by the label (half an apple), right by arithmetic: the oracle finds nothing
            row(2, ["Sam has 3 + 4 = 7 apples.", "He gives half away: 7 / 2 = 3.5.", "The answer is \\boxed{3.5}."], 1)]
    (tmp_path / "gsm8k.json").write_text(json.dumps(rows))
    out = tmp_path / "samples.jsonl"
    metrics = processbench_suite_stage({"processbench_dir": str(tmp_path)}, "gsm8k", "raise", out)

    assert metrics["solutions"] == 3 and metrics["erroneous"] == 2 and metrics["skipped_rows"] == 0
    oracle = metrics["oracle_first_error"]
    assert (oracle["acc_err"], oracle["acc_cor"], oracle["n"]) == (0.5, 1.0, 3)
    assert oracle["f1"] == pytest.approx(2 * 0.5 * 1.0 / 1.5)
    written = read_samples(out)
    assert [len(samples) for _, samples in written] == [1, 1, 1]
    assert [s["first_error"] for _, (s,) in written] == [0, -1, 1]
    assert [s["correct"] for _, (s,) in written] == [False, True, False]
    assert written[2][1][0]["final_answer"] == "3.5" and written[2][0].question == QUESTION


def test_a_bad_row_is_skipped_and_counted_or_names_its_field(tmp_path):
    from aprm.data.errors import DataError

    (tmp_path / "gsm8k.json").write_text(json.dumps([row(0, ["a"], 5), row(1, ["3 + 4 = 7"], -1)]))
    with pytest.raises(DataError, match="label"):
        processbench_suite_stage({"processbench_dir": str(tmp_path)}, "gsm8k", "raise", tmp_path / "s.jsonl")
    assert not (tmp_path / "s.jsonl").exists()
    metrics = processbench_suite_stage({"processbench_dir": str(tmp_path)}, "gsm8k", "skip", tmp_path / "s.jsonl")
    assert metrics["solutions"] == 1 and metrics["skipped_rows"] == 1 and "label" in metrics["skip_reasons"][0]


@pytest.mark.slow
def test_every_method_is_scored_on_processbench_beside_the_published_prms(data_root, tmp_path):
    from aprm.eval.results import load_results
    from aprm.hashing import code_version
    from aprm.pipeline.plan import run_plan
    from aprm.pipeline.runner_hook import InMemoryRunner
    from flows.config import compose_config, method_config, method_names

    cfg = compose_config(["experiment=smoke", "eval.processbench_splits=[gsm8k]", f"paths.home={tmp_path}"])
    games = {method: method_config(method, cfg) for method in method_names(cfg)}
    plan = run_plan(cfg, games, InMemoryRunner(), tmp_path / "artifacts", code_version(), "pbtest", "test")
    results = load_results(plan.report_paths["results"])
    n_rows = len(json.loads((data_root / "processbench" / "gsm8k.json").read_text()))

    assert results["suites"] == ["id", "processbench-gsm8k"]
    labelled = [r for r in results["runs"] if r["suite"] == "processbench-gsm8k"]
    assert sorted(r["method"] for r in labelled) == sorted(results["methods"])
    for run in labelled:
        assert run["n_max"] == 0 and run["best_of_n"] == {}  # no gold answers: no selection
        fe = run["first_error"]
        assert fe["n"] == n_rows and fe["n_err"] + fe["n_cor"] == n_rows and 0.0 <= fe["f1"] <= 1.0
    (oracle,) = results["references"]
    assert oracle["name"] == "oracle" and oracle["first_error"]["n"] == n_rows
    assert oracle["first_error"]["acc_cor"] > 0.9  # it flags only what it can prove wrong

    report = Path(plan.report_paths["markdown"]).read_text()
    table = report[report.index("### ProcessBench"):]
    assert "| oracle (this run) |" in table and "| Qwen2.5-Math-PRM-7B (published) | 82.4 |" in table
    for method in results["methods"]:
        assert f"| {method} |" in table
