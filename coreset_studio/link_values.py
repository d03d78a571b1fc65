"""What a link may set: each URL value read, then fitted to exactly what its widget offers.

A link is untrusted input: it can carry markup, a huge number (hours of scoring epochs), a
5,000-character path or a value no widget offers. Each query key has a `Rule`: `read` turns the
text into a value or raises ValueError (unreadable: the default stays), `fit` moves a readable
value to the nearest one the widget offers (a clamped value is used, with a note). `describe`
says what is offered, for that note. No streamlit import.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

#: Longest value a link may carry (PATH_MAX on Linux): longer ones are refused before any file call.
MAX_VALUE_CHARS = 4096
#: The sidebar's "Scoring epochs" input offers 1..MAX_SCORE_EPOCHS.
MAX_SCORE_EPOCHS = 50
#: Seeds (data seed, score seeds) a link may set: 0..MAX_SEED, at most MAX_SCORE_SEEDS score seeds
#: (each one trains the scoring head again).
MAX_SEED = 10_000
MAX_SCORE_SEEDS = 5


@dataclass(frozen=True)
class Rule:
    """How one query value is read and fitted to its widget (see the module docstring)."""

    read: Callable[[str], Any]
    fit: Callable[[Any], Any] = lambda value: value
    describe: str = ""


def finite(text: str) -> float:
    """A finite number (`nan`, `inf` and words are unreadable)."""
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"expected a finite number, got {text.strip()!r}")
    return number


def whole(text: str) -> int:
    """A whole number (`3`, `3.0`); anything else is unreadable."""
    number = finite(text)
    if number != int(number):
        raise ValueError(f"expected a whole number, got {text.strip()!r}")
    return int(number)


def snapped(lo: float, hi: float, step: float) -> Callable[[float], float]:
    """`value` clamped to [lo, hi] and rounded to the nearest multiple of `step` (a slider's values)."""
    def fit(value: float) -> float:
        return round(step * round(min(max(float(value), lo), hi) / step), 6)
    return fit


def clamped(lo: int, hi: int) -> Callable[[int], int]:
    """`value` clamped to [lo, hi] (a number input's range)."""
    return lambda value: min(max(int(value), lo), hi)


def nearest_option(options: Sequence[int | None]) -> Callable[[int | None], int | None]:
    """The largest offered number not above `value` (never more work than the link asked for), the
    smallest when `value` is below them all; None ("all", "auto") is offered as it is."""
    numbers = sorted({o for o in options if o is not None})

    def fit(value: int | None) -> int | None:
        if value is None or value in options or not numbers:
            return value
        below = [o for o in numbers if o <= value]
        return below[-1] if below else numbers[0]
    return fit


def one_of(options: Sequence[str], what: str) -> Callable[[str], str]:
    """`read` of a value that must be one of `options` (a select box's)."""
    def read(text: str) -> str:
        value = text.strip()
        if value not in options:
            raise ValueError(f"unknown {what} {value!r}; the studio offers {', '.join(options)}")
        return value
    return read


def seeds(text: str) -> tuple[int, ...]:
    """Comma-separated whole numbers (score seeds)."""
    out = tuple(whole(v) for v in text.replace(" ", "").split(",") if v)
    if not out:
        raise ValueError("expected at least one seed, e.g. 0,1,2")
    return out


def fit_seeds(values: tuple[int, ...]) -> tuple[int, ...]:
    """At most MAX_SCORE_SEEDS distinct seeds, each in 0..MAX_SEED (first ones kept)."""
    return tuple(dict.fromkeys(clamped(0, MAX_SEED)(v) for v in values))[:MAX_SCORE_SEEDS]


def check_length(text: str) -> str:
    """`text`, or ValueError when it is longer than any value the studio takes."""
    if len(text) > MAX_VALUE_CHARS:
        raise ValueError(f"it is {len(text):,} characters long; the studio takes at most {MAX_VALUE_CHARS:,}")
    return text


__all__ = ["MAX_SCORE_EPOCHS", "MAX_SCORE_SEEDS", "MAX_SEED", "MAX_VALUE_CHARS", "Rule", "check_length", "clamped",
           "finite", "fit_seeds", "nearest_option", "one_of", "seeds", "snapped", "whole"]
