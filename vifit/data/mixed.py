"""What a mixed table adds to the block parser: categories coded, a weight column, missing cells kept.

``vifit mixture`` (and ``vifit gmm`` for its missing cells and --row-weights) read through the
same frames and checks as every other table (``csv``); this module holds only the three rules
they add, turned on by ReadOptions fields that default to today's behaviour:

- ``missing``: an empty or NaN cell stays NaN (the model marginalises it) instead of being an
  error; an infinite value is still one; ``dropna`` still drops such rows.
- ``categorical`` (a column spec) and ``text_as_categorical`` (text columns are categories, not
  dropped): a category column's labels become codes 0..C-1 (floats; NaN when missing), its
  levels sorted (in numeric order when every label is a number, else as text), kept in
  ``Table.levels``; ``levels`` given (``predict``) fixes the codes, and a label the fit never
  saw is an error naming the row and column.
- ``row_weights``: a column (name or 1-based number) of finite weights >= 0, not a feature.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from vifit.data.csv import (_is_text_column, check_finite, check_required_columns, delimiter_hint, line_of,
                            select_columns, to_numeric_block)
from vifit.data.layout import is_number
from vifit.errors import BadInput


def active(opts) -> bool:
    """Whether a read needs this module (else the plain numeric path, unchanged, is taken)."""
    return bool(opts.missing or opts.categorical or opts.text_as_categorical or opts.row_weights or opts.levels)


class ColumnPlan:
    """features: the feature columns in order; categories: those read as labels; weight: the
    weight column or None."""

    def __init__(self, features: list[str], categories: set, weight: str | None):
        self.features, self.categories, self.weight = features, categories, weight


def plan_columns(frame: pd.DataFrame, layout, opts, name: str, note, required: list[str] | None) -> ColumnPlan:
    """The columns of a mixed read, from the first frame."""
    fields = layout.features
    weight = _resolve(opts.row_weights, fields, name, "--row-weights") if opts.row_weights else None
    if required is not None:
        check_required_columns(fields, required, name)
        features = list(required)
    elif opts.columns:
        features = select_columns(frame, opts.columns, name, note, layout)
        if weight in features:
            raise BadInput(f"{name}: --row-weights column {weight!r} is also a feature (in --columns)")
    elif not opts.text_as_categorical:  # every numeric column, as the plain reader chooses them
        features = [f for f in select_columns(frame, None, name, note, layout) if f != weight]
        if not features:
            raise BadInput(f"{name}: no numeric columns found besides the --row-weights column {weight!r}")
    else:
        features = [f for f in fields if f != weight]
    if opts.text_as_categorical and required is None and all(_is_text_column(frame[f]) for f in features):
        hint = delimiter_hint(fields)
        if hint:  # one text column holding whole lines: a file split on the wrong character
            raise BadInput(f"{name}: no numeric columns found{hint}")
    categories = set()
    if opts.categorical:
        categories |= {_resolve(token.strip(), fields, name, "--family categorical") for token in
                       opts.categorical.split(",") if token.strip()}
    if opts.text_as_categorical:
        categories |= {f for f in features if _is_text_column(frame[f])}
    if opts.levels:
        categories |= {f for f in features if f in opts.levels}
    return ColumnPlan(features, categories & set(features), weight)


def _resolve(token: str, fields: list[str], name: str, option: str) -> str:
    if token in fields:
        return token
    if token.isdigit() and 1 <= int(token) <= len(fields):
        return fields[int(token) - 1]
    raise BadInput(f"{name}: {option}: no column {token!r} (columns: {', '.join(fields)})")


def sorted_labels(labels) -> list:
    """Labels in numeric order when every one is a number, else as text: a category's levels."""
    labels = list(labels)
    return sorted(labels, key=float) if labels and all(is_number(x) for x in labels) else sorted(labels)


