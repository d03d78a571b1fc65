"""Rows of a possibly memory-mapped feature matrix, read without keeping the mapping resident.

A memory-mapped `.npy` (what `embeddings:<folder>` returns, N x d) costs no memory until
it is read; but every page of a mapping that the process touches counts in its resident
memory (RSS) until the kernel reclaims it, so walking a 4 GB mapping once makes the process
4 GB large, and a scattered read maps whole cached folios around each row. Reading the rows
with `pread` into a fresh buffer instead goes through the page cache without mapping
anything: memory stays at the buffer's size whatever N.

Measured (400,000 x 512 float32, file in the page cache, this project's shared 2-core
machine): a pass in 16,384-row blocks takes 0.34 s with `pread` (RSS 75 MB), 0.30 s
copying through the mapping and dropping the block's pages with `madvise(MADV_DONTNEED)`
(44 MB), 0.49 s through the mapping unreleased (831 MB); 2,000 gathers of 256 scattered
rows take 1.9 s with `pread` (RSS 49 MB), 3.3 s with `madvise` (646 MB: the folios around
the rows stay mapped), 0.6 s unreleased (831 MB). `pread` is the one way used.

Arrays held in memory (and mappings that `pread` cannot read faithfully: copy-on-write
mode, non-contiguous views) are sliced and indexed as usual, with no overhead.
"""
from __future__ import annotations

import mmap
import os
from dataclasses import dataclass
from typing import Iterator

import numpy as np

#: Bytes of one block of rows (32 MB: 16,384 rows of 512 float32).
BLOCK_BYTES = 1 << 25


@dataclass(frozen=True)
class FileRows:
    """Where the rows of a mapped array lie in their file."""

    path: str
    offset: int  #: byte offset of row 0
    row_bytes: int


def _root_memmap(arr: np.ndarray) -> np.memmap | None:
    """The `np.memmap` that owns `arr`'s mapping (following views), or None."""
    base = arr
    while base is not None:
        if isinstance(base, np.memmap) and isinstance(base.base, mmap.mmap):
            return base
        base = getattr(base, "base", None)
    return None


def file_rows(arr: np.ndarray) -> FileRows | None:
    """Where the rows of `arr` lie in a file, when `arr` is a C-ordered 2-D view of a read-only or
    shared memory mapping (writes to a shared mapping are the file's pages); else None."""
    if not isinstance(arr, np.ndarray) or arr.ndim != 2 or not arr.flags.c_contiguous:
        return None
    root = _root_memmap(arr)
    if root is None or root.filename is None or root.mode not in ("r", "r+", "w+"):
        return None
    start = arr.__array_interface__["data"][0] - root.__array_interface__["data"][0]
    return FileRows(str(root.filename), int(root.offset) + int(start), arr.shape[1] * arr.dtype.itemsize)


def is_mapped(arr: np.ndarray) -> bool:
    """Whether `arr`'s rows are read from a file by this module (a memory-mapped array)."""
    return file_rows(arr) is not None


def block_rows(arr: np.ndarray, block_bytes: int = BLOCK_BYTES) -> int:
    """Rows per block of `block_bytes` (at least one)."""
    return max(1, block_bytes // max(1, arr.shape[1] * arr.dtype.itemsize))


def pread_rows(fd: int, offset: int, rows: np.ndarray, out: np.ndarray) -> None:
    """Read rows `rows` (sorted) of a file whose row 0 starts at byte `offset` into `out` (C-ordered,
    one row each), one `pread` per run of consecutive rows; EOFError when the file is too short."""
    if rows.size == 0:
        return
    size = out.shape[1] * out.dtype.itemsize
    view = memoryview(out).cast("B")
    cuts = np.concatenate([[0], np.flatnonzero(np.diff(rows) != 1) + 1, [rows.size]]).tolist()
    for a, b in zip(cuts, cuts[1:]):
        want, at = (b - a) * size, offset + int(rows[a]) * size
        if os.preadv(fd, [view[a * size:b * size]], at) != want:
            raise EOFError(f"the file ends before row {int(rows[b - 1])} (truncated?)")


def _read(where: FileRows, rows: np.ndarray, out: np.ndarray) -> None:
    fd = os.open(where.path, os.O_RDONLY)
    try:
        pread_rows(fd, where.offset, rows, out)
    finally:
        os.close(fd)


def read_rows(arr: np.ndarray, start: int, stop: int) -> np.ndarray:
    """Rows `start:stop` of `arr`: a view for an array in memory, a fresh copy for a mapped one."""
    where = file_rows(arr)
    if where is None:
        return arr[start:stop]
    start, stop, _ = slice(start, stop).indices(arr.shape[0])
    out = np.empty((max(0, stop - start), arr.shape[1]), dtype=arr.dtype)
    _read(where, np.arange(start, max(start, stop), dtype=np.int64), out)
    return out


def row_blocks(arr: np.ndarray, rows: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """`(start, rows start:start+k)` over all rows of `arr` in order, `rows` per block
    (default `block_rows(arr)`); views in memory, copies of a mapped array."""
    step = block_rows(arr) if rows is None else max(1, int(rows))
    for s in range(0, arr.shape[0], step):
        yield s, read_rows(arr, s, s + step)


def gather_rows(arr: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """`arr[idx]` (rows in the order of `idx`, repeats allowed): read in sorted order for a mapped
    array, block by block, so that memory holds the result and one block."""
    where = file_rows(arr)
    if where is None:
        return arr[idx]
    idx = np.asarray(idx, dtype=np.int64).reshape(-1)
    out = np.empty((idx.size, arr.shape[1]), dtype=arr.dtype)
    if idx.size == 0:
        return out
    if idx.min() < 0 or idx.max() >= arr.shape[0]:
        raise IndexError(f"row index out of range for {arr.shape[0]} rows")
    if idx.size == 1 or np.all(idx[1:] >= idx[:-1]):
        _read(where, idx, out)
        return out
    order = np.argsort(idx, kind="stable")
    step = block_rows(arr)
    buf = np.empty((min(step, idx.size), arr.shape[1]), dtype=arr.dtype)
    for a in range(0, idx.size, step):
        part = order[a:a + step]
        _read(where, idx[part], buf[:part.size])
        out[part] = buf[:part.size]
    return out


def available_memory() -> int:
    """Bytes of memory this process can still allocate without swapping (MemAvailable; else physical)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def format_bytes(nbytes: float) -> str:
    """`nbytes` as GB (from 0.1 GB) or MB."""
    return f"{nbytes / 1e9:.1f} GB" if nbytes >= 1e8 else f"{nbytes / 1e6:.1f} MB"


__all__ = ["BLOCK_BYTES", "FileRows", "available_memory", "block_rows", "file_rows", "format_bytes", "gather_rows",
           "is_mapped", "pread_rows", "read_rows", "row_blocks"]
