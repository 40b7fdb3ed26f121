"""Checks of an estimator's hyperparameters that click makes for the CLI (types, ranges and
choices), run at fit as scikit-learn expects; the deeper checks are the fit's own."""

from __future__ import annotations

import math
import numbers

from vifit.errors import BadInput


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def check_int(name: str, value, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise BadInput(f"{_option(name)}: {value!r} is not an integer >= {low}")


def check_float(name: str, value, low: float | None = None, high: float | None = None,
                high_open: bool = False, low_open: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise BadInput(f"{_option(name)}: {value!r} is not a finite number")
    if (low is not None and (value < low or (low_open and value == low))) or (
            high is not None and (value > high or (high_open and value == high))):
        span = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
        raise BadInput(f"{_option(name)}: {value!r} is not in {span}")


def check_choice(name: str, value, choices: tuple) -> None:
    if value not in choices:
        raise BadInput(f"{_option(name)}: {value!r} is not one of {', '.join(map(repr, choices))}")
