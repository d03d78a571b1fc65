"""Shared test setup: every test session gets its own empty cache directory."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# Set before any coreset_core import reads it, so no test writes into the project's cache/.
_SESSION_CACHE = Path(tempfile.mkdtemp(prefix="coreset-test-cache-"))
os.environ["CORESET_CACHE_DIR"] = str(_SESSION_CACHE)
os.environ.setdefault("STREAMLIT_BROWSER_GATHER_USAGE_STATS", "false")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def session_cache_dir() -> Path:
    """The cache directory shared by the whole test session (features are extracted once)."""
    return _SESSION_CACHE


@pytest.fixture(scope="session")
def cifar10():
    """The real offline CIFAR-10 archive (skips with a reason if this machine lacks it)."""
    from coreset_core.datasets import load_dataset

    if not (SHARED_DATA / "cifar10_jpeg.npz").is_file() and not os.environ.get("CORESET_DATA_DIR"):
        pytest.skip("the offline CIFAR-10 archive (../shared/data/cifar10_jpeg.npz) is not on this machine")
    return load_dataset("cifar10")
