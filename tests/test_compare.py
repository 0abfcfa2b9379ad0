"""`aprm compare` against a real temporary SQLite MLflow store filled through MlflowClient with
evaluation runs as the evaluate stage logs them (tags stage/method/suite/seed/config_hash)."""

from __future__ import annotations

import os
import socket
import math
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flows.compare import compare, default_uri, main, render, resolve_metric

# best_of_4_min per (method, suite) and seed; chosen so means and sds are easy to check by hand
VALUES = {
    ("static", "id"): [0.50, 0.60, 0.70],
    ("static", "long"): [0.20, 0.30, 0.40],
    ("aprm", "id"): [0.80, 0.90, 0.70],
    ("aprm", "long"): [0.45],  # one seed only: no spread
}
T95 = {2: 4.302652729911275}  # Student-t 0.975 quantile, df = 2 (tables)
T0 = 1_700_000_000_000  # ms; explicit start times make "latest" deterministic


def _eval_run(client, exp_id, method, suite, seed, metrics, start, config_hash="aaaa1111",
              status="FINISHED", stage="evaluate"):
    tags = {"stage": stage, "method": method, "suite": suite, "seed": str(seed), "config_hash": config_hash}
    run = client.create_run(exp_id, start_time=start, tags=tags, run_name=f"evaluate[{method},{suite},{seed}]")
    for name, value in metrics.items():
        client.log_metric(run.info.run_id, name, value, timestamp=start, step=0)
    if status != "RUNNING":
        client.set_terminated(run.info.run_id, status=status, end_time=start + 1)
    return run.info.run_id


def _metrics(value: float) -> dict[str, float]:
    # best-of-n grows with n; majority and pass@n are fixed offsets so a wrong pick shows
    return {"best_of_1_min": value - 0.3, "best_of_2_min": value - 0.1, "best_of_4_min": value,
            "majority_4": value - 0.05, "pass_at_4": 0.95}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    from mlflow.tracking import MlflowClient

    home = tmp_path_factory.mktemp("compare-home")
    uri = default_uri(home)
    (home / "mlruns").mkdir()
    client = MlflowClient(tracking_uri=uri)
    exp = client.create_experiment("aprm", artifact_location=(home / "art").as_uri())
    start = T0
    for (method, suite), values in VALUES.items():
        for seed, value in enumerate(values):
            _eval_run(client, exp, method, suite, seed, _metrics(value), start)
            start += 1000
    # An older evaluation of (static, id, seed 0) with another config: superseded by the one above.
    _eval_run(client, exp, "static", "id", 0, _metrics(0.05), T0 - 10_000, config_hash="bbbb2222")
    # Not evaluation results: a pipeline stage child, a run still RUNNING, a FAILED one, an untagged one.
    _eval_run(client, exp, "static", "id", 1, {"best_of_4_min": 0.01}, start, stage="prepare-data")
    _eval_run(client, exp, "static", "id", 2, {"best_of_4_min": 0.02}, start + 1, status="RUNNING")
    _eval_run(client, exp, "aprm", "id", 0, {"best_of_4_min": 0.03}, start + 2, status="FAILED")
    untagged = client.create_run(exp, tags={"stage": "evaluate", "method": "aprm"})
    client.log_metric(untagged.info.run_id, "best_of_4_min", 0.04)
    client.set_terminated(untagged.info.run_id)
    client.create_experiment("empty", artifact_location=(home / "art2").as_uri())
    return home, uri