class Coder:
    """Codes of category labels: provisional (first seen) while reading, sorted at the end; or
    fixed by given levels (predict), where an unseen label is an error."""

    def __init__(self, columns, given: dict | None, name: str, header: bool):
        self.given = {c: {label: i for i, label in enumerate(given[c])} for c in columns} if given else None
        self.seen = {c: {} for c in columns}
        self.name, self.header = name, header

    def codes(self, column: str, series: pd.Series, row_offset: int) -> np.ndarray:
        text = series.astype("string").str.strip()
        labels = text.to_numpy(dtype=object, na_value=None)
        out = np.full(len(labels), np.nan)
        table = self.given[column] if self.given is not None else self.seen[column]
        for i, label in enumerate(labels):
            if label is None or label == "" or label.lower() in ("nan", "na"):
                continue
            code = table.get(label)
            if code is None:
                if self.given is not None:
                    raise BadInput(f"{self.name}: {line_of(row_offset + i, self.header)}, column {column!r}: "
                                   f"{label!r} is not one of the levels the model was fitted on")
                code = table[label] = len(table)
            out[i] = code
        return out

    def sorted_levels(self) -> dict:
        """{column: its labels seen so far, sorted (:func:`sorted_labels`)}."""
        return {column: sorted_labels(table) for column, table in self.seen.items()}

    def finish(self, values: np.ndarray, features: list[str]) -> dict:
        """Levels per category column, and values' provisional codes remapped to sorted order."""
        if self.given is not None:
            return {c: list(self.given[c]) for c in self.seen}
        levels = self.sorted_levels()
        for column, table in self.seen.items():
            labels, ordered = list(table), levels[column]
            remap = np.array([ordered.index(label) for label in labels], dtype=np.float64)
            j = features.index(column)
            known = ~np.isnan(values[:, j])
            values[known, j] = remap[values[known, j].astype(np.int64)] if remap.size else values[known, j]
        return levels


def convert(frame: pd.DataFrame, plan: ColumnPlan, layout, opts, name: str, coder: Coder, row_offset: int,
            kept: list | None = None):
    """(block (m', d) float64, weights (m',) or None, rows dropped) of one frame; kept: see
    csv.check_finite."""
    numeric = [c for c in plan.features if c not in plan.categories]
    block = np.empty((len(frame), len(plan.features)))
    if numeric:
        values = to_numeric_block(frame, numeric, name, opts.header, row_offset, layout.decimal, layout.sep)
        for j, column in enumerate(numeric):
            block[:, plan.features.index(column)] = values[:, j]
    for column in plan.categories:
        block[:, plan.features.index(column)] = coder.codes(column, frame[column], row_offset)
    weights = None
    if plan.weight is not None:
        weights = to_numeric_block(frame, [plan.weight], name, opts.header, row_offset, layout.decimal,
                                   layout.sep)[:, 0]
        check_weight_values(weights, name, plan.weight, opts.header, row_offset)
    if opts.missing and not opts.dropna:
        check_finite(np.where(np.isnan(block), 0.0, block), plan.features, name, opts.header, False, row_offset,
                     kept)
        return block, weights, 0
    kept_before = len(block)
    finite = np.isfinite(block).all(axis=1)
    block, dropped = check_finite(block, plan.features, name, opts.header, opts.dropna, row_offset, kept)
    if weights is not None and dropped:
        weights = weights[finite]
    assert block.shape[0] == kept_before - dropped
    return block, weights, dropped


def check_weight_values(weights: np.ndarray, name: str, column: str, header: bool, row_offset: int) -> None:
    """BadInput naming the first row whose weight is empty, infinite or negative."""
    bad = np.flatnonzero(~(np.isfinite(weights) & (weights >= 0)))
    if bad.size:
        i = int(bad[0])
        what = "is empty" if np.isnan(weights[i]) else f"is {float(weights[i])!r}"
        raise BadInput(f"{name}: {line_of(row_offset + i, header)}, column {column!r}: the row weight "
                       f"{what}; --row-weights needs finite numbers >= 0")


def check_weights(weights: np.ndarray | None, name: str, column: str | None) -> None:
    if weights is not None and not weights.sum() > 0:
        raise BadInput(f"{name}: --row-weights column {column!r} is 0 on every row: there is nothing to fit")
