"""Progress bars: on for a terminal or APRM_PROGRESS=1, off for CI logs or APRM_PROGRESS=0, and
never a change to what the wrapped loop computes."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest
import torch

from aprm.data import generate_split
from aprm.models.factory import build_model
from aprm.models.solver import format_prompt, format_solution, train_solver
from aprm.models.tokenizer import train_tokenizer
from aprm.progress import progress, progress_enabled

TINY = {"kind": "tiny", "arch": "llama", "hidden_size": 32, "num_layers": 1, "num_heads": 2,
        "intermediate_size": 64, "max_position_embeddings": 384}


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_forced_bar_writes_its_desc_to_stderr(monkeypatch, capsys):
    monkeypatch.setenv("APRM_PROGRESS", "1")
    assert list(progress(range(5), "counting sheep", unit="sheep")) == [0, 1, 2, 3, 4]
    captured = capsys.readouterr()
    assert "counting sheep" in captured.err and "0/5" in captured.err
    assert captured.out == ""


def test_terminal_shows_bars_and_other_streams_do_not(monkeypatch):
    monkeypatch.delenv("APRM_PROGRESS", raising=False)
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert progress_enabled()
    assert list(progress(["a", "b"], "on a terminal")) == ["a", "b"]
    assert "on a terminal" in terminal.getvalue()

    log = io.StringIO()  # CI: stderr is a file or a pipe
    monkeypatch.setattr(sys, "stderr", log)
    assert not progress_enabled()
    assert list(progress(["a", "b"], "in a log")) == ["a", "b"]
    assert log.getvalue() == ""


def test_zero_hides_bars_even_on_a_terminal(monkeypatch):
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.setenv("APRM_PROGRESS", "0")
    assert not progress_enabled()
    bar = progress(None, "hidden", total=3)
    bar.update(3)
    bar.close()
    assert terminal.getvalue() == ""


def test_unknown_setting_is_an_error_naming_the_variable(monkeypatch):
    monkeypatch.setenv("APRM_PROGRESS", "yes")
    with pytest.raises(ValueError, match="APRM_PROGRESS must be 0, 1 or unset, got 'yes'"):
        progress_enabled()


def test_solver_bar_shows_steps_and_loss_without_changing_training(monkeypatch, capsys):
    torch.set_num_threads(1)
    problems = generate_split("train", 32, seed=0)
    tok = train_tokenizer(format_prompt(p) + format_solution(p.reference_steps) for p in problems)
    cfg = {"epochs": 3, "batch_size": 4, "drill_batch_size": 4, "lr": 1e-2}  # 24 steps

    runs = {}
    for setting in ("1", "0"):
        monkeypatch.setenv("APRM_PROGRESS", setting)
        model = build_model("solver", TINY, tok, seed=0)
        metrics = train_solver(problems, tok, model, cfg, out_dir=None)
        runs[setting] = (metrics, [p.detach().clone() for p in model.parameters()], capsys.readouterr().err)

    shown, hidden = runs["1"], runs["0"]
    assert "solver" in shown[2] and "/24" in shown[2]
    assert "loss=" in shown[2]  # the running loss, posted after step 20
    assert hidden[2] == ""
    assert shown[0]["steps"] == hidden[0]["steps"] == 24
    assert shown[0]["epoch_losses"] == hidden[0]["epoch_losses"]  # bit-identical, not close
    assert all(torch.equal(a, b) for a, b in zip(shown[1], hidden[1]))


QUIET_CHECK = """
import sys
{before}
from aprm.progress import quiet_library_bars
quiet_library_bars()
print("loaded_by_quiet", "transformers" in sys.modules and not {eager}, "datasets" in sys.modules and not {eager})
import datasets
from transformers.utils import logging
print("enabled", logging.is_progress_bar_enabled(), datasets.is_progress_bar_enabled())
"""


@pytest.mark.parametrize("eager", [False, True], ids=["libraries-loaded-later", "libraries-loaded-first"])
def test_quiet_library_bars_silences_hf_bars_without_importing_them(eager):
    before = "import transformers, datasets" if eager else ""
    env = {k: v for k, v in os.environ.items() if "PROGRESS_BARS" not in k}
    env["APRM_PROGRESS"] = "0"
    out = subprocess.run([sys.executable, "-c", QUIET_CHECK.format(before=before, eager=eager)], env=env,
                         capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[0] == "loaded_by_quiet False False"  # a cached run does not pay for these imports
    assert out[1] == "enabled False False"
