"""Writing the user's output files and folders: never over anything, never half, with the user's umask.

Every writer of user-facing output (`coreset select --out`, every `coreset export` format)
goes through here:

- `check_file_destination` / `check_folder_destination` run BEFORE the work: an existing
  destination is refused unless `force`, and the folder it goes to is probed for
  writability (a real temporary file, so read-only mounts and odd permissions are caught
  even for root);
- `write_file` writes a temporary file next to the destination and links it into place, so
  a crash leaves nothing under the real name and a file that appeared meanwhile is never
  replaced (unless `force`);
- `publish_folder` builds a folder under a temporary name and renames it into place. With
  `force` it replaces only a previous export (a folder holding `MARKER`), never a folder of
  the user's own files;
- files and folders get the modes the user's umask gives (not the 0600/0700 of temp files).
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

#: Written at the root of every exported folder: what wrote it (and what `force` may replace).
MARKER = ".coreset-export.json"


class DestinationError(ValueError):
    """An output destination that cannot or must not be written; the message names it and the fix."""


def user_umask() -> int:
    """The process's umask (read without changing it where /proc allows)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def check_writable(dest: str | os.PathLike) -> None:
    """Probe that `dest` can be created: a temporary file in its folder (or the nearest existing parent)."""
    dest = Path(dest).expanduser()
    probe_in = dest.parent
    while not probe_in.exists() and probe_in != probe_in.parent:
        probe_in = probe_in.parent
    if not probe_in.is_dir():
        raise DestinationError(f"cannot write {dest}: {probe_in} is a file, not a folder; choose another --out")
    try:
        fd, probe = tempfile.mkstemp(prefix=".write-probe.", dir=probe_in)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise DestinationError(f"cannot write {dest}: {probe_in} is not writable ({exc.strerror or exc}); choose "
                               "a folder you can write to") from None


def check_file_destination(dest: str | os.PathLike, *, force: bool = False, probe: bool = True) -> Path:
    """`dest` as a Path if a file may be written there; DestinationError otherwise (nothing is written).

    `probe=False` leaves the writability probe (`check_writable`) for later."""
    dest = Path(dest).expanduser()
    if dest.is_dir():
        raise DestinationError(f"{dest} is a directory; give a file name such as {dest / 'coreset.json'}")
    if (dest.exists() or dest.is_symlink()) and not force:
        raise DestinationError(f"{dest} already exists; choose a new name, or pass --force to replace it")
    if probe:
        check_writable(dest)
    return dest


def _is_previous_export(folder: Path) -> bool:
    return (folder / MARKER).is_file()


def check_folder_destination(dest: str | os.PathLike, *, force: bool = False, probe: bool = True) -> Path:
    """`dest` as a Path if a new folder may be published there (absent, empty, or with `force` a previous export)."""
    dest = Path(dest).expanduser()
    if dest.exists() or dest.is_symlink():
        if not dest.is_dir() or dest.is_symlink():
            raise DestinationError(f"{dest} already exists and is not a folder; choose a new --out folder")
        if any(dest.iterdir()):
            if not force:
                raise DestinationError(f"{dest} already exists and is not an empty folder; choose a new --out "
                                       "folder, or pass --force to replace a previous export")
            if not _is_previous_export(dest):
                raise DestinationError(f"{dest} is not an empty folder and not a previous export (it has no "
                                       f"{MARKER}): --force replaces only exports; move its files away yourself")
    if probe:
        check_writable(dest)
    return dest


def _mode(kind: str) -> int:
    return (0o777 if kind == "folder" else 0o666) & ~user_umask()


def write_file(dest: Path, data: bytes, *, force: bool = False) -> Path:
    """Write `data` to `dest` atomically with the umask's mode; an existing `dest` is replaced only with `force`."""
    check_file_destination(dest, force=force)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _mode("file"))
        if force:
            os.replace(tmp, dest)
        else:
            _link_new(Path(tmp), dest)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return dest


def _link_new(tmp: Path, dest: Path) -> None:
    """Give `tmp` the name `dest` only if nothing has that name (a hard link fails on an existing name)."""
    try:
        os.link(tmp, dest)
    except FileExistsError:
        raise DestinationError(f"{dest} appeared while it was being written; nothing was replaced") from None
    except OSError:  # a filesystem without hard links: check, then rename
        if dest.exists():
            raise DestinationError(f"{dest} appeared while it was being written; nothing was replaced") from None
        os.rename(tmp, dest)


def publish_folder(dest: Path, build: Callable[[Path], None], marker: dict[str, Any], *,
                   force: bool = False) -> Path:
    """Call `build(tmp_folder)`, write `MARKER` there, then rename the folder to `dest` (see the module docstring)."""
    check_folder_destination(dest, force=force)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
    old: Path | None = None
    try:
        os.chmod(tmp, _mode("folder"))
        build(tmp)
        write_file(tmp / MARKER, (json.dumps(marker, indent=1) + "\n").encode())
        check_folder_destination(dest, force=force)  # again: something may have appeared meanwhile
        if dest.exists() and any(dest.iterdir()):
            old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".old", dir=dest.parent))
            os.rename(dest, old / "previous")
        elif dest.exists():
            dest.rmdir()
        os.rename(tmp, dest)
    except BaseException:
        if old is not None and not dest.exists():
            os.rename(old / "previous", dest)  # put the previous export back
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    return dest
