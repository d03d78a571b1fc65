"""The registry of selection and reweighting methods: `run_method` / `select` / `reweight`.

A method is a small function registered under a stable name. `run_method` is the public
edge (scikit-learn's way): it validates the labels, scores, features and the pruning rate
once, computes `B = round((1 - prune_rate) * N)`, calls the method, checks that it
returned exactly `B` distinct indices, and records the full config so that a result always
says how it was made. A registered method trusts its array inputs (int64 labels `0..C-1`
with every class present, float64 scores, finite 2-D features, `1 <= B <= N`) and
validates only its own parameters. It returns the kept indices, optionally with a dict of
method-specific extras (`info`, e.g. the KRR accuracy curve); `info` is part of the record
and must be a deterministic function of the inputs (no wall-clock timings:
`Selection.timings` holds those).

A reweighting method (`register_reweighting`, e.g. CW-ERM) keeps every sample and returns
one loss weight per sample (`Reweighting`); it is registered in the same table, so one
list names every method (`list_methods()` the selection methods,
`list_reweighting_methods()` the others) and `get_method` knows both.
"""
from __future__ import annotations

import inspect
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

from ..jsonable import to_jsonable
from ..validation import budget_for, check_features, check_labels, check_prune_rate, check_scores
from .cost import check_affordable

#: Arrays and sequences longer than this are recorded in a config by shape only.
CONFIG_MAX_ITEMS = 1000


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
    #: the scores must be non-negative difficulties (checked by `run_method`).
    non_negative_scores: bool = False
    #: for a second name of a method: the name it is an alias of.
    alias_of: str | None = None
    #: a reweighting method: `fn(labels, features, *, seed, **params) -> (weights, coreset, info)`.
    reweights: bool = False


@dataclass
class Selection:
    """A selection with everything needed to reproduce and explain it.

    `indices` (sorted), `config` (method, rate, seed, budget, parameters) and `info` (the
    method's extras) are the record; `timings` (wall-clock seconds) is not part of it.
    """

    indices: np.ndarray
    config: dict[str, Any]
    info: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict, repr=False, compare=False)

    def class_counts(self, labels: np.ndarray, num_classes: int | None = None) -> np.ndarray:
        """Number of kept samples per class."""
        c = int(np.max(labels)) + 1 if num_classes is None else num_classes
        return np.bincount(np.asarray(labels)[self.indices], minlength=c)


@dataclass
class Reweighting:
    """Per-sample weights with everything needed to reproduce and explain them."""

    weights: np.ndarray  #: one float weight per training sample
    coreset: np.ndarray  #: sorted indices of the coreset the weights were learnt on
    config: dict[str, Any]
    info: dict[str, Any] = field(default_factory=dict)


_REGISTRY: dict[str, MethodSpec] = {}

_RESERVED = {"labels", "budget", "scores", "features", "seed"}


