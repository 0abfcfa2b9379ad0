"""Loaders on the real files in shared/data, and on bad input written to tmp_path."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from aprm.data import (
    DataError, SkipLog, build_splits, default_data_root, load_gsm8k, load_math500,
    load_processbench, load_processbench_split, load_svamp, parse_annotations, resolve_data_path,
)
from aprm.data.records import MAX_LINE_BYTES
from aprm.data.svamp import float_answer_text

ROOT = default_data_root()
needs_data = pytest.mark.skipif(
    ROOT is None or not (ROOT / "gsm8k" / "train.jsonl").is_file(),
    reason=f"real data not found (default_data_root() -> {ROOT}); set APRM_DATA_ROOT to shared/data",
)


@pytest.fixture(scope="module")
def gsm8k_train():
    return load_gsm8k(ROOT / "gsm8k" / "train.jsonl")


@pytest.fixture(scope="module")
def gsm8k_test():
    return load_gsm8k(ROOT / "gsm8k" / "test.jsonl")


# ---------------------------------------------------------------- real files

@needs_data
def test_gsm8k_rows_known_row_and_annotations(gsm8k_train, gsm8k_test):
    assert len(gsm8k_train) == 7473 and len(gsm8k_test) == 1319
    first = gsm8k_train[0]
    assert first.id == "gsm8k-train-1"
    assert first.question.startswith("Natalia sold clips to 48 of her friends in April")
    assert first.answer == "72"
    assert first.reference_steps == (
        "Natalia sold 48/2 = <<48/2=24>>24 clips in May.",
        "Natalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.",
    )
    assert first.meta["annotations"] == [[["48/2", "24"]], [["48+24", "72"]]]
    # annotation totals from the data README
    assert sum(len(a) for p in gsm8k_train for a in p.meta["annotations"]) == 23716
    assert sum(len(a) for p in gsm8k_test for a in p.meta["annotations"]) == 4282
    assert all(len(p.meta["annotations"]) == len(p.reference_steps) for p in gsm8k_test)
    assert not any("####" in s for p in gsm8k_test for s in p.reference_steps)


@needs_data
def test_gsm8k_answers_drop_thousands_commas(gsm8k_train, gsm8k_test):
    assert gsm8k_train[345].answer == "1080"  # line 346: "#### 1,080"
    assert gsm8k_train[367].answer == "850000"  # line 368: "#### 850,000"
    assert gsm8k_test[201].answer == "114200"  # line 202: "#### 114,200"
    assert gsm8k_train[5715].answer == "-7"
    assert all(p.answer.lstrip("-").isdigit() for p in gsm8k_train + gsm8k_test)
    assert sum(int(p.answer) >= 1000 for p in gsm8k_train) >= 79


@needs_data
def test_math500_known_row_and_counts():
    rows = load_math500(ROOT / "math500" / "test.jsonl")
    assert len(rows) == 500
    first = rows[0]
    assert first.id == "math500-test/precalculus/807.json"
    assert first.answer == "\\left( 3, \\frac{\\pi}{2} \\right)"
    assert first.meta == {"source": "math500", "subject": "Precalculus", "level": 2,
                          "unique_id": "test/precalculus/807.json"}
    assert first.reference_steps == (
        "We have that $r = \\sqrt{0^2 + 3^2} = 3.$",
        "Also, if we draw the line connecting the origin and $(0,3),$ this line makes an angle "
        "of $\\frac{\\pi}{2}$ with the positive $x$-axis.",
        "Therefore, the polar coordinates are $\\boxed{\\left( 3, \\frac{\\pi}{2} \\right)}.$",
    )
    subjects = Counter(p.meta["subject"] for p in rows)
    assert subjects["Algebra"] == 124 and subjects["Counting & Probability"] == 38
    assert Counter(p.meta["level"] for p in rows)[5] == 134
    steps = [s for p in rows for s in p.reference_steps]
    assert all(s and "\n" not in s and "[asy]" not in s for s in steps)
    assert all(p.reference_steps for p in rows)


@needs_data
def test_svamp_known_row_and_counts():
    rows = load_svamp(ROOT / "svamp" / "SVAMP.json")
    assert len(rows) == 1000
    first = rows[0]
    assert first.id == "svamp-chal-1"
    assert first.question == ("Each pack of dvds costs 76 dollars. If there is a discount of 25 "
                              "dollars on each pack. How much do you have to pay to buy each pack?")
    assert first.answer == "51"
    assert first.meta["equation"] == "( 76.0 - 25.0 )" and first.meta["type"] == "Subtraction"
    assert Counter(p.meta["type"] for p in rows)["Subtraction"] == 531
    assert float_answer_text(51.0) == "51" and float_answer_text(2.5) == "2.5"
    assert float_answer_text(0.1) == "0.1" and float_answer_text(1e-05) == "0.00001"


@needs_data
def test_processbench_splits_labels_and_known_row():
    expected = {"gsm8k": (400, 207), "math": (1000, 594), "olympiadbench": (1000, 661),
                "omnimath": (1000, 759)}
    for split, (rows, erroneous) in expected.items():
        items = load_processbench_split({}, split)
        assert len(items) == rows, split
        assert sum(x.first_error >= 0 for x in items) == erroneous, split
        assert sum(x.problem.meta["final_answer_correct"] for x in items) == rows // 2
    first = load_processbench_split({}, "gsm8k")[0]
    assert first.problem.id == "processbench-gsm8k-0" and first.problem.answer == ""
    assert first.first_error == 1 and len(first.solution.steps) == 4
    assert first.problem.meta["generator"] == "Qwen2-7B-Instruct"
    assert first.problem.meta["final_answer_correct"] is False
    assert first.solution.final_answer == "30"


@needs_data
def test_build_splits_from_gsm8k_is_seeded_and_disjoint():
    cfg = {"source": "gsm8k", "train_size": 200, "val_size": 50, "test_size": 30,
           "suites": ["gsm8k", "svamp", "math500"], "on_error": "raise",
           "paths": {"gsm8k_train": None, "gsm8k_test": None}}
    a, b, c = build_splits(cfg, 0), build_splits(cfg, 0), build_splits(cfg, 1)
    assert a.to_dict() == b.to_dict()
    assert (len(a.train), len(a.val)) == (200, 50)
    assert {k: len(v) for k, v in a.suites.items()} == {"gsm8k": 30, "svamp": 30, "math500": 30}
    assert not {p.question for p in a.train} & {p.question for p in a.val}
    assert {p.id for p in a.val} != {p.id for p in c.val}
    assert all(p.id.startswith("gsm8k-train-") for p in a.train + a.val)
    assert all(p.id.startswith("gsm8k-test-") for p in a.suites["gsm8k"])
    everything = build_splits(dict(cfg, train_size=None, test_size=None, suites=["svamp"]), 0)
    assert len(everything.train) == 7473 - 50 and len(everything.suites["svamp"]) == 1000


# ---------------------------------------------------------------- bad input

def gsm8k_line(question="Q?", answer="a\n#### 5") -> str:
    return json.dumps({"question": question, "answer": answer})


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_broken_json_line_names_file_and_line_or_is_skipped(tmp_path):
    lines = [gsm8k_line(f"Q{i}?", f"step\n#### {i}") for i in range(5)]
    lines[2] = '{"question": "Q2?", "answer": '  # truncated JSON on line 3
    path = write_lines(tmp_path / "train.jsonl", lines)
    with pytest.raises(DataError, match=r"train\.jsonl, line 3: invalid JSON") as err:
        load_gsm8k(path)
    assert err.value.path == str(path) and err.value.where == "line 3"
    skips = SkipLog()
    rows = load_gsm8k(path, on_error="skip", skips=skips)
    assert [p.answer for p in rows] == ["0", "1", "3", "4"]
    assert [p.id for p in rows][2] == "gsm8k-train-4"
    assert skips.skipped == 1 and "line 3" in skips.reasons[0]


def test_missing_field_wrong_type_and_unparseable_answer(tmp_path):
    cases = {
        json.dumps({"question": "Q?"}): r"line 1, field 'answer': missing field",
        json.dumps({"question": 5, "answer": "a\n#### 1"}): r"field 'question': expected a string",
        gsm8k_line(answer="a\n#### twelve"): r"field 'answer': final answer .* not a number",
        gsm8k_line(answer="no marker"): r"field 'answer': expected exactly one '####'",
        "[1, 2]": r"line 1: expected a JSON object",
    }
    for i, (line, message) in enumerate(cases.items()):
        path = write_lines(tmp_path / f"bad{i}.jsonl", [line])
        with pytest.raises(DataError, match=message):
            load_gsm8k(path)
        assert load_gsm8k(path, on_error="skip") == []


def test_answer_with_commas_and_annotations_parse(tmp_path):
    path = write_lines(tmp_path / "t.jsonl", [gsm8k_line(
        "How many?", "He has 1,000*2 = <<1000*2=2000>>2000.\nSo <<2000+80=2080>>2080.\n#### 2,080")])
    (row,) = load_gsm8k(path, split="dev")
    assert row.id == "gsm8k-dev-1" and row.answer == "2080"
    assert row.meta["annotations"] == [[["1000*2", "2000"]], [["2000+80", "2080"]]]
    assert parse_annotations("x <<no equals>> y <<3-1=2>>") == [["3-1", "2"]]


def test_line_over_one_megabyte_is_a_bad_row_not_a_crash(tmp_path):
    huge = gsm8k_line("x" * (MAX_LINE_BYTES + 10))
    path = write_lines(tmp_path / "big.jsonl", [gsm8k_line(), huge, gsm8k_line(answer="b\n#### 7")])
    with pytest.raises(DataError, match=r"line 2: line longer than 1000000 bytes"):
        load_gsm8k(path)
    skips = SkipLog()
    rows = load_gsm8k(path, on_error="skip", skips=skips)
    assert [(p.id, p.answer) for p in rows] == [("gsm8k-big-1", "5"), ("gsm8k-big-3", "7")]
    assert skips.skipped == 1


def processbench_row(i: int, label: int, steps=("a", "b")) -> dict:
    return {"id": f"pb-{i}", "generator": "g", "problem": "P", "steps": list(steps),
            "final_answer_correct": label == -1, "label": label}


def test_processbench_label_out_of_range_is_a_bad_row(tmp_path):
    path = tmp_path / "gsm8k.json"
    path.write_text(json.dumps([processbench_row(0, -1), processbench_row(1, 2),
                                processbench_row(2, 1, ("x\n- y", "z \\boxed{4}"))]))
    with pytest.raises(DataError, match=r"element 1 \(0-based index in the JSON array\), "
                                        r"field 'label': 2 is outside \[-1, 1\]"):
        load_processbench(path)
    skips = SkipLog()
    items = load_processbench(path, on_error="skip", skips=skips)
    assert [x.first_error for x in items] == [-1, 1] and skips.skipped == 1
    assert items[1].solution.steps == ("x - y", "z \\boxed{4}")
    assert items[1].solution.final_answer == "4"
    assert load_processbench_split({"processbench_dir": str(tmp_path)}, "gsm8k",
                                   on_error="skip")[0].problem.meta["split"] == "gsm8k"


def test_processbench_wrong_types_and_broken_array(tmp_path):
    path = tmp_path / "math.json"
    bad_bool = dict(processbench_row(0, -1), label=True)
    bad_steps = dict(processbench_row(1, -1), steps=[])
    path.write_text(json.dumps([bad_bool, bad_steps, "not an object"]))
    skips = SkipLog()
    assert load_processbench(path, on_error="skip", skips=skips) == []
    assert skips.skipped == 3
    assert "field 'label': expected an integer" in skips.reasons[0]
    assert "field 'steps': expected a non-empty list" in skips.reasons[1]
    path.write_text('[{"id": "x",\n  oops}]')
    with pytest.raises(DataError, match=r"math\.json, line 2 column 3: invalid JSON"):
        load_processbench(path, on_error="skip")  # a file that is not JSON cannot be skipped row-wise


def test_svamp_bad_answers(tmp_path):
    good = {"ID": "c1", "Body": "Ann has 3 pens", "Question": "How many?", "Equation": "( 3.0 )",
            "Answer": 3.0, "Type": "Addition"}
    path = tmp_path / "SVAMP.json"
    path.write_text(json.dumps([good, dict(good, Answer="3"), dict(good, Answer=float("nan"))]))
    skips = SkipLog()
    rows = load_svamp(path, on_error="skip", skips=skips)
    assert [p.question for p in rows] == ["Ann has 3 pens. How many?"]
    assert skips.skipped == 2 and "field 'Answer'" in skips.reasons[1]


def test_missing_paths_name_the_config_key(tmp_path, monkeypatch):
    with pytest.raises(DataError, match=r"set data_paths\.svamp"):
        resolve_data_path({"svamp": str(tmp_path / "nope.json")}, "svamp")
    with pytest.raises(DataError, match=r"data_paths\.math500"):
        load_math500(tmp_path / "missing.jsonl")
    monkeypatch.setenv("APRM_DATA_ROOT", str(tmp_path))
    assert default_data_root() == tmp_path
    # no local file: the hub, which is offline here (tests set HF_DATASETS_OFFLINE) with an empty cache
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    with pytest.raises(DataError, match=r"openai/gsm8k \(main\) split 'train'.*set data_paths\.gsm8k_train"):
        build_splits({"source": "gsm8k", "val_size": 1, "suites": ["gsm8k"]}, seed=0)
    with pytest.raises(DataError, match=r"Qwen/ProcessBench split 'gsm8k'.*set data_paths\.processbench_dir"):
        load_processbench_split({}, "gsm8k")
    assert not (tmp_path / "hf-cache" / "aprm-files").exists()  # nothing half-written
    (tmp_path / "processbench").mkdir()
    with pytest.raises(DataError, match=r"no ProcessBench split 'hard'.*data_paths\.processbench_dir"):
        load_processbench_split({}, "hard")
    with pytest.raises(ValueError, match="bad ProcessBench split name"):
        load_processbench_split({}, "../etc")


def test_build_splits_reports_skipped_rows(tmp_path):
    train = write_lines(tmp_path / "train.jsonl",
                        [gsm8k_line(f"Q{i}?", f"s\n#### {i}") for i in range(6)] + ["{bad"])
    test = write_lines(tmp_path / "test.jsonl", [gsm8k_line("T?", "s\n#### x"), gsm8k_line("U?")])
    cfg = {"source": "gsm8k", "train_size": None, "val_size": 2, "test_size": None,
           "suites": ["gsm8k"], "on_error": "skip",
           "paths": {"gsm8k_train": str(train), "gsm8k_test": str(test)}}
    splits = build_splits(cfg, seed=3)
    assert (len(splits.train), len(splits.val), len(splits.suites["gsm8k"])) == (4, 2, 1)
    assert splits.skipped == 2
    assert "train.jsonl, line 7" in splits.skip_reasons[0]
    assert "test.jsonl, line 1, field 'answer'" in splits.skip_reasons[1]
    with pytest.raises(DataError, match="line 7"):
        build_splits(dict(cfg, on_error="raise"), seed=3)


def test_latex_sentence_split_respects_math_and_escapes():
    from aprm.data.latex import last_boxed, split_sentences, strip_blocks

    text = ("So $x = 3.$ Then $y$ is 4. It costs \\$5. Done?\n\nNew para \\[a. B\\] here. "
            "\\begin{align*} p. Q \\end{align*} end")
    assert split_sentences(text) == [
        "So $x = 3.$", "Then $y$ is 4.", "It costs \\$5.", "Done?",
        # a sentence only starts at a capital letter, so display math stays with its sentence
        "New para \\[a. B\\] here. \\begin{align*} p. Q \\end{align*} end"]
    assert last_boxed("a \\boxed{1} b \\boxed{\\frac{1}{2}\\}} c") == "\\frac{1}{2}\\}"
    assert last_boxed("\\boxed{unclosed") is None and last_boxed("none") is None
    assert strip_blocks("a [asy]draw;[/asy] b [asy] open", "[asy]", "[/asy]") == "a   b "
