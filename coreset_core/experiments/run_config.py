"""One run of an experiment: `RunConfig` = a `DataSpec` + the run's own fields.

The run fields are the method and its parameters, the pruning rate, the seed and the training
protocol (mode, epochs, learning rate, batch size, device, training budget). `run_id` hashes
them with the spec and the code version: the results store's key. `train_budget_epochs` turns a
training budget into epochs ("budget" alone means a selection's kept total B). Nothing here
runs anything (`sweep.run_one` does).
"""
from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from coreset_core.config import CODE_VERSION
from coreset_core.experiments.store import FULL_DATA
from coreset_core.jsonable import freeze, thaw, to_jsonable
from coreset_core.request import SelectionRequest
from coreset_core.spec import DataSpec
from coreset_core.validation import check_device, check_prune_rate, check_whole

MODES = ("linear", "finetune")
#: Training budgets: equal epochs (the default, every earlier result) or equal optimiser steps.
TRAIN_BUDGETS = ("epochs", "steps")
#: Fields of `RunConfig` besides `spec`, `method`, `prune_rate`, `seed`, `params`, `backbones`.
RUN_FIELDS = ("mode", "epochs", "lr", "batch_size", "device", "train_budget")
DATA_FIELDS = tuple(f.name for f in dataclasses.fields(DataSpec))
#: The `coreset train` / `coreset sweep` option of each run field, and the field's default.
_RUN_FIELD_OPTIONS = (("mode", "--mode", "linear"), ("epochs", "--epochs", 30), ("lr", "--lr", None),
                      ("batch_size", "--batch-size", None), ("device", "--device", "cpu"),
                      ("train_budget", "--train-budget", "epochs"))


def run_field_args(fields: Mapping[str, Any]) -> list[str]:
    """The `coreset train` / `coreset sweep` options that set these run fields (defaults left out)."""
    return [item for name, flag, default in _RUN_FIELD_OPTIONS
            if (value := fields.get(name, default)) != default for item in (flag, str(value))]


def _registered_defaults(method: str) -> dict[str, Any] | None:
    """The registry's default parameters of `method` (None for 'full', which has none)."""
    if method == FULL_DATA:
        return None
    from coreset_core.methods import get_method

    return to_jsonable({k: v for k, v in get_method(method).params.items() if v is not inspect.Parameter.empty})


def is_reweighting(method: str) -> bool:
    """Whether `method` is a registered reweighting method (it keeps every sample: prune rate 0)."""
    from coreset_core.methods import list_reweighting_methods

    return method in list_reweighting_methods()


