"""Paths and version constants shared by every module.

The data and cache directories come from the environment (`CORESET_DATA_DIR`,
`CORESET_CACHE_DIR`) or from sensible defaults, so the CLI, the app and the tests
agree on where things live without passing paths around.
"""
from __future__ import annotations

import os
from pathlib import Path

#: Bumped whenever a change alters cached numbers (features, scores, embeddings):
#: every cache key includes it, so stale files are never reused.
CODE_VERSION = "1"

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def default_data_dir() -> Path:
    """Where dataset files (the npz archives) are looked up.

    `CORESET_DATA_DIR` wins; otherwise the first existing of `./data`,
    `<project>/../shared/data` (the offline copies on this workplace's machines),
    `<project>/data`, falling back to `~/.cache/coreset-studio/data` (torchvision
    downloads land there for users with internet).
    """
    env = os.environ.get("CORESET_DATA_DIR")
    if env:
        return Path(env).expanduser()
    candidates = [
        Path.cwd() / "data",
        PROJECT_ROOT.parent / "shared" / "data",
        PROJECT_ROOT / "data",
    ]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    return Path.home() / ".cache" / "coreset-studio" / "data"


def default_cache_dir() -> Path:
    """Where features, scores, embeddings and results are cached: `CORESET_CACHE_DIR`, else
    `cache/` in a source checkout, else `~/.cache/coreset-studio/cache` (installed from a wheel:
    never inside site-packages)."""
    env = os.environ.get("CORESET_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    if (PROJECT_ROOT / "pyproject.toml").is_file():
        return PROJECT_ROOT / "cache"
    return Path.home() / ".cache" / "coreset-studio" / "cache"


def resolve_dir(path: str | os.PathLike | None, default: Path) -> Path:
    """`path` as a Path, or `default` when None."""
    return Path(path).expanduser() if path is not None else default
