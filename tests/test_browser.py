"""What a person sees, rendered by a real headless Chromium (Debian's chromium + chromium-driver,
driven through Selenium): the MLflow UI listing a pipeline run with its stage runs, and the
self-contained report.html. Screenshots go to test-artifacts/.

The MLflow store is written through `aprm.tracking.RunTracker`, the pipeline's own tracking
code (parent run with the flattened config, one child per stage), so the test does not pay for a
whole pipeline run; the UI cannot tell the difference.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request
from pathlib import Path

import pytest

from browser_helpers import (
    ARTIFACTS, Service, chromium_or_skip, free_port, headless_chromium, screenshot, wait_for_text,
)

pytestmark = pytest.mark.slow

PARENT = "aprm-static-seed0"
STAGES = ("prepare-data[seed=0]", "oracle-label[seed=0]", "evaluate[static,id,seed=0]")


@pytest.fixture(scope="module")
def mlflow_ui(tmp_path_factory):
    """A finished pipeline-shaped run in a fresh SQLite store, served by `mlflow server`."""
    chromium_or_skip()  # skip before paying for the server
    from aprm.tracking import RunTracker

    home = tmp_path_factory.mktemp("mlflow-ui")
    db = home / "mlruns" / "mlflow.db"
    db.parent.mkdir()
    tracker = RunTracker(f"sqlite:///{db}", "aprm", home / "mlruns" / "artifacts")
    parent = tracker.start_parent(PARENT, {"data.train_size": 100, "method.name": "static"},
                                  {"config_hash": "c0ffee123456", "method": "static", "seed": "0"})
    children = {name: tracker.child(name, {"wall_s": 0.5, "items": 10 * i}, tags={"stage": name.split("[")[0]})
                for i, name in enumerate(STAGES, start=1)}
    tracker.finish("FINISHED")

    port = free_port()
    ARTIFACTS.mkdir(exist_ok=True)
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}  # else it starts job workers
    mlflow_bin = Path(sys.executable).with_name("mlflow")
    server = Service("mlflow-server", [str(mlflow_bin), "server", "--backend-store-uri", f"sqlite:///{db}",
                                       "--default-artifact-root", (home / "served-artifacts").as_uri(),
                                       "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                     ARTIFACTS, env=env, cwd=home)
    try:
        server.wait_http(f"http://127.0.0.1:{port}/health", timeout_s=120, expect="OK")
        yield {"url": f"http://127.0.0.1:{port}", "experiment_id": tracker.experiment_id,
               "parent": parent, "children": children}
    finally:
        server.stop()


def test_mlflow_ui_lists_pipeline_run_and_its_stage_runs(mlflow_ui):
    url, exp = mlflow_ui["url"], mlflow_ui["experiment_id"]
    with headless_chromium() as driver:
        # MLflow 3 opens experiments in its GenAI view; the runs table is the "model training" view.
        driver.get(f"{url}/#/experiments/{exp}/runs?workflowType=machine_learning")
        text = wait_for_text(driver, [PARENT], timeout_s=60)
        assert f"{1 + len(STAGES)} matching runs" in text  # parent + one per stage, children folded
        screenshot(driver, "mlflow_experiment_runs.png")

        from selenium.webdriver.common.by import By

        expand = driver.find_element(
            By.XPATH, f"//a[normalize-space(.)='{PARENT}']/ancestor::div[@role='gridcell'][1]//button")
        expand.click()
        text = wait_for_text(driver, list(STAGES), timeout_s=30)
        screenshot(driver, "mlflow_experiment_runs_expanded.png")
        # the children are listed under the parent, in the rows after it
        lines = text.splitlines()
        assert all(lines.index(stage) > lines.index(PARENT) for stage in STAGES)
        links = {a.text: a.get_attribute("href") for a in driver.find_elements(By.TAG_NAME, "a")}
        for stage, run_id in mlflow_ui["children"].items():
            assert links[stage].endswith(f"/runs/{run_id}")
        assert links[PARENT].endswith(f"/runs/{mlflow_ui['parent']}")

    # The page's data, through the same server's REST API: the nesting the UI drew is real.
    body = json.dumps({"experiment_ids": [exp],
                       "filter": f"tags.mlflow.parentRunId = '{mlflow_ui['parent']}'"}).encode()
    request = urllib.request.Request(f"{url}/api/2.0/mlflow/runs/search", data=body,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as resp:
        runs = json.load(resp)["runs"]
    assert sorted(r["info"]["run_name"] for r in runs) == sorted(STAGES)
    assert {r["info"]["status"] for r in runs} == {"FINISHED"}


# ------------------------------------------------------------------------------- report.html
P, N = 10, 4
RIGHT = {("static", "id"): 4, ("aprm", "id"): 8, ("static", "long"): 3, ("aprm", "long"): 6}


def _samples(right: int) -> list:
    """P problems x N samples, the correct one at index i % N; the method scores the correct
    sample highest on the first `right` problems and a wrong one highest on the rest."""
    from aprm.eval import load_problem_samples

    rows = []
    for i in range(P):
        good = i % N
        pick = good if i < right else (good + 1) % N
        rows.append({"problem_id": f"q{i}", "samples": [
            {"correct": j == good, "final_answer": "1" if j == good else str(2 + j),
             "step_scores": [0.9, 0.9 if j == pick else 0.3]} for j in range(N)]})
    return load_problem_samples(rows)


@pytest.fixture(scope="module")
def report_html(tmp_path_factory):
    from aprm.eval import build_results, build_run, evaluate_selection
    from aprm.report import HeadlineOptions, write_report

    runs = [build_run(seed=0, method=m, suite=s, selection=evaluate_selection(_samples(k), seed=0))
            for (m, s), k in RIGHT.items()]
    rounds = [{"seed": 0, "method": "aprm", "round": r, "metrics": {"fool_rate": 0.6 - 0.2 * r},
               "error_types": {"arithmetic": 4 + r, "grounding": 2}} for r in range(3)]
    results = build_results(name="browser", config_hash="c0ffee123456", git_sha="abc1234", seeds=[0],
                            runs=runs, rounds=rounds, methods=["static", "aprm"], suites=["id", "long"])
    out = tmp_path_factory.mktemp("report")
    paths = write_report(results, out, HeadlineOptions(n_resamples=999))
    return paths


def test_report_html_renders_tables_and_plots(report_html):
    from selenium.webdriver.common.by import By

    plots = sorted(k for k in report_html if k.startswith("plot:"))
    assert len(plots) == 4  # accuracy vs n on id and long, round curves, error types
    with headless_chromium(width=1200, height=3000) as driver:
        driver.get(report_html["html"].resolve().as_uri())
        wait_for_text(driver, ["APRM report: browser", "Best-of-N accuracy (min)"], timeout_s=30)
        screenshot(driver, "report_html.png")

        headline = driver.find_element(By.XPATH, "//h3[normalize-space(.)='Best-of-N accuracy (min)']"
                                                 "/following-sibling::table[1]")
        header = [th.text for th in headline.find_elements(By.CSS_SELECTOR, "thead th")]
        assert header == ["Method", "id (N=4)", "long (N=4)"]
        rows = [[td.text for td in tr.find_elements(By.TAG_NAME, "td")]
                for tr in headline.find_elements(By.CSS_SELECTOR, "tbody tr")]
        assert [r[0] for r in rows] == ["static (best baseline)", "aprm", "pass@1 (first sample)",
                                        "majority@N", "pass@N (oracle ceiling, upper bound)"]
        assert rows[0][1:] == ["40.0 (n=1)", "30.0 (n=1)"]  # 4/10 and 3/10 ranked right
        assert rows[1][1].startswith("80.0 (n=1); Δ +40.0 [") and rows[1][2].startswith("60.0 (n=1); Δ +30.0 [")
        assert rows[4][1:] == ["100.0 (n=1)", "100.0 (n=1)"]  # a correct sample is always among the 4
        assert len(driver.find_elements(By.TAG_NAME, "table")) >= 4

        images = driver.find_elements(By.TAG_NAME, "img")
        assert len(images) == len(plots)
        for img in images:
            assert img.get_attribute("src").startswith("data:image/png;base64,")
            # decoded and laid out by the browser, not a broken-image icon
            size = driver.execute_script("return [arguments[0].complete, arguments[0].naturalWidth, "
                                         "arguments[0].naturalHeight]", img)
            assert size[0] is True and size[1] > 100 and size[2] > 100, size
        assert {img.get_attribute("alt") for img in images} >= {"Accuracy vs n on id", "Accuracy vs n on long"}
