"""The studio's shared settings: one value for each, their defaults, and their URL form.

Every studio page must agree on the data setting (a `DataSpec`: what the sidebar
chooses), the pruning rate, the winsorization limits, the chosen methods, the chosen
class and the Windows page's endpoint override. The studio keeps one `StudioSettings`
per browser session and mirrors it in the URL query string (`to_query` / `from_query`),
so a page switch, a browser reload or a shared link shows the same view; `command`
writes the equivalent `coreset` command line.

Decoding never fails: a bad value falls back to its default and adds a note that says
which value was ignored and why. No streamlit import here.
"""
from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from coreset_core.features import FILE_BACKBONE
from coreset_core.spec import PATH_PREFIXES, DataSpec
from coreset_studio import link_values as L
from coreset_studio.text import shorten

#: Pruning rates offered by the sliders: whole percents, 0..95 in steps of 5.
PRUNE_STEP_PCT = 5
PRUNE_MAX_PCT = 95
#: Winsorization limits (percent of each class's tail), 0..25 in steps of 0.5.
WINSOR_STEP_PCT = 0.5
WINSOR_MAX_PCT = 25.0
#: Training / test images of a fresh start (features in about a minute on 2 CPU cores).
DEFAULT_LIMIT = 5000
DEFAULT_TEST_LIMIT = 2000
BUDGET_MODES = ("nucs", "uniform")

#: Query-string key of each data field (short keys keep shared links readable).
_SPEC_KEYS = {"dataset": "dataset", "imbalance": "imbalance", "data_seed": "data_seed", "backbone": "backbone",
              "resolution": "res", "limit": "limit", "test_limit": "test_limit", "score": "score",
              "score_epochs": "score_epochs", "score_seeds": "score_seeds"}
#: Query-string key of each view setting.
_VIEW_KEYS = {"prune_pct": "prune", "winsor_lo": "winsor_lo", "winsor_hi": "winsor_hi",
              "global_method": "global", "method_a": "a", "method_b": "b", "class_index": "class",
              "budget_mode": "budgets", "endpoint": "k"}


def _selection_methods() -> list[str]:
    from coreset_core.methods import list_methods

    return list_methods()


def _global_methods() -> list[str]:
    from coreset_core.methods import method_specs

    return [s.name for s in method_specs() if s.allocation == "global"]


def _check_pct(name: str, value: Any, step: float, top: float) -> float:
    number = float(value)
    if not 0 <= number <= top or not math.isclose(number / step, round(number / step), abs_tol=1e-9):
        raise ValueError(f"{name} must be a multiple of {step:g} from 0 to {top:g} (percent), got {value!r}")
    return round(number, 6)


@dataclass(frozen=True)
class StudioSettings:
    """The shared settings of one studio session (validated; `replace` returns a checked copy).

    Percent fields hold what the sliders show (`prune_pct` 90 = 90 % removed); `prune_rate`
    and `winsor` give the fractions the library takes. `endpoint` None means "the KRR
    choice"; a number is the user's override of the window endpoint on the Windows page.
    """

    spec: DataSpec = field(default_factory=DataSpec)
    prune_pct: int = 70
    winsor_lo: float = 0.0
    winsor_hi: float = 0.0
    global_method: str = "el2n"
    method_a: str = "nucs"
    method_b: str = "el2n"
    class_index: int = 0
    budget_mode: str = "nucs"
    endpoint: float | None = None

    def __post_init__(self) -> None:
        put = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731
        if not isinstance(self.spec, DataSpec):
            raise ValueError(f"spec must be a DataSpec, got {type(self.spec).__name__}")
        put("prune_pct", int(_check_pct("the pruning rate", self.prune_pct, PRUNE_STEP_PCT, PRUNE_MAX_PCT)))
        put("winsor_lo", _check_pct("the lower winsorization limit", self.winsor_lo, WINSOR_STEP_PCT, WINSOR_MAX_PCT))
        put("winsor_hi", _check_pct("the upper winsorization limit", self.winsor_hi, WINSOR_STEP_PCT, WINSOR_MAX_PCT))
        if self.global_method not in _global_methods():
            raise ValueError(f"{self.global_method!r} is not a global selection method; choose one of "
                             f"{', '.join(_global_methods())}")
        for name in ("method_a", "method_b"):
            if getattr(self, name) not in _selection_methods():
                raise ValueError(f"unknown method {getattr(self, name)!r}; see `coreset methods`")
        if isinstance(self.class_index, bool) or int(self.class_index) != self.class_index or self.class_index < 0:
            raise ValueError(f"class must be a class number >= 0, got {self.class_index!r}")
        put("class_index", int(self.class_index))
        if self.budget_mode not in BUDGET_MODES:
            raise ValueError(f"budgets must be one of {', '.join(BUDGET_MODES)}, got {self.budget_mode!r}")
        if self.endpoint is not None:
            k = float(self.endpoint)
            if not 0.0 <= k <= 1.0:
                raise ValueError(f"the window endpoint k must lie in [0, 1], got {self.endpoint!r}")
            put("endpoint", round(k, 4))

    @property
    def prune_rate(self) -> float:
        """The pruning rate as a fraction (0.9 = 90 % of the training images removed)."""
        return round(self.prune_pct / 100.0, 4)

    @property
    def winsor(self) -> tuple[float, float]:
        """The winsorization limits as fractions `(lower, upper)`."""
        return round(self.winsor_lo / 100.0, 6), round(self.winsor_hi / 100.0, 6)

    def replace(self, **changes: Any) -> "StudioSettings":
        """A validated copy with some fields changed (`spec_changes` go to `DataSpec.replace`)."""
        spec_changes = changes.pop("spec_changes", None)
        if spec_changes:
            changes["spec"] = changes.get("spec", self.spec).replace(**spec_changes)
        return dataclasses.replace(self, **changes)

    def method_params(self, method: str) -> dict[str, Any]:
        """The shared settings a method takes: the winsorization limits for the NUCS family."""
        return winsor_params(method, self.winsor)

    def request(self, method: str, *, prune_rate: float | None = None, seed: int = 0,
                params: Mapping[str, Any] | None = None, backbones: Any = None):
        """The `SelectionRequest` of `method` at the shared pruning rate (or `prune_rate`)."""
        from coreset_core.request import SelectionRequest

        rate = self.prune_rate if prune_rate is None else float(prune_rate)
        return SelectionRequest(method, rate, seed=seed, params=dict(params or {}), backbones=backbones)

    def command(self, method: str, *, prune_rate: float | None = None, seed: int = 0,
                params: Mapping[str, Any] | None = None) -> str:
        """The `coreset select ...` line that makes the same selection on the same data."""
        return self.request(method, prune_rate=prune_rate, seed=seed, params=params).command(self.spec)


