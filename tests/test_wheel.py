"""Coreset Studio installs from a wheel (issue 16).

The slow test builds the wheel from a copy of this working tree, installs it with `--no-deps`
into a fresh virtual environment that reuses the installed dependencies
(`--system-site-packages`, plus the site-packages of the venv the test runs in, if any), starts that environment's `coreset-studio` from a folder outside
the checkout, and checks in headless Chromium that the studio renders its first page.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from studio_process import free_port, listening, wait_health

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("CORESET_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
#: Not copied into the build folder: caches, data, build leftovers, VCS, test output.
COPY_IGNORE = shutil.ignore_patterns(".git", "cache", "data", "build", "dist", "*.egg-info", "__pycache__",
                                     "*.pyc", ".pytest_cache", "test-results", ".data", ".whl", ".gl", "tests",
                                     "benchmarks", "docs")


def _build_wheel(tmp: Path) -> Path:
    """The wheel built from a copy of this working tree (the checkout itself is never written)."""
    src = tmp / "src"
    shutil.copytree(ROOT, src, ignore=COPY_IGNORE)
    out = tmp / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                    "-q", "-w", str(out), str(src)], check=True, cwd=tmp, capture_output=True, text=True)
    (wheel,) = out.glob("coreset_studio-*.whl")
    return wheel


def _outer_site_packages() -> list[str]:
    """The site-packages of the virtual environment this test runs in ([] outside one).

    A venv made from `sys.executable` with `--system-site-packages` sees the BASE interpreter's
    packages, not those of the venv running the test, where the dependencies are installed.
    """
    import site

    if sys.prefix == sys.base_prefix:
        return []
    return [p for p in site.getsitepackages() if Path(p).is_relative_to(sys.prefix)]


def _venv_with(wheel: Path, tmp: Path) -> Path:
    """A fresh venv seeing the installed dependencies, with only the wheel installed into it."""
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    outer = _outer_site_packages()
    if outer:  # run from inside a venv: expose its packages too, .pth files included, after the new venv's own
        site_dir = next((venv / "lib").glob("python3*/site-packages"))
        (site_dir / "_outer_venv.pth").write_text(
            "".join(f"import site; site.addsitedir({p!r})\n" for p in outer))
    # the venv has no pip of its own: the system's pip (seen through --system-site-packages) installs into it
    subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)],
                   check=True, capture_output=True, text=True)
    return venv


def _clean_env(**extra: str) -> dict[str, str]:
    """The test's environment without anything that points back into the checkout."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "CORESET_DATA_DIR", "CORESET_CACHE_DIR", "VIRTUAL_ENV")}
    return {**env, **extra}


@pytest.mark.slow
@pytest.mark.skipif(os.name != "posix", reason="venv layout (bin/) and /proc checks are POSIX")
@pytest.mark.timeout(240)
def test_wheel_installs_and_the_installed_studio_renders(tmp_path):
    wheel = _build_wheel(tmp_path)
    names = {n for n in zipfile.ZipFile(wheel).namelist() if ".dist-info/" not in n}
    library = {p.relative_to(ROOT).as_posix() for p in (ROOT / "coreset_core").rglob("*.py")
               if "__pycache__" not in p.parts}
    studio = {p.relative_to(ROOT).as_posix() for p in (ROOT / "coreset_studio").rglob("*.py")
              if "__pycache__" not in p.parts} | {"coreset_studio/.streamlit/config.toml"}
    assert library - names == set(), f"library modules missing from {wheel.name}"
    assert names == library | studio, f"unexpected files in {wheel.name}: {sorted(names - library - studio)}"
    venv = _venv_with(wheel, tmp_path)
    site = next((venv / "lib").glob("python3*/site-packages"))
    outside = tmp_path / "elsewhere"  # not the checkout: nothing here can be imported by accident
    outside.mkdir()

    # the library comes from the venv; without a setting its cache goes to ~/.cache, not site-packages
    probe = subprocess.run(
        [str(venv / "bin" / "python"), "-c",
         "import coreset_core, coreset_studio.launcher as s; from coreset_core.config import default_cache_dir; "
         "print(coreset_core.__file__); print(s.find_app()); print(default_cache_dir())"],
        cwd=outside, env=_clean_env(HOME=str(tmp_path / "home")), check=True, capture_output=True, text=True)
    lib_file, app_file, cache_dir = probe.stdout.split("\n")[:3]
    assert Path(lib_file).is_relative_to(site) and Path(app_file) == site / "coreset_studio" / "app.py"
    assert Path(cache_dir) == tmp_path / "home" / ".cache" / "coreset-studio" / "cache"

    port = free_port()
    env = _clean_env(CORESET_STUDIO_DATASET="digits", CORESET_STUDIO_LIMIT="200", CORESET_STUDIO_TEST_LIMIT="100",
                     CORESET_STUDIO_RESOLUTION="64", CORESET_STUDIO_SCORE_EPOCHS="2", CORESET_STUDIO_AUTO_UMAP="0",
                     CORESET_CACHE_DIR=str(tmp_path / "cache"))
    log = tmp_path / "studio.log"
    proc = subprocess.Popen([str(venv / "bin" / "coreset-studio"), "--server.port", str(port),
                             "--server.fileWatcherType", "none"], cwd=outside, env=env,
                            stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_health(f"http://127.0.0.1:{port}/_stcore/health", proc, log)
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes().split(b"\0")
        assert str(site / "coreset_studio" / "app.py").encode() in cmdline  # the installed app runs
        assert all(addr == "127.0.0.1" for addr, _ in listening(port))
        _in_own_thread(_render_first_page, f"http://127.0.0.1:{port}", log)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


#: JS: [an exception's text or null, the page's title or null, is the script still running].
PAGE_STATE = """() => {
    const exc = document.querySelector('[data-testid="stException"]');
    const h1 = document.querySelector('[data-testid="stMain"] h1');
    const status = document.querySelector('[data-testid="stStatusWidget"]');
    const running = (status !== null && /Running|Stop/.test(status.innerText))
        || document.querySelector('[data-testid="stSpinner"]') !== null;
    return [exc && exc.innerText, h1 && h1.innerText, running];
}"""


def _in_own_thread(fn, *args) -> None:
    """Run `fn` in a fresh thread: Playwright's sync API refuses a thread whose asyncio loop runs
    (the browser tests' session-wide Playwright leaves one running in the main thread)."""
    import threading

    errors: list[BaseException] = []

    def target() -> None:
        try:
            fn(*args)
        except BaseException as exc:  # re-raised in the test's thread below
            errors.append(exc)

    worker = threading.Thread(target=target)
    worker.start()
    worker.join()
    if errors:
        raise errors[0]


def _render_first_page(url: str, log: Path, timeout: float = 120) -> None:
    """The studio's first page in headless Chromium: the sidebar, a finished page with a title, no exception."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url)
            deadline = time.monotonic() + timeout
            state = [None, None, True]
            while time.monotonic() < deadline:
                state = page.evaluate(PAGE_STATE)
                assert state[0] is None, f"the page shows an exception: {state[0][:2000]}\n{log.read_text()[-2000:]}"
                if state[1] and not state[2]:
                    break
                time.sleep(0.3)
            assert state[1] and not state[2], f"no finished page after {timeout} s: {state}\n{log.read_text()[-2000:]}"
            sidebar = page.locator('[data-testid="stSidebar"]').inner_text()
            assert "Coreset Studio" in sidebar, sidebar[:500]
        finally:
            browser.close()