def _optional_positive(name: str, value: Any, cast: Callable[[Any], Any]) -> Any:
    if value is None:
        return None
    try:
        out = cast(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a positive number or None, got {value!r}") from None
    if isinstance(value, bool) or not out > 0:
        raise ValueError(f"{name} must be a positive number or None, got {value!r}")
    return out


def train_budget_epochs(epochs: int, n_full: int, n_kept: int, batch_size: int, train_budget: str = "steps") -> int:
    """Epochs to train a subset of `n_kept` samples under `train_budget`.

    ``"epochs"``: `epochs` unchanged. ``"steps"``: the fewest epochs whose optimiser steps
    reach those of `epochs` epochs on all `n_full` samples, one step per batch:
    ``ceil(epochs * ceil(n_full / batch_size) / ceil(n_kept / batch_size))``.
    """
    if train_budget not in TRAIN_BUDGETS:
        raise ValueError(f"train_budget must be one of {TRAIN_BUDGETS}, got {train_budget!r}")
    epochs, n_full, n_kept, batch_size = (check_whole(v, name) for name, v in (
        ("epochs", epochs), ("n_full", n_full), ("n_kept", n_kept), ("batch_size", batch_size)))
    if min(epochs, n_full, n_kept, batch_size) < 1 or n_kept > n_full:
        raise ValueError(f"train_budget_epochs needs epochs, batch_size >= 1 and 1 <= n_kept <= n_full, got "
                         f"epochs={epochs}, n_full={n_full}, n_kept={n_kept}, batch_size={batch_size}")
    if train_budget == "epochs":
        return epochs
    full_steps = epochs * math.ceil(n_full / batch_size)
    return -(-full_steps // math.ceil(n_kept / batch_size))


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines one training run's result: a `DataSpec` plus the run fields.

    `params` may be given as a dict; it is stored as a sorted tuple of pairs (hashable,
    picklable) with the method's registered defaults filled in, so "nucs" and "nucs with
    its default parameters" are the same run. `lr` / `batch_size` None mean the trainer's
    defaults (the effective values are recorded in the results row). `device` does not
    enter `run_id`. `train_budget` is "epochs" (train `epochs` epochs on the subset) or "steps"
    (as many optimiser steps as `epochs` epochs on the full set; see `train_budget_epochs`);
    it enters `run_id` only when it is "steps" (hashed under its first name, "budget"), so
    every earlier run keeps its id.
    `backbones` names the backbones of a multi-backbone method (RAM-APL; None: its
    defaults) and enters `run_id` only when given. `request` is the run's
    `SelectionRequest` (None for "full"): it validates the method, its parameters, the rate
    and the backbones once, and is what `run_one` hands to the Session.
    """

    spec: DataSpec
    method: str
    prune_rate: float = 0.0
    seed: int = 0
    params: Any = ()
    mode: str = "linear"
    epochs: int = 30
    lr: float | None = None
    batch_size: int | None = None
    device: str = "cpu"
    train_budget: str = "epochs"
    backbones: Any = None
    request: SelectionRequest | None = field(init=False, default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        put = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731
        if not isinstance(self.spec, DataSpec):
            raise ValueError(f"RunConfig.spec must be a DataSpec, got {type(self.spec).__name__}; "
                             "build one with DataSpec(dataset, limit=..., ...)")
        if not self.method or not isinstance(self.method, str):
            raise ValueError(f"method must be a method name, got {self.method!r}")
        put("prune_rate", check_prune_rate(self.prune_rate))
        if self.method == FULL_DATA and (self.prune_rate != 0.0 or self.params or self.backbones is not None):
            raise ValueError(f"method 'full' trains on all data: no prune rate (got {self.prune_rate}), parameters "
                             "or backbones")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.train_budget not in TRAIN_BUDGETS:
            raise ValueError(f"train_budget must be one of {TRAIN_BUDGETS} (equal epochs or equal optimiser steps), "
                             f"got {self.train_budget!r}")
        check_device(self.device, here=False)
        put("seed", check_whole(self.seed, "seed"))
        put("epochs", check_whole(self.epochs, "epochs"))
        if self.epochs < 1 or self.seed < 0:
            raise ValueError(f"epochs must be >= 1 and seed >= 0, got {self.epochs} and {self.seed}")
        put("lr", _optional_positive("lr", self.lr, float))
        put("batch_size", _optional_positive("batch_size", self.batch_size, int))
        given = dict(self.params) if self.params else {}
        if self.method != FULL_DATA:
            put("request", SelectionRequest(self.method, self.prune_rate, None, self.seed, given, self.backbones))
            put("backbones", self.request.backbones)
            given = {**_registered_defaults(self.method), **given}
        put("params", freeze(given))

    @property
    def param_dict(self) -> dict[str, Any]:
        """The method parameters as a plain dict (lists for sequences)."""
        return {k: thaw(v) for k, v in self.params}

    def call_params(self) -> dict[str, Any]:
        """The parameters that differ from the method's defaults (what the method is called with:
        an explicit default can change meaning, e.g. NUCS-O's val_features=None)."""
        defaults = _registered_defaults(self.method) or {}
        return {k: v for k, v in self.param_dict.items() if k not in defaults or v != defaults[k]}

    def identity(self) -> dict[str, Any]:
        """The fields that determine the result, plus the code version (what `run_id` hashes)."""
        out = {"data": self.spec.to_dict(), "method": self.method, "prune_rate": self.prune_rate,
               "seed": self.seed, "params": self.param_dict, "mode": self.mode, "epochs": self.epochs,
               "lr": self.lr, "batch_size": self.batch_size, "code_version": CODE_VERSION}
        if self.train_budget != "epochs":  # the default stays out, the key keeps its first name: earlier ids hold
            out["budget"] = self.train_budget
        if self.backbones is not None:  # likewise
            out["backbones"] = list(self.backbones)
        return out

    def canonical_json(self) -> str:
        return json.dumps(self.identity(), sort_keys=True, separators=(",", ":"))

    @property
    def run_id(self) -> str:
        """Stable hash of `canonical_json()`: equal configs (and code version) share it."""
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()[:20]

    def prepare_key(self) -> str:
        """Runs sharing it share features and scores (the spec's `prepare_key`)."""
        return self.spec.prepare_key

    def replace(self, **changes: Any) -> "RunConfig":
        """A copy with run fields and/or data fields (forwarded to the spec) changed."""
        data = {k: changes.pop(k) for k in list(changes) if k in DATA_FIELDS}
        if data:
            changes["spec"] = self.spec.replace(**data)
        return dataclasses.replace(self, **changes)

    def describe(self) -> str:
        """One line naming the run (parameters shown only where they differ from the defaults)."""
        params = ",".join(f"{k}={v}" for k, v in self.call_params().items())
        return (f"{self.spec.dataset} {self.method}{'(' + params + ')' if params else ''} "
                f"prune={self.prune_rate:g} seed={self.seed} {self.mode}"
                + ("" if self.train_budget == "epochs" else f" train_budget={self.train_budget}")
                + ("" if self.backbones is None else f" backbones={','.join(self.backbones)}"))

    def command(self) -> str:
        """The `coreset train` line that runs this config alone (to reproduce a failure)."""
        extra = ["--method", self.method, "--prune-rate", f"{self.prune_rate:g}", "--seed", str(self.seed)]
        extra += [item for k, v in self.call_params().items() for item in ("--param", f"{k}={json.dumps(v)}")]
        extra += run_field_args({name: getattr(self, name) for name in RUN_FIELDS})
        if self.backbones is not None:
            extra += ["--backbones", ",".join(self.backbones)]
        return self.spec.command("train", *extra)
