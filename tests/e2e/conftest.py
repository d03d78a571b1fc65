"""Shared fixtures of the browser tests: one studio server and one headless Chromium per test session.

`coreset-studio --server.port <free port>` runs as the README starts it, with a small default
dataset from the environment (digits, 300 training images at 64 px) and the test session's
temporary cache, so the features and scores are prepared once for every browser test.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from studio_browser import CHROMIUM, CHROMIUM_ARGS, E2E_DATASET, E2E_LIMIT, E2E_RESOLUTION, STUDIO_ENV


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


@pytest.fixture(scope="session")
def e2e_cache_dir(session_cache_dir) -> Path:
    """The server's cache: the session's temporary one, or CORESET_E2E_CACHE_DIR (reuse extracted features)."""
    return Path(os.environ.get("CORESET_E2E_CACHE_DIR") or session_cache_dir)


@pytest.fixture(scope="session")
def results_db(e2e_cache_dir, tmp_path_factory):
    """A small results database (two methods, two rates, one seed) so the Accuracy page has lines to draw
    (always a temporary file: the e2e runs never write into a real results database)."""
    from coreset_core.experiments.store import ResultsStore
    from coreset_core.experiments.sweep import plan_sweep, run_sweep

    store = ResultsStore(tmp_path_factory.mktemp("e2e-results") / "results.sqlite")
    configs = plan_sweep(E2E_DATASET, ["random", "el2n"], [0.5, 0.8], [0], limit=E2E_LIMIT, test_limit=200,
                         resolution=E2E_RESOLUTION, score_epochs=2, epochs=5)
    run_sweep(configs, store, progress=False, cache_dir=e2e_cache_dir)
    return store


@pytest.fixture(scope="session")
def server(e2e_cache_dir, results_db):
    """The studio, started by its console script on a free port; stopped (its process group) at the end."""
    exe = shutil.which("coreset-studio")
    cmd = [exe] if exe else [sys.executable, "-m", "coreset_studio.launcher"]
    port = _free_port()
    env = {**os.environ, **STUDIO_ENV, "CORESET_CACHE_DIR": str(e2e_cache_dir),
           "CORESET_STUDIO_RESULTS_DB": str(results_db.path)}
    log = open(results_db.path.parent / "studio-e2e.log", "w")
    args = ["--server.port", str(port), "--server.address", "127.0.0.1", "--server.fileWatcherType", "none",
            "--server.runOnSave", "false"]
    proc = subprocess.Popen(cmd + args, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_http(f"http://127.0.0.1:{port}/_stcore/health", 90)
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def fresh_page(browser):
    """A new browser context (a new studio session, no cookies, no state) and its page."""
    ctx = browser.new_context(viewport={"width": 1500, "height": 1900})
    pg = ctx.new_page()
    pg.set_default_timeout(120_000)
    yield pg
    ctx.close()
