"""experiment=eval_prm: a PRM saved locally in the Math-Shepherd or the Qwen2.5-Math-PRM format,
scored on ProcessBench and best-of-N over a sample file, training nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from aprm.models.adapters import MATH_SHEPHERD_STEP_TAG, QWEN_STEP_TOKEN

TINY = {"kind": "tiny", "hidden_size": 32, "num_layers": 1, "num_heads": 2, "intermediate_size": 64,
        "max_position_embeddings": 2048}
CHATML = ("{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] "
          "+ '<|im_end|>' + '\n' }}{% endfor %}")
PROBLEMS = [("Ann has 3 pens and buys 4 more. How many pens does she have?", "7"),
            ("Bo has 10 cards and gives away 6. How many cards are left?", "4"),
            ("A box holds 5 eggs. How many eggs are in 3 boxes?", "15")]


def _corpus() -> list[str]:
    return [q for q, _ in PROBLEMS] + ["Step 1: + - The answer is 0123456789 system user assistant"] * 3


@pytest.fixture(scope="module")
def saved_prms(tmp_path_factory):
    """{format: folder} of tiny PRMs saved with save_pretrained, as a hub download would be."""
    import torch

    from aprm.models.factory import build_model
    from aprm.models.tokenizer import train_tokenizer

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("prms")
    shepherd_tok = train_tokenizer(_corpus())
    shepherd_tok.add_tokens([MATH_SHEPHERD_STEP_TAG])
    shepherd = build_model("solver", {**TINY, "arch": "llama"}, shepherd_tok, seed=1)
    qwen_tok = train_tokenizer(_corpus())
    qwen_tok.add_tokens([QWEN_STEP_TOKEN, "<|im_start|>", "<|im_end|>"], special_tokens=True)
    qwen_tok.chat_template = CHATML
    qwen = build_model("prm", {**TINY, "arch": "qwen2"}, qwen_tok, seed=2)
    folders = {}
    for name, model, tok in [("math_shepherd", shepherd, shepherd_tok), ("qwen_prm", qwen, qwen_tok)]:
        folders[name] = root / f"tiny-{name}"
        model.save_pretrained(folders[name])
        tok.save_pretrained(folders[name])
    return folders


@pytest.fixture(scope="module")
def user_samples(tmp_path_factory) -> Path:
    """Two samples per problem in the user format (no labels: the loader derives them)."""
    path = tmp_path_factory.mktemp("samples") / "mine.jsonl"
    rows = []
    for question, answer in PROBLEMS:
        wrong = str(int(answer) + 1)
        rows.append({"problem": {"question": question, "answer": answer}, "samples": [
            {"steps": [f"It is {answer}.", f"The answer is {answer}."]},
            {"steps": [f"It is {wrong}.", f"The answer is {wrong}."]}]})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_user_samples_get_answers_outcomes_and_oracle_labels(user_samples):
    from aprm.pipeline.stored_samples import load_stored_samples

    rows = load_stored_samples(user_samples)
    assert [r["problem"]["id"] for r in rows] == ["line-1", "line-2", "line-3"]
    right, wrong = rows[0]["samples"]
    assert (right["final_answer"], right["correct"], wrong["final_answer"], wrong["correct"]) == ("7", True, "8", False)
    assert all(s["truncated"] is False and s["first_error"] >= -1 for r in rows for s in r["samples"])


def test_a_bad_sample_line_names_file_line_and_field(tmp_path):
    from aprm.data.errors import DataError
    from aprm.pipeline.stored_samples import load_stored_samples

    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"problem": {"question": "q?", "answer": "1"}, "samples": [{"steps": ["a"]}]}) + "\n"
                    + json.dumps({"problem": {"question": "q?", "answer": "1"}, "samples": [{"steps": "a"}]}) + "\n")
    with pytest.raises(DataError, match=r"bad\.jsonl, line 2, field 'steps'"):
        load_stored_samples(path)


@pytest.mark.parametrize("prm_format, wrong", [("math_shepherd", "qwen_prm"), ("qwen_prm", "math_shepherd")])
def test_a_format_that_does_not_match_the_model_names_model_prm_format(saved_prms, prm_format, wrong):
    from aprm.models.prm_formats import PRMFormatError, check_format

    check_format(str(saved_prms[prm_format]), prm_format)
    with pytest.raises(PRMFormatError, match=rf"model\.prm_format={wrong}: .*tiny-{prm_format}"):
        check_format(str(saved_prms[prm_format]), wrong)
    with pytest.raises(PRMFormatError, match=r"model\.prm_format=native: .*(not a|not aprm|not one)"):
        check_format(str(saved_prms[prm_format]), "native")


def test_the_cli_refuses_a_mismatched_format_before_any_stage(saved_prms, tmp_path):
    home = tmp_path / "home"
    out = subprocess.run([sys.executable, "-m", "flows.cli", "experiment=eval_prm",
                          f"model.prm={saved_prms['math_shepherd']}", "model.prm_format=qwen_prm",
                          f"paths.home={home}"], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert out.returncode == 2, out.stderr
    assert "model.prm_format=qwen_prm:" in out.stderr and "Traceback" not in out.stderr
    assert not home.exists()


@pytest.mark.slow
@pytest.mark.parametrize("prm_format", ["math_shepherd", "qwen_prm"])
def test_eval_prm_scores_processbench_and_best_of_n_without_training(prefect_server, data_root, saved_prms,
                                                                     user_samples, prm_format, tmp_path):
    from aprm.eval.results import load_results
    from flows.pipeline import aprm_pipeline

    summary = aprm_pipeline(overrides=[
        "experiment=eval_prm", f"model.prm={saved_prms[prm_format]}", f"model.prm_format={prm_format}",
        f"eval_prm.samples={user_samples}", "eval.processbench_splits=[gsm8k]", f"paths.home={tmp_path}"])
    name = f"tiny-{prm_format}"
    stages = {s["name"].split("[")[0] for s in summary["stages"]}
    assert stages == {"processbench", "stored-samples", "evaluate", "report"}  # nothing trained or sampled
    results = load_results(summary["results"])
    assert results["methods"] == [name] and results["suites"] == ["samples", "processbench-gsm8k"]
    runs = {r["suite"]: r for r in results["runs"]}
    assert runs["samples"]["n_max"] == 2 and set(runs["samples"]["best_of_n"]) == {"last", "min", "prod"}
    assert runs["samples"]["pass_at"]["2"] == 1.0 and runs["samples"]["counts"]["samples"] == 6
    n_rows = len(json.loads((data_root / "processbench" / "gsm8k.json").read_text()))
    assert runs["processbench-gsm8k"]["first_error"]["n"] == n_rows
    report = Path(summary["report"]).read_text()
    table = report[report.index("### ProcessBench"):]
    assert f"| {name} |" in table and "| Math-Shepherd-PRM-7B (published) | 47.9 |" in table


def test_the_dry_run_lists_what_eval_prm_would_score(saved_prms, user_samples, data_root):
    from flows.config import compose_config
    from flows.dry_run import dry_run

    cfg = compose_config(["experiment=eval_prm", f"model.prm={saved_prms['qwen_prm']}", "model.prm_format=qwen_prm",
                          f"eval_prm.samples={user_samples}", "eval.processbench_splits=[gsm8k]"])
    text = dry_run(cfg)
    assert "suites:  ['samples', 'processbench-gsm8k'] (best-of-N on" in text
    assert f"model.prm  {saved_prms['qwen_prm']}  [local path]" in text
    assert "eval_prm.samples" in text and "data_paths.processbench_dir [gsm8k]" in text
    assert "train-solver" not in text


def test_a_solution_the_format_cannot_read_scores_zero_and_is_counted(saved_prms):
    from aprm.models.prm_formats import load_scorer
    from aprm.schema import Problem

    scorer = load_scorer(str(saved_prms["math_shepherd"]), "math_shepherd", batch_size=2)
    problem = Problem(id="p", question=PROBLEMS[0][0], answer="7")
    scores = scorer.score_batch([(problem, ["It is 7.", "The answer is 7."]),
                                 (problem, [f"a step holding the tag {MATH_SHEPHERD_STEP_TAG}", "The answer is 7."]),
                                 (problem, ["It is 7. " * 400])])  # longer than the window
    assert len(scores[0]) == 2 and all(0.0 < s < 1.0 for s in scores[0])
    assert scores[1:] == [[0.0, 0.0], [0.0]] and scorer.n_overflowed == 2
