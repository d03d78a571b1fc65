"""The Embedding page's 2-D map: PCA at once, UMAP from the disk cache or a background job.

UMAP takes from seconds to minutes on a CPU (and compiles for about a minute on the first
fit of a process), so it never blocks a page: `umap_coords` returns it only when it is on
disk or its background job (a `jobs.JobSlot`, the studio's one job mechanism) finished, and
`start_umap` starts that job.
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np

from coreset_core import cache
from coreset_core import embedding as E
from coreset_studio.jobs import JobBusy, JobSlot, JobStatus, shared_slot


def _args(session: Any) -> tuple[np.ndarray, dict[str, Any]]:
    train = session.train
    return train.features, {"feature_key": dict(train.key) if train.key else None, "cache_dir": session.cache_root}


def pca_coords(session: Any) -> np.ndarray:
    """The first two principal components of the training features (cached on disk)."""
    return session.embedding("pca")


def _umap_slot(session: Any) -> JobSlot:
    """The one background slot of the UMAP of these features in this process (`jobs.shared_slot`)."""
    features, kw = _args(session)
    key = E.embedding_key(features, "umap", E.DEFAULT_UMAP, kw["feature_key"])
    return shared_slot(f"UMAP {cache.key_digest(key)}@{kw['cache_dir']}")


def umap_job(session: Any) -> JobStatus | None:
    """The status of this process's background UMAP of the session's features, or None if none was started."""
    status = _umap_slot(session).status()
    return None if status.state == "idle" else status


def umap_coords(session: Any) -> np.ndarray | None:
    """The UMAP of the training features if it is on disk or a background job finished, else None."""
    features, kw = _args(session)
    hit = E.load_cached(features, "umap", **kw)
    if hit is None:
        job = umap_job(session)
        hit = job.result if job is not None and job.state == "done" else None
    return hit


def start_umap(session: Any, *, nice: int = 5) -> JobStatus:
    """Start the background UMAP of the session's training features unless it runs or ran (a failed one
    restarts); returns its status. The job lowers its own thread's priority by `nice` (Linux), so the
    studio stays responsive."""
    features, kw = _args(session)
    slot = _umap_slot(session)

    def work(ctx) -> np.ndarray:
        if nice:
            try:
                os.nice(nice)  # Linux: only this thread
            except OSError:
                pass
        return E.get_embedding(features, "umap", **kw)

    if slot.status().state in ("idle", "failed"):
        try:
            slot.start(work, name="UMAP")
        except JobBusy:  # another rerun started it a moment ago
            pass
    return slot.status()
