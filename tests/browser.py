"""Helpers for browser tests: a real `streamlit run` and Debian's Chromium."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from tests.conftest import REPO

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = REPO / "tests" / "artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def require_chromium() -> str:
    """The Chromium binary; skip without it, except under CI where it must exist."""
    if Path(CHROMIUM).exists() or shutil.which("chromium"):
        return CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if os.environ.get("CI") == "true":
        pytest.fail("Chromium is missing under CI: install Debian's chromium package")
    pytest.skip("Chromium is not installed (apt-get install chromium)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def streamlit_server(
    env: dict, cwd: Path = REPO, timeout: float = 60, launcher: Path | None = None
):
    """Run `streamlit run dashboard.py` on a free port until the block ends.

    `launcher`: a script that starts Streamlit's command line itself (after
    preparing the process), instead of `python -m streamlit`.
    """
    port = free_port()
    start = [str(launcher)] if launcher else ["-m", "streamlit"]
    command = [
        sys.executable, *start, "run", str(REPO / "dashboard.py"),
        "--server.port", str(port), "--server.headless", "true",
        "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false",
    ]  # fmt: skip
    log = (ARTIFACTS / f"streamlit-{port}.log").open("wb") if _artifacts() else None
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process, timeout)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)
        if log:
            log.close()


@contextmanager
def chromium_browser():
    """Headless Chromium; each `new_page(browser)` is a fresh context."""
    from playwright.sync_api import sync_playwright

    executable = require_chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


def new_page(browser, width: int = 1400, height: int = 900):
    """A page in a context of its own: no cookies or session shared."""
    context = browser.new_context(
        viewport={"width": width, "height": height}, accept_downloads=True
    )
    return context.new_page()


@contextmanager
def chromium_page():
    with chromium_browser() as browser:
        yield new_page(browser)


def wait_until_idle(page, timeout_ms: int = 30000) -> None:
    """Wait until the app's script has finished running (no running indicator)."""
    page.wait_for_selector("[data-testid='stApp']", timeout=timeout_ms)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
        " || !document.querySelector('[data-testid=\"stStatusWidget\"]')"
        ".innerText.includes('Running')",
        timeout=timeout_ms,
    )


def screenshot(page, name: str) -> Path:
    path = _artifacts() / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def _artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


def _wait_healthy(url: str, process, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited with {process.returncode}")
        try:
            if requests.get(f"{url}/_stcore/health", timeout=2).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"streamlit did not become healthy within {timeout} s")
