"""Report: statistics, the headline table and the written files, on results built from hand-made
sample sets through the real evaluation functions."""

from __future__ import annotations

import base64
import math
import re

import pytest

from aprm.eval import (
    ResultsSchemaError, build_results, build_run, evaluate_selection, first_error_f1,
    load_problem_samples,
)
from aprm.report import (
    HeadlineOptions, choose_baseline, headline_table, markdown_table, paired_difference, seed_summary,
    write_report,
)

P, N = 40, 4
FAST = HeadlineOptions(n_resamples=999)


def problems(ranked_right: int, seed: int = 0) -> list:
    """P problems x N samples; the correct sample sits at index i % N (answer "1"; wrong ones
    say "2", "3", "2", so majority vote is always wrong). The method scores the correct sample
    highest on the first `ranked_right` problems and a wrong one highest on the others."""
    rows = []
    for i in range(P):
        right = i % N
        wrong_answers = iter(["2", "3", "2"])
        top_is_right = i < ranked_right
        samples = []
        for j in range(N):
            correct = j == right
            best = correct if top_is_right else j == (right + 1) % N
            answer = "1" if correct else next(wrong_answers)
            samples.append({"correct": correct, "final_answer": answer,
                            "step_scores": [0.95, 0.9 if best else 0.3 + 0.01 * ((j + seed) % 3)]})
        rows.append({"problem_id": f"q{i}", "samples": samples})
    return load_problem_samples(rows)


# best-of-4 accuracy per method and suite: mc beats static on id, static beats mc on long
QUALITY = {"static": {"id": 14, "long": 24}, "mc": {"id": 20, "long": 16},
           "aprm": {"id": 36, "long": 34}}


def make_results(seeds=(0,), rounds=True, methods=QUALITY):
    runs = []
    for seed in seeds:
        for method, by_suite in methods.items():
            for suite, right in by_suite.items():
                sel = evaluate_selection(problems(right + seed, seed), seed=seed)
                runs.append(build_run(seed=seed, method=method, suite=suite, selection=sel))
            runs.append(build_run(seed=seed, method=method, suite="processbench",
                                  first_error=first_error_f1([-1, 0, 2, 1], [-1, -1, 2, 0])))
    game = [{"seed": seed, "method": "aprm", "round": r,
             "metrics": {"fool_rate": 0.5 - 0.1 * r, "valid_corruption_rate": 0.7},
             "error_types": {"arithmetic": 5 + r, "grounding": 2}}
            for seed in seeds for r in range(3)] if rounds else []
    stages = [{"name": "evaluate[seed=0]", "wall_s": 3.5, "cached": False},
              {"name": "report", "wall_s": 0.25, "cached": True}]
    return build_results(name="hand", config_hash="c0ffee123456", git_sha="abc1234",
                         seeds=list(seeds), runs=runs, rounds=game, stages=stages)


@pytest.fixture(scope="module")
def one_seed():
    return make_results()


@pytest.fixture(scope="module")
def three_seeds():
    return make_results(seeds=(0, 1, 2))


# ---------------------------------------------------------------- statistics
def test_paired_bootstrap_sign():
    better = [1] * 35 + [0] * 5
    worse = [1] * 10 + [0] * 30  # paired: the same 40 problems
    up = paired_difference(better, worse, seed=0, n_resamples=2000)
    assert up.diff == pytest.approx(25 / 40)
    assert 0 < up.low < up.diff < up.high <= 1
    down = paired_difference(worse, better, seed=0, n_resamples=2000)
    assert down.high < 0
    same = paired_difference(better, better)
    assert (same.low, same.high, same.method) == (0.0, 0.0, "exact")
    again = paired_difference(better, worse, seed=0, n_resamples=2000)
    assert (again.low, again.high) == (up.low, up.high)  # seeded


