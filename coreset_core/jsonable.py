"""One JSON sanitiser for the whole project: `to_jsonable(value)`.

Configs, selection extras and result rows hold numpy arrays and scalars, tuples, paths and
the odd non-finite float; `json.dumps` accepts none of them (or writes `NaN`, which is not
JSON). `to_jsonable` turns such a value into plain Python that `json.dumps(...,
allow_nan=False)` accepts, the same way everywhere:

- dict -> dict with `str` keys; list / tuple -> list; set / frozenset -> sorted list;
- numpy array -> nested lists, numpy scalar -> Python scalar;
- float NaN / +-inf -> `None`;
- `os.PathLike` -> `str`; dataclass instance -> dict of its fields;
- bool, int, str, None unchanged; anything else -> `str(value)`.

`max_items` (default: no limit) replaces an array or sequence longer than that by a short
description such as `"<array shape=[10000, 1280] dtype=float32>"`, for records that must
stay small (a held-out feature matrix passed as a method parameter, say).
"""
from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["freeze", "thaw", "to_jsonable"]


def _summary(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"<array shape={list(value.shape)} dtype={value.dtype}>"
    return f"<{type(value).__name__} len={len(value)}>"


def to_jsonable(value: Any, *, max_items: int | None = None) -> Any:
    """`value` as plain JSON-able Python (see the module docstring for the rules)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)) and not isinstance(value, np.bool_):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return f if math.isfinite(f) else None
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, dict):
        return {str(k): to_jsonable(v, max_items=max_items) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        if max_items is not None and value.size > max_items:
            return _summary(value)
        return to_jsonable(value.tolist(), max_items=max_items)
    if isinstance(value, (list, tuple, set, frozenset)):
        if max_items is not None and len(value) > max_items:
            return _summary(value)
        items = value
        if isinstance(value, (set, frozenset)):
            try:
                items = sorted(value)
            except TypeError:
                items = sorted(value, key=repr)
        return [to_jsonable(v, max_items=max_items) for v in items]
    if isinstance(value, np.generic):
        return to_jsonable(value.item(), max_items=max_items)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_jsonable({f.name: getattr(value, f.name) for f in dataclasses.fields(value)}, max_items=max_items)
    return str(value)


def freeze(value: Any) -> Any:
    """A hashable, JSON-compatible stand-in for a plain parameter value: the one freeze rule.

    Mappings become sorted tuples of `(str(key), value)` pairs, lists and tuples tuples,
    numpy arrays and scalars their `tolist()`; None, bool, int, float and str stay. Anything
    else (an object, a function) is refused: a recorded request or run must be reproducible
    from its JSON. `thaw` turns a frozen sequence back into lists.
    """
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), freeze(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    if isinstance(value, (np.ndarray, np.generic)):
        return freeze(value.tolist())
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise ValueError(f"parameter value {value!r} ({type(value).__name__}) is not a plain number/string/list; "
                     "a recorded request must be JSON-serialisable")


def thaw(value: Any) -> Any:
    """A frozen sequence as (nested) lists; other values unchanged."""
    return [thaw(v) for v in value] if isinstance(value, tuple) else value
