"""The Embedding page's 2-D map: PCA at once, UMAP from the disk cache or a background job.

UMAP takes from seconds to minutes on a CPU (and compiles for about a minute on the first
fit of a process), so it never blocks a page: `umap_coords` returns it only when it is on
disk or a background job finished, and `start_umap` starts that job.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from coreset_core import embedding as E


def _args(session: Any) -> tuple[np.ndarray, dict[str, Any]]:
    train = session.train
    return train.features, {"feature_key": dict(train.key) if train.key else None, "cache_dir": session.cache_root}


def pca_coords(session: Any) -> np.ndarray:
    """The first two principal components of the training features (cached on disk)."""
    return session.embedding("pca")


def umap_job(session: Any) -> E.EmbeddingJob | None:
    """This process's background UMAP job of the session's features, if one was started."""
    features, kw = _args(session)
    return E.job_for(features, "umap", **kw)


def umap_coords(session: Any) -> np.ndarray | None:
    """The UMAP of the training features if it is on disk or a background job finished, else None."""
    features, kw = _args(session)
    hit = E.load_cached(features, "umap", **kw)
    if hit is None:
        job = E.job_for(features, "umap", **kw)
        hit = job.result if job is not None and job.state == "done" else None
    return hit


def start_umap(session: Any) -> E.EmbeddingJob:
    """Start (or return the running) background UMAP of the session's training features."""
    features, kw = _args(session)
    return E.start_background(features, "umap", **kw)