def test_paired_bootstrap_is_paired():
    # Both methods are right on 20 of 40 problems; unpaired, the difference would look like
    # noise around 0; paired, method a wins exactly on 10 problems and loses on none.
    a = [1] * 20 + [0] * 20
    b = [1] * 10 + [0] * 10 + [0] * 20
    assert paired_difference(a, b, n_resamples=2000).low > 0


def test_seed_summary():
    got = seed_summary([0.5, 0.6, 0.7])
    t_975_df2 = 4.302652729911275  # Student t quantile, 2 degrees of freedom
    assert got.mean == pytest.approx(0.6)
    assert got.half_width == pytest.approx(t_975_df2 * 0.1 / math.sqrt(3))
    assert seed_summary([0.4]).half_width is None
    assert seed_summary([0.4, 0.4]).half_width == 0.0


# ---------------------------------------------------------------- headline table
def _rows(table_md: str) -> dict[str, list[str]]:
    rows = {}
    for line in table_md.splitlines()[2:]:
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            rows[cells[0]] = cells[1:]
    return rows


def test_baseline_is_chosen_on_the_id_suite(one_seed):
    assert choose_baseline(one_seed, FAST) == ("mc", "id")
    other = HeadlineOptions(id_suite="long", n_resamples=999)
    assert choose_baseline(one_seed, other) == ("static", "long")


def test_markdown_table_rows_and_numbers(one_seed):
    table = markdown_table(one_seed, FAST)
    header = table.splitlines()[0]
    assert header == "| Method | id (N=4) | long (N=4) |"
    rows = _rows(table)
    assert list(rows) == ["static", "mc (best baseline)", "aprm", "pass@1 (first sample)",
                          "majority@N", "pass@N (oracle ceiling, upper bound)"]
    assert rows["aprm"][0].startswith("90.0 (n=1); Δ +40.0 [")  # 36/40 vs mc 20/40
    assert rows["mc (best baseline)"] == ["50.0 (n=1)", "40.0 (n=1)"]
    assert rows["pass@1 (first sample)"] == ["25.0 (n=1)"] * 2  # correct sample at i % 4
    assert rows["majority@N"] == ["0.0 (n=1)"] * 2
    assert rows["pass@N (oracle ceiling, upper bound)"] == ["100.0 (n=1)"] * 2
    low = float(re.search(r"Δ \+40\.0 \[([+-][\d.]+),", rows["aprm"][0]).group(1))
    assert low > 0
    assert rows["static"][0].startswith("35.0 (n=1); Δ -15.0 [")


def test_markdown_table_over_seeds(three_seeds):
    rows = _rows(markdown_table(three_seeds, FAST))
    # aprm right on 36, 37, 38 of 40 problems for seeds 0, 1, 2
    cell = rows["aprm"][0]
    mean, half = re.match(r"([\d.]+) ± ([\d.]+) \(n=3\); Δ ", cell).groups()
    assert float(mean) == pytest.approx(100 * 37 / 40, abs=0.05)
    expected_half = 100 * seed_summary([36 / 40, 37 / 40, 38 / 40]).half_width
    assert float(half) == pytest.approx(expected_half, abs=0.05)


