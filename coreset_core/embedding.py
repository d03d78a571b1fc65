"""2-D embeddings of feature sets (UMAP, PCA), computed once and cached on disk.

`get_embedding(features, method, feature_key=...)` returns an `(N, 2)` float32 array; the
result is stored through `coreset_core.cache` under `<cache>/embeddings/`, keyed by the
feature set's own cache key (`FeatureSet.key`, or a hash of the array when no key is
given), the method and its parameters, and the code version. So a feature set is embedded
once, whatever app session or process asks.

UMAP runs on the first `pca_dims` principal components (50 by default: the usual
pre-reduction, faster and less noisy than UMAP on 1280-d features). UMAP is slow on a
small machine (numba compiles for about a minute on the first fit of a process; then
10-60 s for 10k-50k samples), so the studio shows the PCA projection at once and computes
UMAP in the background with its one job mechanism (`coreset_studio.jobs`); `load_cached`
tells whether it is on disk already.
"""
from __future__ import annotations

import hashlib
import os
from typing import Any, Mapping

import numpy as np

from . import cache

METHODS = ("umap", "pca")
DEFAULT_UMAP = {"n_neighbors": 15, "min_dist": 0.1, "metric": "euclidean", "pca_dims": 50, "seed": 0}
DEFAULT_PCA = {"seed": 0}


def _check(features: Any) -> np.ndarray:
    x = np.asarray(features)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"features must be a 2-D array with at least 2 samples, got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float32)
    if not np.all(np.isfinite(x)):
        raise ValueError("features contain NaN/inf values; re-extract them")
    return x


def _params(method: str, params: Mapping[str, Any]) -> dict[str, Any]:
    if method not in METHODS:
        raise ValueError(f"unknown embedding method {method!r}; choose one of {', '.join(METHODS)}")
    defaults = DEFAULT_UMAP if method == "umap" else DEFAULT_PCA
    unknown = set(params) - set(defaults)
    if unknown:
        raise ValueError(f"{method} has no parameter(s) {sorted(unknown)}; its parameters are {sorted(defaults)}")
    return {**defaults, **params}


def features_fingerprint(features: np.ndarray) -> str:
    """Content hash of a feature array (when the caller has no cache key for it)."""
    x = np.ascontiguousarray(features)
    h = hashlib.sha256()
    h.update(f"{x.shape}{x.dtype}".encode())
    h.update(memoryview(x).cast("B"))
    return h.hexdigest()[:24]


def embedding_key(features: np.ndarray, method: str, params: Mapping[str, Any],
                  feature_key: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Everything that determines an embedding: the features' identity, the method and its parameters."""
    key: dict[str, Any] = {"kind": "embedding", "method": method, "params": dict(sorted(params.items())),
                           "shape": list(np.shape(features))}
    if feature_key is not None:
        key["features"] = dict(feature_key)
        for name in ("dataset", "split", "backbone"):  # readable cache file names
            if name in feature_key:
                key[name] = feature_key[name]
    else:
        key["features"] = features_fingerprint(features)
    return key


def pca_2d(features: np.ndarray, seed: int = 0) -> np.ndarray:
    """First two principal components (float32)."""
    return _pca(features, 2, seed).astype(np.float32)


def _pca(features: np.ndarray, dims: int, seed: int) -> np.ndarray:
    from sklearn.decomposition import PCA

    x = np.asarray(features, dtype=np.float32)
    dims = int(min(dims, x.shape[0], x.shape[1]))
    solver = "randomized" if min(x.shape) > 4 * dims else "full"
    return PCA(n_components=dims, svd_solver=solver, random_state=seed).fit_transform(x)


def umap_2d(features: np.ndarray, *, n_neighbors: int = 15, min_dist: float = 0.1, metric: str = "euclidean",
            pca_dims: int = 50, seed: int = 0) -> np.ndarray:
    """UMAP of `features` (after PCA to `pca_dims` dims; 0 disables the pre-reduction), float32."""
    import umap

    x = np.asarray(features, dtype=np.float32)
    if pca_dims and x.shape[1] > pca_dims and x.shape[0] > pca_dims:
        x = _pca(x, int(pca_dims), seed).astype(np.float32)
    n_neighbors = int(max(2, min(n_neighbors, x.shape[0] - 1)))
    reducer = umap.UMAP(n_components=2, n_neighbors=n_neighbors, min_dist=float(min_dist), metric=metric,
                        random_state=int(seed), low_memory=True, n_jobs=1)
    return np.asarray(reducer.fit_transform(x), dtype=np.float32)


def _compute(features: np.ndarray, method: str, params: Mapping[str, Any]) -> np.ndarray:
    if method == "pca":
        return pca_2d(features, seed=int(params.get("seed", 0)))
    return umap_2d(features, **params)


def load_cached(features: np.ndarray, method: str = "umap", *, feature_key: Mapping[str, Any] | None = None,
                cache_dir: str | os.PathLike | None = None, **params: Any) -> np.ndarray | None:
    """The cached embedding, or None if it has not been computed yet (never computes)."""
    p = _params(method, params)
    key = embedding_key(features, method, p, feature_key)
    hit = cache.load(cache.entry_path("embeddings", key, cache_dir), key, ("coords",))
    return None if hit is None else hit["coords"]


def get_embedding(features: Any, method: str = "umap", *, feature_key: Mapping[str, Any] | None = None,
                  cache_dir: str | os.PathLike | None = None, refresh: bool = False, **params: Any) -> np.ndarray:
    """`(N, 2)` float32 embedding of `features` by `method` ("umap" or "pca"), cached on disk.

    `feature_key` identifies the features (pass `FeatureSet.key`); without it the array's
    content hash is used. `params` override the method's defaults (`DEFAULT_UMAP` / `DEFAULT_PCA`).
    """
    x = _check(features)
    p = _params(method, params)
    key = embedding_key(x, method, p, feature_key)
    arrays = cache.cached_arrays("embeddings", key, lambda: {"coords": _compute(x, method, p)}, ("coords",),
                                 cache_dir=cache_dir, refresh=refresh)
    return arrays["coords"]


__all__ = ["DEFAULT_PCA", "DEFAULT_UMAP", "METHODS", "embedding_key", "features_fingerprint", "get_embedding",
           "load_cached", "pca_2d", "umap_2d"]