def winsor_params(method: str, winsor: tuple[float, float]) -> dict[str, Any]:
    """`{"winsor": winsor}` when `method` takes winsorization limits and they are not (0, 0) (its default),
    else `{}`: one spelling per selection, so the Session memoises it once."""
    from coreset_core.methods import get_method

    winsor = (float(winsor[0]), float(winsor[1]))
    return {"winsor": winsor} if "winsor" in get_method(method).params and winsor != (0.0, 0.0) else {}


# ----------------------------------------------------------------------------- defaults


def _int_or_all(value: str) -> int | None:
    text = value.strip().lower()
    if text in ("all", "none", "full"):
        return None
    number = int(text)
    if number < 1:
        raise ValueError(f"expected a whole number >= 1 or 'all', got {value!r}")
    return number


def _resolution(value: str) -> int | None:
    text = value.strip().lower()
    return None if text in ("auto", "none", "") else int(text)


#: Environment variable -> (DataSpec field, parser). They set the sidebar's defaults (demos, tests).
ENV_FIELDS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "CORESET_STUDIO_DATASET": ("dataset", str.strip),
    "CORESET_STUDIO_IMBALANCE": ("imbalance", float),
    "CORESET_STUDIO_BACKBONE": ("backbone", str.strip),
    "CORESET_STUDIO_RESOLUTION": ("resolution", _resolution),
    "CORESET_STUDIO_LIMIT": ("limit", _int_or_all),
    "CORESET_STUDIO_TEST_LIMIT": ("test_limit", _int_or_all),
    "CORESET_STUDIO_SCORE": ("score", str.strip),
    "CORESET_STUDIO_SCORE_EPOCHS": ("score_epochs", int),
}


def default_limits(dataset: str) -> tuple[int | None, int | None]:
    """(train, test) images of a fresh start: 5,000 / 2,000; every row of the tiny `digits` and of an
    embeddings file (no extraction to save, and a limit would drop the rare classes of a long tail)."""
    if dataset == "digits" or dataset.startswith("embeddings:"):
        return None, None
    return DEFAULT_LIMIT, DEFAULT_TEST_LIMIT


def defaults_from_env(environ: Mapping[str, str] | None = None) -> tuple[StudioSettings, list[str]]:
    """The settings a new session starts from (the `CORESET_STUDIO_*` variables override the data
    setting), and notes about variables that were ignored because their value was bad."""
    env = os.environ if environ is None else environ
    notes: list[str] = []
    fields: dict[str, Any] = {}
    for var, (name, parse) in ENV_FIELDS.items():
        raw = env.get(var)
        if raw is None or not raw.strip():
            continue
        try:
            fields[name] = parse(raw)
        except ValueError as exc:
            notes.append(f"{var}={raw!r} ignored: {exc}")
    dataset = fields.get("dataset", DataSpec().dataset)
    limit, test_limit = default_limits(dataset)
    fields.setdefault("limit", limit)
    fields.setdefault("test_limit", test_limit if fields["limit"] is not None else None)
    try:
        spec = DataSpec(**fields)
    except ValueError as exc:
        notes.append(f"the CORESET_STUDIO_* data setting was refused ({exc}); using CIFAR-10")
        spec = DataSpec(limit=DEFAULT_LIMIT, test_limit=DEFAULT_TEST_LIMIT)
    return StudioSettings(spec=spec), notes


