"""`SelectionRequest`: the one description of what to select (or reweight).

A request names a registered method, the pruning rate, the difficulty score fed to methods
that need one (None: the data setting's), the seed, the method's parameters and, for a
multi-backbone method (RAM-APL), the backbones whose features it averages over.
`Session.select` / `Session.reweight` take it, `Selection.config["request"]` records it,
`RunConfig` embeds it and every page prints its command line with `command(spec)`:
`to_dict` / `from_dict` is its only serialised form.

It is validated once, here: an unknown method, a parameter the method does not have, a bad
pruning rate or backbones for a single-backbone method are refused before any data loads.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .jsonable import freeze, thaw
from .validation import check_prune_rate, check_whole

#: Backbones whose features RAM-APL averages over by default (SPEC 6: "for each of several backbones").
RAM_APL_BACKBONES: tuple[str, ...] = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")
#: Methods that take a list of feature arrays, one per backbone, instead of one array.
MULTI_BACKBONE_METHODS: frozenset[str] = frozenset({"ram-apl"})
#: The keys of `SelectionRequest.to_dict()`.
REQUEST_KEYS = ("method", "prune_rate", "score", "seed", "params", "backbones")


def _backbones(method: str, value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    items = [b.strip() for b in value.split(",")] if isinstance(value, str) else list(value)
    if not items or not all(isinstance(b, str) and b.strip() for b in items):
        raise ValueError(f"backbones must be a non-empty list of backbone names, got {value!r}")
    if method not in MULTI_BACKBONE_METHODS:
        raise ValueError(f"method {method!r} uses the data setting's backbone only; backbones apply to "
                         f"{', '.join(sorted(MULTI_BACKBONE_METHODS))}")
    return tuple(b.strip() for b in items)


@dataclass(frozen=True)
class SelectionRequest:
    """What to run: method, pruning rate, score, seed, parameters, backbones (frozen, hashable).

    `params` may be given as a dict; it is kept as sorted `(name, value)` pairs (`freeze`),
    so equal requests are equal whatever the order or sequence type of their parameters.
    `score` None means the data setting's score; `backbones` None means the method's default
    (RAM-APL: `RAM_APL_BACKBONES`).
    """

    method: str
    prune_rate: float = 0.0
    score: str | None = None
    seed: int = 0
    params: Any = ()
    backbones: Any = None

    def __post_init__(self) -> None:
        from .methods import get_method
        from .methods.registry import check_params

        put = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731
        if not isinstance(self.method, str) or not self.method:
            raise ValueError(f"method must be a method name (see `coreset methods`), got {self.method!r}")
        spec = get_method(self.method)
        put("prune_rate", check_prune_rate(self.prune_rate))
        if spec.reweights and self.prune_rate != 0.0:
            raise ValueError(f"{self.method!r} reweights every sample instead of pruning: use prune_rate=0 "
                             f"(got {self.prune_rate})")
        if self.score is not None:
            from .spec import check_score

            put("score", check_score(self.score))
        put("seed", check_whole(self.seed, "seed", 0))
        params = dict(self.params) if self.params else {}
        check_params(spec, params)
        put("params", freeze(params))
        put("backbones", _backbones(self.method, self.backbones))

    @property
    def param_dict(self) -> dict[str, Any]:
        """The parameters as a plain dict (lists for sequences)."""
        return {name: thaw(value) for name, value in self.params}

    def to_dict(self) -> dict[str, Any]:
        """The request as plain JSON (the keys of `REQUEST_KEYS`)."""
        return {"method": self.method, "prune_rate": self.prune_rate, "score": self.score, "seed": self.seed,
                "params": self.param_dict, "backbones": None if self.backbones is None else list(self.backbones)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "SelectionRequest":
        """The request `to_dict` wrote (unknown keys are refused: they would be silently lost)."""
        if not isinstance(data, Mapping) or "method" not in data:
            raise ValueError(f"a selection request is a dict with at least 'method', got {data!r}")
        unknown = sorted(set(data) - set(REQUEST_KEYS))
        if unknown:
            raise ValueError(f"unknown selection request key(s) {unknown}; known keys: {', '.join(REQUEST_KEYS)}")
        return cls(data["method"], data.get("prune_rate", 0.0), data.get("score"), data.get("seed", 0),
                   data.get("params") or {}, data.get("backbones"))

    def command(self, spec: Any) -> str:
        """The `coreset select ...` line that makes this selection on the data setting `spec`."""
        if self.score is not None and self.score != spec.score:
            spec = spec.replace(score=self.score)
        extra = ["--method", self.method, "--prune-rate", f"{self.prune_rate:g}"]
        params = self.param_dict
        winsor = params.pop("winsor", None)
        if winsor is not None and tuple(winsor) != (0.0, 0.0):
            extra += ["--winsor", f"{winsor[0]:g}", f"{winsor[1]:g}"]
        extra += [item for name, value in sorted(params.items()) for item in ("--param", f"{name}={json.dumps(value)}")]
        if self.seed:
            extra += ["--seed", str(self.seed)]
        if self.backbones:
            extra += ["--backbones", ",".join(self.backbones)]
        return spec.command("select", *extra)