def register(name: str, *, description: str, needs_scores: bool = False, needs_features: bool = False,
             allocation: str = "classwise", non_negative_scores: bool = False
             ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator registering `fn(labels, budget, *, scores, features, seed, **params)` as `name`.

    Parameters after the reserved ones become the method's documented parameters, with
    their defaults taken from the signature.
    """

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        _add(MethodSpec(name, fn, description, needs_scores, needs_features, allocation, _signature_params(fn),
                        non_negative_scores))
        return fn

    return deco


def register_reweighting(name: str, *, description: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator registering `fn(labels, features, *, seed, **params) -> (weights, coreset, info)` as `name`."""

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        _add(MethodSpec(name, fn, description, needs_scores=False, needs_features=True, allocation="reweighting",
                        params=_signature_params(fn), reweights=True))
        return fn

    return deco


def _signature_params(fn: Callable[..., Any]) -> dict[str, Any]:
    """Parameter name -> default of the parameters after the reserved ones."""
    return {p.name: p.default for p in inspect.signature(fn).parameters.values()
            if p.name not in _RESERVED and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}


def _add(spec: MethodSpec) -> None:
    if spec.name in _REGISTRY:
        raise ValueError(f"method {spec.name!r} is registered twice")
    _REGISTRY[spec.name] = spec


def register_alias(name: str, of: str, note: str = "") -> MethodSpec:
    """Register `name` as a second name of the registered method `of` (same function and parameters)."""
    if name in _REGISTRY:
        raise ValueError(f"method {name!r} is registered twice")
    target = get_method(of)
    description = f"Alias of {of!r} (one method, two names){': ' + note if note else ''}. {target.description}"
    spec = MethodSpec(name, target.fn, description, target.needs_scores, target.needs_features, target.allocation,
                      dict(target.params), target.non_negative_scores, alias_of=of)
    _REGISTRY[name] = spec
    return spec


def get_method(name: str) -> MethodSpec:
    """The spec of a registered (selection or reweighting) method, or a ValueError listing the known names."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}; known methods: {', '.join(sorted(_REGISTRY))}") from None


def list_methods() -> list[str]:
    """Names of all registered selection methods (aliases included), sorted."""
    return sorted(n for n, s in _REGISTRY.items() if not s.reweights)


def list_reweighting_methods() -> list[str]:
    """Names of the registered reweighting methods (every sample kept, its loss weighted), sorted."""
    return sorted(n for n, s in _REGISTRY.items() if s.reweights)


def method_specs() -> list[MethodSpec]:
    """All registered selection method specs, sorted by name."""
    return [_REGISTRY[n] for n in list_methods()]


def _selection_method(name: str) -> MethodSpec:
    spec = get_method(name)
    if spec.reweights:
        raise ValueError(f"{name!r} is a reweighting method (it weights every sample instead of choosing a "
                         "subset): run it with reweight() / Session.reweight")
    return spec


def _recorded(value: Any) -> Any:
    return to_jsonable(value, max_items=CONFIG_MAX_ITEMS)


def validated_inputs(spec: MethodSpec, n: int, scores: Any, features: Any) -> tuple[Any, Any]:
    """`(scores, features)` checked for what `spec` needs (passed through as None when unused)."""
    if spec.needs_scores:
        if scores is None:
            raise ValueError(f"method {spec.name!r} needs difficulty scores (scores=...); "
                             "compute them with `coreset score`")
        scores = check_scores(scores, n, non_negative=spec.non_negative_scores)
    else:
        scores = None
    if spec.needs_features:
        if features is None:
            raise ValueError(f"method {spec.name!r} needs features (features=...); "
                             "extract them with `coreset features`")
        if isinstance(features, (list, tuple)):
            if not features:
                raise ValueError(f"method {spec.name!r}: features is an empty list; pass one (N, d) array "
                                 "per backbone")
            features = [check_features(f, n, name=f"features[{i}]") for i, f in enumerate(features)]
        else:
            features = check_features(features, n)
    else:
        features = None
    return scores, features


def run_method(method: str, *, prune_rate: float, labels: Any, scores: Any = None, features: Any = None,
               seed: int = 0, **params: Any) -> Selection:
    """Run a registered method and return its `Selection` (indices, config, extras)."""
    spec = _selection_method(method)
    check_params(spec, params)
    rate = check_prune_rate(prune_rate)
    labels = check_labels(labels)
    scores, features = validated_inputs(spec, labels.shape[0], scores, features)
    check_cost(spec, rate, labels, features, params)
    return _run_validated(spec, rate, labels, scores, features, int(seed), params)


def check_cost(spec: MethodSpec, rate: float, labels: np.ndarray, features: Any, params: Mapping[str, Any]) -> None:
    """ValueError before any work when `spec` at `rate` is estimated too expensive (`cost.check_affordable`).

    `run_method` calls it; a caller that computes costly inputs first (the Session's scores)
    calls it before them and then `_run_validated`, so the check runs once.
    """
    check_affordable(spec.alias_of or spec.name, labels, budget_for(rate, labels.shape[0]), features,
                     {**spec.params, **params})


def check_params(spec: MethodSpec, params: Mapping[str, Any]) -> None:
    """A ValueError naming the parameters `spec` does not have."""
    unknown = set(params) - set(spec.params)
    if unknown:
        raise ValueError(
            f"method {spec.name!r} has no parameter(s) {sorted(unknown)}; its parameters are {sorted(spec.params)}"
        )


def _run_validated(spec: MethodSpec, rate: float, labels: np.ndarray, scores: Any, features: Any, seed: int,
                   params: dict[str, Any]) -> Selection:
    """`run_method` on validated, cost-checked inputs (for callers that run one method on the same data
    many times, or check the cost before computing the inputs)."""
    n = labels.shape[0]
    budget = budget_for(rate, n)
    start = time.perf_counter()
    out = spec.fn(labels, budget, scores=scores, features=features, seed=seed, **params)
    seconds = time.perf_counter() - start
    indices, info = (out if isinstance(out, tuple) else (out, {}))
    indices = np.asarray(indices, dtype=np.int64)
    if indices.shape != (budget,) or np.unique(indices).size != budget or indices.min(initial=0) < 0 \
            or indices.max(initial=0) >= n:
        raise RuntimeError(
            f"method {spec.name!r} returned {indices.size} indices ({np.unique(indices).size} unique) "
            f"but the budget is {budget} distinct indices in [0, {n})"
        )
    config = {
        "method": spec.name,
        "prune_rate": rate,
        "seed": seed,
        "budget": budget,
        "num_samples": n,
        "params": _recorded({**spec.params, **params}),
    }
    if spec.alias_of is not None:
        config["alias_of"] = spec.alias_of
    return Selection(np.sort(indices), config, dict(info), {"select": seconds})


def select(method: str, *, prune_rate: float, labels: Any, scores: Any = None, features: Any = None,
           seed: int = 0, **params: Any) -> np.ndarray:
    """Sorted indices of the samples that `method` keeps at `prune_rate`."""
    return run_method(method, prune_rate=prune_rate, labels=labels, scores=scores, features=features,
                      seed=seed, **params).indices


def reweight(method: str, *, labels: Any, features: Any, seed: int = 0, **params: Any) -> Reweighting:
    """Run a registered reweighting method: one weight per training sample, plus its coreset and config."""
    spec = get_method(method)
    if not spec.reweights:
        raise ValueError(f"{method!r} is a selection method, not a reweighting one; reweighting methods: "
                         f"{', '.join(list_reweighting_methods())}")
    check_params(spec, params)
    labels = check_labels(labels)
    _, features = validated_inputs(spec, labels.shape[0], None, features)
    weights, coreset, info = spec.fn(labels, features, seed=int(seed), **params)
    config = {"method": method, "seed": int(seed), "num_samples": int(labels.shape[0]),
              "coreset_size": int(np.asarray(coreset).size), "params": {**spec.params, **params}}
    return Reweighting(np.asarray(weights, dtype=np.float64), np.asarray(coreset, dtype=np.int64), config, info)
