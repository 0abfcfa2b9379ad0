"""Crash-safe writes (aprm.io): a SIGKILLed writer leaves only a temp, never a torn target, and the
next write of that target removes the dead writer's temps but not a live writer's."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys

from aprm.io import atomic_dir, atomic_path, write_json

# Writes half a file and half a folder through aprm.io, then SIGKILLs itself mid-write.
KILLED_WRITER = """
import os, signal, sys
from pathlib import Path
from aprm.io import atomic_dir, atomic_path
root = Path(sys.argv[1])
with atomic_path(root / "a.json") as tmp, atomic_dir(root / "model") as staging:
    tmp.write_text('{"half": ')
    (staging / "config.json").write_text("{")
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_killed_writer_leaves_no_torn_target_and_its_temps_are_swept(tmp_path):
    write_json(tmp_path / "a.json", {"v": 1})
    with atomic_dir(tmp_path / "model") as staging:
        (staging / "config.json").write_text('{"v": 1}')
    killed = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(tmp_path)])
    assert killed.wait(timeout=60) == -signal.SIGKILL

    # the targets still hold the last complete write; the dead writer's temps are beside them
    assert json.loads((tmp_path / "a.json").read_text()) == {"v": 1}
    assert json.loads((tmp_path / "model" / "config.json").read_text()) == {"v": 1}
    temps = sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp"))
    owner = f"{killed.pid}@{socket.gethostname()}."
    assert len(temps) == 2
    assert temps[0].startswith(f".a.json.{owner}") and temps[1].startswith(f".model.{owner}")

    with atomic_path(tmp_path / "a.json") as live:  # a live writer's temp (this process) ...
        live.write_text("{}")
        write_json(tmp_path / "a.json", {"v": 2})  # ... survives another write of the target
        assert live.exists()
    with atomic_dir(tmp_path / "model") as staging:
        (staging / "config.json").write_text('{"v": 2}')
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "model"]
    assert json.loads((tmp_path / "a.json").read_text()) == {}
    assert json.loads((tmp_path / "model" / "config.json").read_text()) == {"v": 2}
