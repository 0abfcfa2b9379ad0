"""What a user sees: `aprm experiment=smoke seed=7` (a seed whose samples once held a `\\r` that
crashed the MC rollouts) runs to the end and prints one line per stage, then the closing summary,
with no library chatter in between; `-v` brings the libraries' lines back."""

from __future__ import annotations

import re

import pytest

from pipeline_helpers import SMOKE, run_cli, stage_states

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smoke_seed_7(prefect_server, tmp_path_factory):
    home = tmp_path_factory.mktemp("console-home")
    code, log = run_cli([*SMOKE, "seed=7"], home)
    return home, code, log


def test_smoke_seed_7_finishes_with_a_quiet_console_and_a_summary(smoke_seed_7):
    home, code, log = smoke_seed_7
    assert code == 0, log[-3000:]
    lines = log.splitlines()
    assert not [line for line in lines if "httpx" in line or "HTTP Request" in line]
    assert not [line for line in lines if "ERROR" in line or "Traceback" in line]
    assert not [line for line in lines if "Finished in state" in line or "LOAD_GLOBAL" in line]
    assert not [line for line in lines if "'loss':" in line or "FutureWarning" in line]
    states = stage_states(log)
    assert {"train-solver[seed=7]", "mc-rollouts[seed=7]", "report"} <= set(states)
    # every line before the summary is a stage line
    done = next(i for i, line in enumerate(lines) if line.startswith("aprm: done in "))
    assert all(" - stage " in line for line in lines[:done] if line.strip()), lines[:done]
    summary = "\n".join(lines[done:])
    assert re.search(r"aprm: done in .* \(\d+ stages? ran, \d+ from cache\)", summary)
    assert "### aprm vs the best baseline" in summary and "| id (N=4) |" in summary
    report = re.search(r"^report:  (\S+report\.html)$", summary, re.M)
    results = re.search(r"^results: (\S+results\.json)$", summary, re.M)
    assert report and results and str(home) in results.group(1)
    assert re.search(r"^MLflow:  run [0-9a-f]{32}; open it with mlflow ui --backend-store-uri sqlite:///\S+$",
                     summary, re.M)
    assert lines[-1].startswith("MLflow:  run ")  # nothing after the summary


def test_verbose_shows_the_library_lines(smoke_seed_7):
    home, _, _ = smoke_seed_7
    code, log = run_cli([*SMOKE, "seed=7", "-v"], home)  # every stage cached: a quick re-run
    assert code == 0, log[-3000:]
    assert "Finished in state Cached" in log
    assert set(stage_states(log).values()) == {"cached"}
    assert "aprm: done in " in log