def test_headline_table_means_sds_and_counts(store, capsys):
    _, uri = store
    comp = compare(uri)  # default metric best_of_N_min resolves to the largest n logged
    assert comp.resolved == ("best_of_4_min",)
    assert comp.methods == ["static", "aprm"] and comp.suites == ["id", "long"]
    for key, values in VALUES.items():
        cell = comp.cells[key]
        assert cell.n == len(values) and cell.seeds == tuple(range(len(values)))
        assert cell.mean == pytest.approx(statistics.fmean(values))
        if len(values) > 1:  # t-interval half-width: t(0.975, n-1) * sd / sqrt(n)
            hw = T95[len(values) - 1] * statistics.stdev(values) / math.sqrt(len(values))
            assert cell.half_width == pytest.approx(hw)
        else:
            assert cell.half_width is None
    assert comp.superseded == 1 and comp.untagged == 1 and comp.missing_metric == 0
    assert comp.config_hashes == ("aaaa1111",)

    assert main(["--uri", uri]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "best_of_N_min = best_of_4_min: mean ± 95% t-interval half-width over seeds (n = seeds)"
    assert out[1].split() == ["method", "id", "long"]
    assert out[3].split() == ["static", "0.600", "±", "0.248", "(n=3)", "0.300", "±", "0.248", "(n=3)"]
    assert out[4].split() == ["aprm", "0.800", "±", "0.248", "(n=3)", "0.450", "(n=1)"]
    assert any("1 older run(s)" in line for line in out)
    assert any("1 evaluate run(s) without method/suite/seed tags" in line for line in out)


def test_explicit_metric_markdown_and_filters(store, capsys):
    _, uri = store
    assert main(["--uri", uri, "--metric", "majority_4", "--format", "markdown", "--digits", "2"]) == 0
    out = capsys.readouterr().out
    assert "| static | 0.55 ± 0.25 (n=3) | 0.25 ± 0.25 (n=3) |" in out
    assert "| aprm | 0.75 ± 0.25 (n=3) | 0.40 (n=1) |" in out
    # a wider interval at 99%: t(0.995, 2) = 9.925 -> 9.925 * 0.1 / sqrt(3) = 0.573
    assert main(["--uri", uri, "--metric", "best_of_4_min", "--confidence", "0.99"]) == 0
    assert capsys.readouterr().out.splitlines()[3].split()[1:4] == ["0.600", "±", "0.573"]

    # the older config alone: one cell, its value
    only_old = compare(uri, config_hash="bbbb2222", metric="best_of_2_min")
    assert list(only_old.cells) == [("static", "id")]
    assert only_old.cells[("static", "id")].mean == pytest.approx(0.05 - 0.1)
    # an extra MLflow filter narrows the selection
    aprm_only = compare(uri, extra_filter="tags.method = 'aprm'")
    assert aprm_only.methods == ["aprm"]


def test_resolve_metric_placeholder():
    logged = ["best_of_1_min", "best_of_16_min", "best_of_4_min", "best_of_16_last", "majority_16"]
    assert resolve_metric("best_of_N_min", logged) == "best_of_16_min"
    assert resolve_metric("majority_N", logged) == "majority_16"
    assert resolve_metric("best_of_4_min", logged) == "best_of_4_min"
    assert resolve_metric("pass_at_N", logged) is None
    assert resolve_metric("best_of_N_prod", logged) is None


@pytest.mark.parametrize("args, message", [
    (["--metric", "nope_N"], "metric 'nope_N' is in none of the 10 evaluation runs; metrics logged: ['best_of_1_min'"),
    (["--experiment", "missing"], "experiment 'missing' not found"),
    (["--experiment", "empty"], "no finished evaluation runs (tag stage=evaluate) in experiment 'empty'"),
    (["--config-hash", "cccc3333"], "no finished evaluation runs (tag stage=evaluate with config_hash cccc3333)"),
    (["--config-hash", "x' or '1"], "--config-hash must be lowercase hex"),
    (["--filter", "tags.method ==="], "cannot read MLflow store"),
])
def test_clear_errors(store, capsys, args, message):
    _, uri = store
    assert main(["--uri", uri, *args]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert message in captured.err


def test_missing_store_is_reported_and_not_created(tmp_path, capsys):
    assert main(["--uri", default_uri(tmp_path)]) == 1
    assert f"no MLflow store at {tmp_path / 'mlruns' / 'mlflow.db'}" in capsys.readouterr().err
    assert not (tmp_path / "mlruns").exists()


def test_unreachable_server_fails_fast(monkeypatch, capsys):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    start = time.monotonic()
    assert main(["--uri", f"http://127.0.0.1:{port}"]) == 1
    assert time.monotonic() - start < 30
    assert f"http://127.0.0.1:{port}" in capsys.readouterr().err


def test_render_marks_empty_cells():
    from flows.compare import Cell, Comparison

    comp = Comparison("pass_at_N", 0.95, ("pass_at_8",), ["static", "aprm"], ["id", "big"],
                      {("static", "id"): Cell(0.5, None, 1, (0,)), ("aprm", "big"): Cell(1.0, 0.0, 2, (0, 1))})
    lines = render(comp).splitlines()
    assert lines[3].split() == ["static", "0.500", "(n=1)", "-"]
    assert lines[4].split() == ["aprm", "-", "1.000", "±", "0.000", "(n=2)"]


def test_aprm_cli_dispatches_compare(store):
    """The installed entry point routes `aprm compare` past Hydra (cwd default store)."""
    home, _ = store
    aprm = Path(sys.executable).with_name("aprm")
    if not aprm.exists():
        pytest.skip(f"console script not installed beside {sys.executable}")
    out = subprocess.run([str(aprm), "compare", "--metric", "pass_at_N"], cwd=home, capture_output=True,
                         text=True, timeout=120, env={**os.environ})
    assert out.returncode == 0, out.stderr
    # identical values over seeds: a zero-width interval
    assert out.stdout.splitlines()[3].split() == ["static", "0.950", "±", "0.000", "(n=3)", "0.950", "±",
                                                  "0.000", "(n=3)"]
