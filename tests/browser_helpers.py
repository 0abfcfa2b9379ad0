"""Helpers for tests that drive real server processes and a headless Chromium.

Every process is started in its own session (process group) and stopped by that group's id, so
a server's workers and a browser's renderers go with it, also when a test fails.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator, Sequence

import pytest

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "test-artifacts"  # screenshots and server logs (gitignored)
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop_group(pid: int, grace_s: float = 10.0) -> None:
    """SIGTERM the process group led by pid, SIGKILL it after grace_s."""
    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                os.killpg(pid, 0)
            except ProcessLookupError:
                return
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)  # reap the leader so the group can vanish
            time.sleep(0.2)


class Service:
    """A subprocess in its own process group, its output in a log file."""

    def __init__(self, name: str, argv: Sequence[str], log_dir: Path, env: dict | None = None,
                 cwd: Path | None = None):
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(list(argv), stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env, cwd=cwd, start_new_session=True)

    def log_tail(self, chars: int = 3000) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-chars:]

    def wait_http(self, url: str, timeout_s: float, expect: str | None = None) -> None:
        """Poll url until it answers 200 (and contains `expect`); fail with the log tail."""
        deadline = time.monotonic() + timeout_s
        last = "no answer"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(url, timeout=5) as resp:
                    body = resp.read().decode(errors="replace")
                    if resp.status == 200 and (expect is None or expect in body):
                        return
                    last = f"HTTP {resp.status}: {body[:200]}"
            except (urllib.error.URLError, OSError) as err:
                last = str(err)
            time.sleep(1.0)
        pytest.fail(f"{self.name} not ready at {url} after {timeout_s:.0f}s ({last}):\n{self.log_tail()}")

    def stop(self) -> None:
        stop_group(self.proc.pid)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        self._log.close()


def chromium_or_skip() -> tuple[str, str]:
    """(chromium, chromedriver) paths, or skip the test saying how to install them."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not chromium or not driver:
        pytest.skip("headless browser tests need Debian's chromium and chromium-driver: "
                    "apt-get install -y chromium chromium-driver (.ci/run does this when apt works)")
    pytest.importorskip("selenium", reason="selenium is not installed: pip install -e '.[dev]'")
    return chromium, driver


@contextlib.contextmanager
def headless_chromium(width: int = 1600, height: int = 1000) -> Iterator:
    """A Selenium WebDriver on headless Chromium with a throwaway profile; the driver's process
    group (chromedriver and the browser it started) is killed on exit."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service as DriverService

    chromium, driver_path = chromium_or_skip()
    profile = tempfile.mkdtemp(prefix="aprm-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        options.add_argument(flag)
    service = DriverService(driver_path, popen_kw={"start_new_session": True})
    driver = webdriver.Chrome(options=options, service=service)
    try:
        driver.set_page_load_timeout(60)
        yield driver
    finally:
        with contextlib.suppress(Exception):
            driver.quit()
        if service.process is not None:
            stop_group(service.process.pid, grace_s=2.0)
        shutil.rmtree(profile, ignore_errors=True)


def wait_for_text(driver, texts: Sequence[str], timeout_s: float) -> str:
    """Wait until the rendered page's visible text holds every string; return that text."""
    from selenium.webdriver.common.by import By

    deadline = time.monotonic() + timeout_s
    body = ""
    while time.monotonic() < deadline:
        body = driver.find_element(By.TAG_NAME, "body").text
        if all(t in body for t in texts):
            return body
        time.sleep(0.5)
    missing = [t for t in texts if t not in body]
    raise AssertionError(f"page {driver.current_url} did not show {missing} within {timeout_s:.0f}s; "
                         f"it shows:\n{body[:2000]}")


def screenshot(driver, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    assert driver.save_screenshot(str(path)), f"screenshot {path} failed"
    assert path.stat().st_size > 1000, f"screenshot {path} is empty"
    return path
