"""Method parameters as a user edits them: which ones, and reading typed text back into values.

A parameter's type is its registered default's type; lists, pairs and None-defaults are
typed as JSON (`[0.05, 0.05]`, `null`) and anything that is not JSON stays text, as
`coreset select --param KEY=VALUE` reads it.
"""
from __future__ import annotations

import json
from typing import Any, Mapping

#: Parameters the studio fills itself (held-out data, the device).
NOT_EDITABLE = ("device", "val_features", "val_labels")


def editable_params(method: str) -> dict[str, Any]:
    """`{name: default}` of the parameters of a registered method a user may set."""
    from coreset_core.methods import get_method

    return {k: v for k, v in get_method(method).params.items() if k not in NOT_EDITABLE}


def as_text(value: Any) -> str:
    """A value as the text a user would type (JSON; tuples as lists)."""
    try:
        return json.dumps(list(value) if isinstance(value, tuple) else value)
    except TypeError:
        return str(value)


def parse_value(text: str) -> Any:
    """Typed text -> JSON value (numbers, lists, true/false/null), else the text itself."""
    try:
        return json.loads(text)
    except (json.JSONDecodeError, TypeError):
        return text


def coerce_param(text: str, default: Any) -> Any:
    """Typed text -> a value of the default's type (ValueError naming the expected form)."""
    if isinstance(default, bool):
        return str(text).strip().lower() in ("1", "true", "yes", "on")
    if isinstance(default, (int, float)):
        try:
            return type(default)(str(text).strip())
        except ValueError:
            raise ValueError(f"expected a {'whole ' if isinstance(default, int) else ''}number, got {text!r}") from None
    if isinstance(default, (list, tuple)):
        value = parse_value(str(text))
        if not isinstance(value, list):
            raise ValueError(f"expected a JSON list like {as_text(default)}, got {text!r}")
        return type(default)(value)
    if default is None and str(text).strip().lower() in ("", "none", "null"):
        return None
    return parse_value(str(text).strip())


def changed(values: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """The entries of `values` that differ from `defaults` (compared as typed text)."""
    return {k: v for k, v in values.items() if as_text(v) != as_text(defaults.get(k))}