# ----------------------------------------------------------------------------- URL query string


def _text(value: Any) -> str:
    if value is None:
        return "all"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def to_query(settings: StudioSettings) -> dict[str, str]:
    """The settings as URL query parameters (every field, so a link means the same on any server)."""
    spec = settings.spec
    out = {"dataset": spec.dataset}
    if spec.imbalance is not None:
        out["imbalance"] = _text(spec.imbalance)
    if spec.data_seed:
        out["data_seed"] = str(spec.data_seed)
    out.update(backbone=spec.backbone, res="auto" if spec.resolution is None else str(spec.resolution),
               limit=_text(spec.limit), test_limit=_text(spec.test_limit), score=spec.score,
               score_epochs=str(spec.score_epochs))
    if spec.score_seeds != DataSpec().score_seeds:
        out["score_seeds"] = ",".join(str(s) for s in spec.score_seeds)
    out.update(prune=str(settings.prune_pct), winsor_lo=_text(settings.winsor_lo),
               winsor_hi=_text(settings.winsor_hi), **{"global": settings.global_method},
               a=settings.method_a, b=settings.method_b, budgets=settings.budget_mode)
    out["class"] = str(settings.class_index)
    if settings.endpoint is not None:
        out["k"] = _text(settings.endpoint)
    return out


def _spec_rules(default: DataSpec) -> dict[str, L.Rule]:
    """The `link_values.Rule` of each data field: the sidebar's options (plus the default's own
    value, which the sidebar also shows) and ranges."""
    from coreset_studio import choices as C

    backbones = [*C.backbone_choices(), FILE_BACKBONE, default.backbone]
    res = [*C.RESOLUTIONS, default.resolution]
    limits, test_limits = [*C.LIMITS, default.limit], [*C.TEST_LIMITS, default.test_limit]
    return {
        "dataset": L.Rule(lambda v: checked_dataset(v.strip())),
        "imbalance": L.Rule(L.finite),
        "data_seed": L.Rule(L.whole, L.clamped(0, L.MAX_SEED), f"0 to {L.MAX_SEED:,}"),
        "backbone": L.Rule(L.one_of(list(dict.fromkeys(backbones)), "backbone")),
        "resolution": L.Rule(_resolution, L.nearest_option(res), "auto or " + ", ".join(
            f"{r}" for r in C.RESOLUTIONS if r) + " px"),
        "limit": L.Rule(_int_or_all, L.nearest_option(limits), ", ".join(C.limit_label(x) for x in C.LIMITS)),
        "test_limit": L.Rule(_int_or_all, L.nearest_option(test_limits),
                             ", ".join(C.limit_label(x) for x in C.TEST_LIMITS)),
        "score": L.Rule(str.strip),
        "score_epochs": L.Rule(L.whole, L.clamped(1, L.MAX_SCORE_EPOCHS), f"1 to {L.MAX_SCORE_EPOCHS}"),
        "score_seeds": L.Rule(L.seeds, L.fit_seeds, f"at most {L.MAX_SCORE_SEEDS} seeds from 0 to {L.MAX_SEED:,}"),
    }


def _view_rules() -> dict[str, L.Rule]:
    """The `link_values.Rule` of each view setting: the pages' sliders and select boxes."""
    slider = f"0 to {PRUNE_MAX_PCT} % in steps of {PRUNE_STEP_PCT}"
    winsor = f"0 to {WINSOR_MAX_PCT:g} % in steps of {WINSOR_STEP_PCT:g}"
    return {
        "prune_pct": L.Rule(L.finite, L.snapped(0, PRUNE_MAX_PCT, PRUNE_STEP_PCT), slider),
        "winsor_lo": L.Rule(L.finite, L.snapped(0, WINSOR_MAX_PCT, WINSOR_STEP_PCT), winsor),
        "winsor_hi": L.Rule(L.finite, L.snapped(0, WINSOR_MAX_PCT, WINSOR_STEP_PCT), winsor),
        "global_method": L.Rule(L.one_of(_global_methods(), "global selection method")),
        "method_a": L.Rule(L.one_of(_selection_methods(), "selection method")),
        "method_b": L.Rule(L.one_of(_selection_methods(), "selection method")),
        "class_index": L.Rule(L.whole, lambda v: max(0, v), "class numbers from 0"),
        "budget_mode": L.Rule(L.one_of(list(BUDGET_MODES), "budget mode")),
        "endpoint": L.Rule(lambda v: None if v.strip().lower() in ("", "krr", "none") else L.finite(v),
                           lambda v: None if v is None else L.snapped(0.0, 1.0, 0.01)(v),
                           "krr or 0 to 1 in steps of 0.01"),
    }