def test_ood_mean_column_weighs_every_ood_suite_alike():
    # id and two OOD suites of unequal size: long 40 problems, big the first 10 of 40
    right = {"static": {"id": 20, "long": 10, "big": 8}, "aprm": {"id": 30, "long": 30, "big": 8}}
    runs = []
    for seed in (0, 1):
        for method, by_suite in right.items():
            for suite, count in by_suite.items():
                rows = problems(count, seed)[:10 if suite == "big" else P]
                runs.append(build_run(seed=seed, method=method, suite=suite,
                                      selection=evaluate_selection(rows, seed=seed)))
    results = build_results(name="ood", config_hash="c0ffee123456", git_sha="abc1234",
                            seeds=[0, 1], runs=runs, rounds=[], stages=[])
    table = markdown_table(results, FAST)
    assert table.splitlines()[0] == "| Method | id (N=4) | long (N=4) | big (N=4) | OOD mean |"
    rows = _rows(table)
    # aprm: long 30/40, big 8/10 -> (75 + 80) / 2 = 77.5; static: long 10/40, big 8/10 -> 52.5.
    # Pooled over the 50 problems the gain would be 20/50 = 40 points; per suite it is (50 + 0) / 2.
    assert rows["aprm"][3].startswith("77.5 ± 0.0 (n=2); Δ +25.0 [")
    low = float(re.search(r"Δ \+25\.0 \[([+-][\d.]+),", rows["aprm"][3]).group(1))
    assert 0 < low < 25
    assert rows["static (best baseline)"][3] == "52.5 ± 0.0 (n=2)"
    # the first sample is right on problems 0, 4, 8...: 10 of 40 on long, 3 of 10 on big
    assert rows["pass@1 (first sample)"][3] == "27.5 ± 0.0 (n=2)"
    assert any("OOD mean: the mean over long, big" in line for line in table.splitlines())
    # a suite without pairs gives no OOD Δ rather than a mean over fewer suites
    from aprm.report.headline import paired_suite_mean
    assert paired_suite_mean([([1.0, 0.0], [0.0, 0.0]), ([], [])], FAST) is None
    # the console's closing table has the same row
    from aprm.report.headline import summary_table
    from aprm.report.table import to_markdown
    ood_row = _rows(to_markdown(summary_table(results, "aprm", FAST), with_title=False))["OOD mean"]
    assert ood_row[:2] == ["77.5 ± 0.0 (n=2)", "52.5 ± 0.0 (n=2)"] and ood_row[2].startswith("+25.0 [")


def test_majority_table_gives_each_methods_gain_over_majority_voting_with_its_paired_ci(three_seeds):
    from aprm.report.headline import majority_table
    from aprm.report.table import to_markdown

    rows = _rows(to_markdown(majority_table(three_seeds, FAST), with_title=False))
    # majority voting is wrong on every problem; aprm picks the right sample on 36-38 of 40
    gain, low, high = (float(x) for x in re.match(r"([+-][\d.]+) \[([+-][\d.]+), ([+-][\d.]+)\]", rows["aprm"][0]).groups())
    assert gain == pytest.approx(100 * 37 / 40, abs=0.05) and 0 < low < gain < high <= 100
    assert rows["static"][1].startswith("+62.5 [")  # 24-26 of 40 on long
    assert list(rows) == ["static", "mc", "aprm"] and all(len(cells) == 2 for cells in rows.values())


# ---------------------------------------------------------------- written report
def test_write_report_files(one_seed, tmp_path):
    paths = write_report(one_seed, tmp_path / "out", FAST)
    md, page = paths["markdown"], paths["html"]
    assert md.exists() and page.exists()
    plots = {k: v for k, v in paths.items() if k.startswith("plot:")}
    assert set(plots) == {"plot:acc_vs_n_0_id", "plot:acc_vs_n_1_long", "plot:round_curves",
                          "plot:error_types"}
    for path in plots.values():
        assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")

    html = page.read_text()
    images = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(images) == 4
    assert all(base64.b64decode(img).startswith(b"\x89PNG") for img in images)
    assert "<table>" in html and "pass@N (oracle ceiling, upper bound)" in html
    assert "mc (best baseline)" in html
    assert not re.search(r'(src|href)="(https?:)?//', html)  # no external assets

    text = md.read_text()
    assert markdown_table(one_seed, FAST).splitlines()[0] in text
    for section in ("Best-of-N by aggregation", "First-error prediction (ProcessBench F1)",
                    "Adversarial rounds (last round)", "Error types", "Provenance", "Stages"):
        assert section in text, section
    assert "| Config hash | c0ffee123456 |" in text
    assert "| evaluate[seed=0] | 3.50 | no |" in text
    assert "| total | 3.75 |  |" in text
    # first-error case: correct subset 1 of 2, error subset 1 of 2 -> F1 50
    assert "| aprm | 50.0 (err 50.0 / cor 50.0, n=4) |" in text
    for link in re.findall(r"\]\((report_plots/[^)]+\.png)\)", text):
        assert (md.parent / link).exists()


