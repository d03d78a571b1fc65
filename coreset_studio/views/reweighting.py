"""CW-ERM in the studio: where every sample's weight comes from.

`Session.reweight("cw-erm", ...)` learns weights on a small class-wise
coreset (Meta-Weight-Net) and broadcasts them: each training sample takes the weight of its
nearest coreset sample. `reweighting_view` lays that out as tables: the weight of every
sample with the coreset sample it took it from, the coreset itself (its weights, its
train/meta role, how many samples copied each weight) and the weights' distribution per class.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd


@dataclass
class ReweightingView:
    """Tables explaining one CW-ERM run (see module docstring)."""

    samples: pd.DataFrame  #: position, id, class, weight, source (position of the coreset sample), in_coreset
    coreset: pd.DataFrame  #: position, id, class, weight, role ("train"/"meta"), copies
    per_class: pd.DataFrame  #: class, class_name, count, mean, std, min, q25, median, q75, max
    config: dict[str, Any]


def weight_sources(features: np.ndarray, coreset: np.ndarray) -> np.ndarray:
    """The coreset position each sample takes its weight from (1-NN; a coreset sample is its own source)."""
    from coreset_core.methods.cw_erm import nearest_coreset

    coreset = np.asarray(coreset, dtype=np.int64)
    source = coreset[nearest_coreset(np.asarray(features), coreset)]
    source[coreset] = coreset
    return source


def _per_class(weights: np.ndarray, labels: np.ndarray, names: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame({"class": labels, "weight": weights})
    stats = frame.groupby("class")["weight"].describe().rename(
        columns={"25%": "q25", "50%": "median", "75%": "q75"}).reset_index()
    stats["class_name"] = [names[c] for c in stats["class"]]
    stats["count"] = stats["count"].astype(np.int64)
    stats["std"] = stats["std"].fillna(0.0)
    return stats[["class", "class_name", "count", "mean", "std", "min", "q25", "median", "q75", "max"]]


def reweighting_view(session, *, seed: int = 0, **params: Any) -> ReweightingView:
    """Run CW-ERM on the session's training features (`Session.reweight`) and explain its weights
    (memoised in the Session, like the weights)."""
    from coreset_core.jsonable import freeze

    return session.memoised(("reweighting view", seed, freeze(params)),
                            lambda: _reweighting_view(session, seed, params))


def _reweighting_view(session, seed: int, params: dict[str, Any]) -> ReweightingView:
    labels, features = session.labels, session.train.features
    result = session.reweight("cw-erm", seed=seed, **params)
    source = weight_sources(features, result.coreset)
    ids = session.ids
    samples = pd.DataFrame({"position": np.arange(labels.shape[0]), "id": ids, "class": labels,
                            "weight": result.weights, "source": source, "source_id": ids[source],
                            "in_coreset": np.isin(np.arange(labels.shape[0]), result.coreset)})
    meta = set(np.asarray(result.info.get("meta_indices", []), dtype=np.int64).tolist())
    copies = np.bincount(source, minlength=labels.shape[0])[result.coreset]
    coreset = pd.DataFrame({"position": result.coreset, "id": ids[result.coreset], "class": labels[result.coreset],
                            "weight": result.weights[result.coreset],
                            "role": ["meta" if int(p) in meta else "train" for p in result.coreset],
                            "copies": copies})
    return ReweightingView(samples, coreset, _per_class(result.weights, labels, session.class_names),
                           dict(result.config))


@dataclass
class WeightedProbes:
    """A linear probe trained on every sample with a reweighting method's weights, beside the unweighted one."""

    weighted: dict[str, Any]  #: test metrics of the weighted probe
    plain: dict[str, Any]  #: test metrics of the unweighted probe on all data (same seed and epochs)
    weights: np.ndarray  #: the per-sample weights
    command: str  #: the `coreset train` line of the weighted run


def weighted_probes(session, *, seed: int, epochs: int, method: str = "cw-erm") -> WeightedProbes:
    """Both probes of the Compare page's reweighting panel (`Session.reweight` and `Session.probe`, memoised)."""
    from coreset_core.experiments.run_config import RunConfig

    weights = session.reweight(method, seed=seed).weights
    weighted = session.probe(None, seed=seed, epochs=epochs, sample_weights=weights).metrics
    plain = session.probe(None, seed=seed, epochs=epochs).metrics
    return WeightedProbes(weighted, plain, weights, RunConfig(session.spec, method, 0.0, seed, epochs=epochs).command())


__all__ = ["ReweightingView", "WeightedProbes", "reweighting_view", "weight_sources", "weighted_probes"]
