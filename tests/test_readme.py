"""Every `aprm …` command the README shows composes: its overrides name real keys and values.

A sweep (`key=a,b`) is checked with each of its values; `-m`, `-v` and `--cfg …` are flags of the
CLI, not overrides; a Hydra plugin that is not installed (launchers, the Optuna sweeper) skips
that command with the install it needs. `aprm compare` is a subcommand with its own parser."""

from __future__ import annotations

import importlib.util
import re
import shlex
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from flows.config import compose_config

README = Path(__file__).resolve().parent.parent / "README.md"
PLUGINS = {"hydra/launcher=parallel": "hydra_plugins.hydra_joblib_launcher",
           "+hparams_search=optuna": "hydra_plugins.hydra_optuna_sweeper"}


def readme_commands() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    commands = []
    for block in blocks:
        for line in block.splitlines():
            command = line.split(" #")[0].strip()
            command = re.sub(r"^(\S*/)?\.venv/bin/", "", command.split("&&")[-1].strip())
            if command.startswith("aprm "):
                commands.append(command)
    return commands


def split_sweep(override: str) -> list[str]:
    """`key=a,b` -> [`key=a`, `key=b`]; commas inside [] or {} belong to one value."""
    key, _, value = override.partition("=")
    parts, depth, current = [], 0, ""
    for ch in value:
        depth += ch in "[{"
        depth -= ch in "]}"
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    return [f"{key}={part}" for part in parts + [current]]


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # the hydra_plugins namespace itself is absent
        return False


COMMANDS = readme_commands()


def test_the_readme_shows_commands():
    assert "aprm experiment=benchmark" in " ".join(COMMANDS)
    assert len(COMMANDS) >= 8


@pytest.mark.parametrize("command", [c for c in COMMANDS if not c.startswith("aprm compare")])
def test_readme_command_composes(command):
    args = [a for a in shlex.split(command)[1:] if a not in ("-m", "--resolve")]
    args = ["verbose=true" if a in ("-v", "--verbose") else a for a in args if a not in ("--cfg", "job")]
    for override, module in PLUGINS.items():
        if override in args and not _installed(module):
            pytest.skip(f"{command}: needs the Hydra plugin {module}")
    args = [a for a in args if not a.startswith("hydra/")]
    variants = [[]]
    for arg in args:
        variants = [v + [choice] for v in variants for choice in split_sweep(arg)]
    for overrides in variants:
        with warnings.catch_warnings():
            warnings.simplefilter("error", FutureWarning)  # the README uses current names only
            cfg = compose_config(overrides)
        assert cfg["method"]["name"] and cfg["data"]["suites"], overrides


def test_readme_compare_command_parses():
    command = next(c for c in COMMANDS if c.startswith("aprm compare"))
    out = subprocess.run([sys.executable, "-m", "flows.cli", *shlex.split(command)[1:], "--help"],
                         capture_output=True, text=True, timeout=120, cwd=README.parent)
    assert out.returncode == 0 and "--metric" in out.stdout, out.stderr