def test_write_report_is_deterministic(one_seed, tmp_path):
    first = write_report(one_seed, tmp_path / "a", FAST)
    second = write_report(one_seed, tmp_path / "b", FAST)
    assert first["html"].read_bytes() == second["html"].read_bytes()
    assert first["markdown"].read_text() == second["markdown"].read_text()


def test_report_without_rounds_and_with_hostile_names(tmp_path):
    results = make_results(rounds=False, methods={"<script>x</script>": {"id": 30},
                                                  "static": {"id": 10}})
    paths = write_report(results, tmp_path, FAST)
    html = paths["html"].read_text()
    assert "<script>" not in html and "&lt;script&gt;x&lt;/script&gt;" in html
    assert "plot:round_curves" not in paths and "Adversarial rounds" not in html
    assert len(re.findall(r'<img src="data:image/png;base64,', html)) == 1


def test_write_report_rejects_a_malformed_results(one_seed, tmp_path):
    broken = {**one_seed, "runs": [{**one_seed["runs"][0], "counts": {}}]}
    with pytest.raises(ResultsSchemaError, match=r"results\.runs\[0\]\.counts\.samples: missing"):
        write_report(broken, tmp_path)
    assert not (tmp_path / "report.html").exists()


def test_a_method_can_have_its_own_headline_aggregation():
    """An ORM's verdict is its last step's score: with method_aggs orm -> last, its row (and its
    Δ and the baseline choice) read best_of_N_last while the others stay on min."""
    rows = []
    for i in range(P):
        # the correct sample has a weak first step but the best last step: min picks a wrong one
        samples = [{"correct": j == 0, "final_answer": "1" if j == 0 else str(j + 1),
                    "step_scores": [0.2, 0.99] if j == 0 else [0.6, 0.5]} for j in range(N)]
        rows.append({"problem_id": f"q{i}", "samples": samples})
    orm = evaluate_selection(load_problem_samples(rows), seed=0)
    results = build_results(name="aggs", config_hash="c0ffee123456", git_sha="abc1234", seeds=[0],
                            runs=[build_run(seed=0, method="orm", suite="id", selection=orm),
                                  build_run(seed=0, method="static", suite="id",
                                            selection=evaluate_selection(problems(20), seed=0))])
    plain = _rows(markdown_table(results, FAST))
    assert plain["orm"][0].startswith("0.0 (n=1)")
    own = HeadlineOptions(n_resamples=999, method_aggs=(("orm", "last"),))
    table = markdown_table(results, own)
    rows = _rows(table)
    assert rows["orm (best baseline)"] == ["100.0 (n=1)"]
    assert rows["static"][0].startswith("50.0 (n=1); Δ -50.0 [")
    assert "'last' for orm" in table
    assert headline_table(results, own).title == "Best-of-N accuracy (min; orm: last)"
    with pytest.raises(ValueError):
        HeadlineOptions(method_aggs=(("orm", "median"),))


def test_console_summary_table_pits_the_method_against_the_best_baseline(one_seed):
    from aprm.report.headline import summary_table

    table = summary_table(one_seed, "aprm", FAST)
    assert table.header == ["Suite", "aprm", "mc (best baseline)", "Δ [CI]", "majority@N", "pass@1"]
    rows = {row[0]: row[1:] for row in table.rows}
    assert list(rows) == ["id (N=4)", "long (N=4)"]
    assert rows["id (N=4)"][:2] == ["90.0 (n=1)", "50.0 (n=1)"]  # 36/40 vs mc 20/40
    assert rows["id (N=4)"][2].startswith("+40.0 [")
    assert rows["id (N=4)"][3:] == ["0.0 (n=1)", "25.0 (n=1)"]
    assert "baseline chosen on suite 'id'" in table.notes[0]
