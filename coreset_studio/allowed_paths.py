"""The folders the studio may open: image folders, embeddings files, export destinations.

Streamlit has no login, so anyone who reaches a studio could type any path into it.
Paths opened from the studio must lie under an allowed root: the data directory, the cache
directory, and the folders listed in `CORESET_STUDIO_ROOTS` (separated by `os.pathsep`,
":" on Linux and macOS). Paths are resolved first (symlinks followed, `..` removed), so a
symlink or a `..` that leads outside a root is refused too. The `coreset` command line is
not restricted: its user typed the path.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from coreset_core.config import default_cache_dir, default_data_dir

#: The environment variable that lists extra allowed roots.
ROOTS_ENV = "CORESET_STUDIO_ROOTS"


def _resolve(path: str | os.PathLike) -> Path:
    """`path` made absolute with `~` expanded, every symlink followed and every `..` removed."""
    return Path(os.path.realpath(Path(path).expanduser()))


def allowed_roots() -> tuple[Path, ...]:
    """The resolved allowed roots: data dir, cache dir, then each entry of CORESET_STUDIO_ROOTS."""
    extra = [entry.strip() for entry in os.environ.get(ROOTS_ENV, "").split(os.pathsep)]
    roots: list[Path] = []
    for root in [default_data_dir(), default_cache_dir(), *(e for e in extra if e)]:
        resolved = _resolve(root)
        if resolved not in roots:
            roots.append(resolved)
    return tuple(roots)


def _root_list(roots: Iterable[str | os.PathLike] | None) -> tuple[Path, ...]:
    return allowed_roots() if roots is None else tuple(_resolve(r) for r in roots)


def is_allowed(path: str | os.PathLike, roots: Iterable[str | os.PathLike] | None = None) -> bool:
    """Whether `path`, once resolved, lies under (or is) one of `roots` (default: allowed_roots())."""
    resolved = _resolve(path)
    return any(resolved.is_relative_to(root) for root in _root_list(roots))


def check_allowed(path: str | os.PathLike, roots: Iterable[str | os.PathLike] | None = None) -> Path:
    """The resolved `path` when it lies under one of `roots` (default: `allowed_roots()`).

    Raises ValueError naming CORESET_STUDIO_ROOTS otherwise. Callers should open the returned
    path (already resolved), not the text they were given.
    """
    if path is None or not str(path).strip():
        raise ValueError("no path given: type a folder or file path")
    resolved = _resolve(str(path).strip())
    checked = _root_list(roots)
    if any(resolved.is_relative_to(root) for root in checked):
        return resolved
    shown = f"{path}" if Path(str(path).strip()).expanduser() == resolved else f"{path} (resolves to {resolved})"
    listed = ", ".join(str(r) for r in checked) or "none"
    suggest = resolved if resolved.is_dir() else resolved.parent
    raise ValueError(
        f"{shown} is outside the folders the studio may open ({listed}). "
        f"To allow it, list its folder in {ROOTS_ENV} (several separated by '{os.pathsep}') "
        f"before starting coreset-studio, e.g. {ROOTS_ENV}={suggest} coreset-studio; "
        f"the `coreset` command line is not restricted.")


def check_folder_tree(folder: str | os.PathLike, roots: Iterable[str | os.PathLike] | None = None) -> Path:
    """`check_allowed(folder)`, and also every symlink below it (a link inside an allowed image
    folder that points outside would otherwise be read). Returns the resolved folder."""
    checked = _root_list(roots)
    resolved = check_allowed(folder, checked)
    for parent, dirs, files in os.walk(resolved):
        for name in (*dirs, *files):
            entry = Path(parent) / name
            if entry.is_symlink():
                check_allowed(entry, checked)
    return resolved


def check_dataset(name: str, roots: Iterable[str | os.PathLike] | None = None) -> str:
    """A dataset name the studio may load: registry names pass unchanged; `imagefolder:<path>`
    must name an allowed folder (see `check_folder_tree`), `embeddings:<path>` an allowed file,
    `hf:<folder>[?options]` an allowed save_to_disk folder; all come back with the resolved path."""
    if name.startswith("imagefolder:"):
        return "imagefolder:" + str(check_folder_tree(name[len("imagefolder:"):], roots))
    if name.startswith("embeddings:"):
        return "embeddings:" + str(check_allowed(name[len("embeddings:"):], roots))
    if name.startswith("hf:"):  # a save_to_disk folder only: the studio never fetches from the Hub
        location, mark, options = name[len("hf:"):].partition("?")
        folder = check_folder_tree(location, roots)
        if not folder.is_dir():
            raise ValueError(f"{location} is not a folder: give the folder a Hugging Face dataset was saved to "
                             "with save_to_disk (the studio does not download from the Hub)")
        return "hf:" + str(folder) + mark + options
    return name
