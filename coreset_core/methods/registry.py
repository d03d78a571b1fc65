"""The registry of selection methods and the `select` entry point.

A method is a small function registered under a stable name. It receives validated
inputs and the total budget `B`, and returns the kept indices (optionally with a dict of
method-specific extras such as the KRR accuracy curve). `run_method` wraps every call:
it validates the inputs, computes `B = round((1 - prune_rate) * N)`, checks that the
method returned exactly `B` unique indices, and records the full config so that a result
always says how it was made.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ..validation import budget_for, check_features, check_labels, check_prune_rate, check_scores


@dataclass(frozen=True)
class MethodSpec:
    """What the registry knows about a method."""

    name: str
    fn: Callable[..., Any]
    description: str
    needs_scores: bool
    needs_features: bool
    #: "global" ranks all samples together; "classwise" decides per-class counts itself.
    allocation: str
    #: parameter name -> default value (from the function signature).
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class Selection:
    """A selection with everything needed to reproduce and explain it."""

    indices: np.ndarray
    config: dict[str, Any]
    info: dict[str, Any] = field(default_factory=dict)

    def class_counts(self, labels: np.ndarray, num_classes: int | None = None) -> np.ndarray:
        """Number of kept samples per class."""
        c = int(np.max(labels)) + 1 if num_classes is None else num_classes
        return np.bincount(np.asarray(labels)[self.indices], minlength=c)


_REGISTRY: dict[str, MethodSpec] = {}

_RESERVED = {"labels", "budget", "scores", "features", "seed"}


def register(name: str, *, description: str, needs_scores: bool = False, needs_features: bool = False,
             allocation: str = "classwise") -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator registering `fn(labels, budget, *, scores, features, seed, **params)` as `name`.

    Parameters after the reserved ones become the method's documented parameters, with
    their defaults taken from the signature.
    """

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        if name in _REGISTRY:
            raise ValueError(f"method {name!r} is registered twice")
        params = {
            p.name: p.default
            for p in inspect.signature(fn).parameters.values()
            if p.name not in _RESERVED and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
        }
        _REGISTRY[name] = MethodSpec(name, fn, description, needs_scores, needs_features, allocation, params)
        return fn

    return deco


def get_method(name: str) -> MethodSpec:
    """The spec of a registered method, or a ValueError listing the known names."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}; known methods: {', '.join(sorted(_REGISTRY))}") from None


def list_methods() -> list[str]:
    """Names of all registered selection methods, sorted."""
    return sorted(_REGISTRY)


def method_specs() -> list[MethodSpec]:
    """All registered method specs, sorted by name."""
    return [_REGISTRY[n] for n in list_methods()]


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return f"<array shape={list(value.shape)}>"
    if isinstance(value, (list, tuple)) and value and isinstance(value[0], np.ndarray):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    return value


def run_method(method: str, *, prune_rate: float, labels: Any, scores: Any = None, features: Any = None,
               seed: int = 0, **params: Any) -> Selection:
    """Run a registered method and return its `Selection` (indices, config, extras)."""
    spec = get_method(method)
    labels = check_labels(labels)
    n = labels.shape[0]
    rate = check_prune_rate(prune_rate)
    unknown = set(params) - set(spec.params)
    if unknown:
        raise ValueError(
            f"method {method!r} has no parameter(s) {sorted(unknown)}; its parameters are {sorted(spec.params)}"
        )
    if spec.needs_scores:
        if scores is None:
            raise ValueError(f"method {method!r} needs difficulty scores (scores=...); compute them with `coreset score`")
        scores = check_scores(scores, n)
    if spec.needs_features:
        if features is None:
            raise ValueError(f"method {method!r} needs features (features=...); extract them with `coreset features`")
        if isinstance(features, (list, tuple)):
            features = [check_features(f, n, name=f"features[{i}]") for i, f in enumerate(features)]
        else:
            features = check_features(features, n)
    budget = budget_for(rate, n)
    out = spec.fn(labels, budget, scores=scores, features=features, seed=int(seed), **params)
    indices, info = (out if isinstance(out, tuple) else (out, {}))
    indices = np.asarray(indices, dtype=np.int64)
    if indices.shape != (budget,) or np.unique(indices).size != budget or indices.min(initial=0) < 0 \
            or indices.max(initial=0) >= n:
        raise RuntimeError(
            f"method {method!r} returned {indices.size} indices ({np.unique(indices).size} unique) "
            f"but the budget is {budget} distinct indices in [0, {n})"
        )
    config = {
        "method": method,
        "prune_rate": rate,
        "seed": int(seed),
        "budget": budget,
        "num_samples": n,
        "params": {**spec.params, **{k: _jsonable(v) for k, v in params.items()}},
    }
    config["params"] = {k: _jsonable(v) for k, v in config["params"].items()}
    return Selection(np.sort(indices), config, info)


def select(method: str, *, prune_rate: float, labels: Any, scores: Any = None, features: Any = None,
           seed: int = 0, **params: Any) -> np.ndarray:
    """Sorted indices of the samples that `method` keeps at `prune_rate`."""
    return run_method(method, prune_rate=prune_rate, labels=labels, scores=scores, features=features,
                      seed=seed, **params).indices