def _single(value: Any) -> str:
    """One query value (streamlit gives the last of repeated keys; a list is accepted too)."""
    if isinstance(value, (list, tuple)):
        value = value[-1] if value else ""
    return str(value)


def checked_dataset(name: str) -> str:
    """A dataset name the studio may load: a registry name, or `imagefolder:` / `embeddings:` with a
    path inside the allowed folders (`coreset_studio.allowed_paths`), returned with the path resolved.
    Raises ValueError naming the problem otherwise (also for a path the system cannot even look up)."""
    from coreset_studio.allowed_paths import check_allowed, check_dataset
    from coreset_core.datasets import list_datasets

    L.check_length(name)
    try:
        if name.startswith(("imagefolder:", "hf:")):
            return check_dataset(name)
        if name.startswith(PATH_PREFIXES):
            prefix, path = name.split(":", 1)
            return f"{prefix}:{check_allowed(path)}"
    except OSError as exc:  # e.g. a path component over 255 characters: "File name too long"
        raise ValueError(f"the path cannot be opened ({exc.strerror or exc})") from None
    known = {info.name for info in list_datasets() if not info.name.endswith(">")}
    if name not in known and not (name.endswith("-lt") and name[:-3] in known):
        raise ValueError(f"unknown dataset {shorten(name)!r}")
    return name


def _shown(value: Any) -> str:
    return "the default" if value is None else repr(_text(value) if not isinstance(value, str) else value)


def _read(key: str, raw: str, rule: L.Rule, notes: list[str], current: Any) -> tuple[bool, Any]:
    """(whether to apply, the value) of one query value, with a note when it was refused or changed."""
    try:
        value = rule.read(L.check_length(raw))
        fitted = rule.fit(value)
    except (ValueError, TypeError, OverflowError) as exc:
        notes.append(f"{key}={shorten(raw)!r} in the link was ignored ({shorten(exc, 300)}); using {_shown(current)}")
        return False, None
    if fitted != value:
        notes.append(f"{key}={shorten(raw)!r} in the link is not offered ({rule.describe}); using {_shown(fitted)}")
    return True, fitted


def _decode_spec(query: Mapping[str, Any], default: DataSpec, notes: list[str]) -> DataSpec:
    """The link's data setting, field by field: a value that is unreadable or refused by `DataSpec`
    keeps the default's and adds a note; one the sidebar does not offer is fitted to it."""
    spec, rules = default, _spec_rules(default)
    for name, key in _SPEC_KEYS.items():
        if key not in query:
            continue
        raw = _single(query[key])
        ok, value = _read(key, raw, rules[name], notes, getattr(spec, name))
        if not ok:
            continue
        changes = {name: value}
        if name == "dataset" and value != default.dataset:
            # the default's imbalance and image limits belong to the default's dataset
            changes = {"dataset": value, "imbalance": None}
            changes["limit"], changes["test_limit"] = default_limits(value)
        try:
            spec = DataSpec.from_dict({**spec.to_dict(), **changes})
        except ValueError as exc:
            notes.append(f"{key}={shorten(raw)!r} in the link was ignored ({shorten(exc, 300)}); using the default")
    return spec


def from_query(query: Mapping[str, Any], default: StudioSettings) -> tuple[StudioSettings, list[str]]:
    """Settings from URL query parameters (as `to_query` writes them), and one note per changed value.

    A missing key keeps the default; an unreadable or unknown value keeps the default; a readable
    value that no widget offers (out of range, between options) is fitted to the nearest offered
    one; each of these adds one note naming the key and what was used. Unknown keys are ignored.
    """
    notes: list[str] = []
    settings = default.replace(spec=_decode_spec(query, default.spec, notes))
    rules = _view_rules()
    for name, key in _VIEW_KEYS.items():
        if key not in query:
            continue
        ok, value = _read(key, _single(query[key]), rules[name], notes, getattr(settings, name))
        if ok:
            settings = settings.replace(**{name: value})
    return settings, notes


__all__ = ["BUDGET_MODES", "DEFAULT_LIMIT", "DEFAULT_TEST_LIMIT", "ENV_FIELDS", "PRUNE_MAX_PCT", "PRUNE_STEP_PCT",
           "StudioSettings", "WINSOR_MAX_PCT", "WINSOR_STEP_PCT", "checked_dataset", "default_limits",
           "defaults_from_env", "winsor_params",
           "from_query", "to_query"]
