"""Which family models which column of a ``vifit mixture`` table: ``--family`` parsed, the rest
inferred from the values (``models.product_scan.ColumnScan.family``), grouped for the product model.

``--family 'gaussian:1-4,poisson:visits,categorical:region'``: comma-separated items; an item
``FAMILY:COLUMNS`` starts a family's list and a bare item adds to the last one named, so
``gaussian:a,b,bernoulli:c`` gives a and b to gaussian. A column is a name, a 1-based number
among the chosen columns, or a range of numbers ``A-B``. Columns it does not name are inferred.
"""

from __future__ import annotations

import re

from vifit.errors import BadInput

FAMILIES = ("gaussian", "bernoulli", "poisson", "categorical")
_RANGE = re.compile(r"^(\d+)-(\d+)$")


def parse_family_spec(spec: str | None, columns: list[str]) -> dict[int, str]:
    """{column index: family} for the columns ``spec`` names (see the module doc)."""
    if spec is None or not spec.strip():
        return {}
    chosen: dict[int, str] = {}
    family = None
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            raise BadInput(f"--family {spec!r}: an empty item (two commas in a row?)")
        head, colon, rest = item.partition(":")
        if colon and head.strip() in FAMILIES:
            family, item = head.strip(), rest.strip()
        elif colon and head.strip() not in columns:
            raise BadInput(f"--family: unknown family {head.strip()!r} (families: {', '.join(FAMILIES)})")
        if family is None:
            raise BadInput(f"--family {spec!r}: start with a family, e.g. gaussian:{item}")
        for index in _columns_of(item, columns, spec):
            if index in chosen and chosen[index] != family:
                raise BadInput(f"--family: column {columns[index]!r} is given two families "
                               f"({chosen[index]} and {family})")
            chosen[index] = family
    return chosen


def _columns_of(item: str, columns: list[str], spec: str) -> list[int]:
    if item in columns:
        return [columns.index(item)]
    bounds = _RANGE.match(item)
    if bounds or item.isdigit():
        low, high = (int(bounds.group(1)), int(bounds.group(2))) if bounds else (int(item), int(item))
        if not 1 <= low <= high <= len(columns):
            raise BadInput(f"--family: columns {item} are outside 1-{len(columns)} (the {len(columns)} columns "
                           f"chosen)")
        return list(range(low - 1, high))
    raise BadInput(f"--family: no column {item!r} (columns: {', '.join(columns)})")


def resolve(spec: str | None, columns: list[str], scan, levels: dict) -> list[tuple[str, list[int]]]:
    """[(family, column indices)] for every column, in the order families first appear.

    scan: the columns' ``models.product_scan.ColumnScan`` (categorical columns as codes); levels:
    {column name: labels} of the columns read as categories."""
    given = parse_family_spec(spec, columns)
    groups: dict[str, list[int]] = {}
    for index, name in enumerate(columns):
        family = given.get(index) or scan.family(index, name in levels)
        if family == "categorical" and name not in levels and not scan.counts[index]:
            raise BadInput(f"--family: column {name!r} holds values that are not category codes 0, 1, 2, ...; "
                           f"read it as categories (a file: --family categorical:{name})")
        if name in levels and family != "categorical":
            raise BadInput(f"--family: column {name!r} holds text; it can only be categorical")
        groups.setdefault(family, []).append(index)
    return list(groups.items())


def categorical_columns(spec: str | None) -> list[str]:
    """The column references ``--family`` gives to categorical (read as categories, not numbers)."""
    if spec is None:
        return []
    named, family = [], None
    for item in (part.strip() for part in spec.split(",")):
        head, colon, rest = item.partition(":")
        if colon and head.strip() in FAMILIES:
            family, item = head.strip(), rest.strip()
        if family == "categorical" and item:
            named.append(item)
    return named


def note(groups: list[tuple[str, list[int]]], columns: list[str]) -> str:
    """The one-line note of the families used: "families: gaussian: a, b; poisson: visits"."""
    return "families: " + "; ".join(f"{family}: {', '.join(columns[i] for i in indices)}"
                                    for family, indices in groups)
