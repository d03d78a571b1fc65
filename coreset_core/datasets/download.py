"""torchvision downloads for users with internet: off switch, clear offline errors, nothing left behind.

A failed download (no internet, interrupted transfer) removes every file and folder it
created, including a data directory that did not exist before, so a mistyped path or an
offline machine is never left with empty `FashionMNIST/raw`-style folders.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Callable, Iterable, TypeVar

T = TypeVar("T")

#: Set to 0 to never download (tests, offline machines): the loaders then stop at once with
#: a message saying where to put the files.
DOWNLOAD_ENV = "CORESET_DOWNLOAD"


def downloads_allowed() -> bool:
    """Whether torchvision may download missing datasets (`CORESET_DOWNLOAD`, default on)."""
    return os.environ.get(DOWNLOAD_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def _topmost_missing(path: Path) -> Path | None:
    """The highest ancestor of `path` (or `path` itself) that does not exist yet."""
    missing = None
    for p in (path, *path.parents):
        if p.exists():
            break
        missing = p
    return missing


def _remove_new(root: Path, before: set[str], created_root: Path | None, prune: Iterable[Path]) -> None:
    if created_root is not None:
        shutil.rmtree(created_root, ignore_errors=True)
        return
    if not root.is_dir():
        return
    for name in set(os.listdir(root)) - before:
        target = root / name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target, ignore_errors=True)
        else:
            target.unlink(missing_ok=True)
    for folder in prune:  # empty folders created inside pre-existing ones
        for dirpath, _, _ in sorted(os.walk(folder), key=lambda t: -len(t[0])):
            try:
                os.rmdir(dirpath)
            except OSError:
                pass


def guarded_download(root: Path, what: str, fetch: Callable[[], T], offline_hint: str,
                     prune: Iterable[Path] = ()) -> T:
    """Run `fetch()` (a torchvision download into `root`); on failure remove what it created.

    Raises FileNotFoundError saying what is missing and what to do (`offline_hint`), both
    when downloads are switched off and when the download fails.
    """
    if not downloads_allowed():
        raise FileNotFoundError(f"{what} is not in {root} and downloads are switched off ({DOWNLOAD_ENV}=0); "
                                f"{offline_hint}")
    root = Path(root)
    created_root = _topmost_missing(root)
    before = set(os.listdir(root)) if root.is_dir() else set()
    try:
        return fetch()
    except Exception as exc:
        _remove_new(root, before, created_root, list(prune))
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())
        reason = reason if len(reason) <= 300 else reason[:300] + "..."
        raise FileNotFoundError(
            f"{what} is not in {root} and torchvision could not download it ({reason}); {offline_hint}"
        ) from exc
