"""Held-out rows, deterministic by seed: one split (``--validation FRACTION``) or F folds (``--folds F``).

Rows are dealt by one permutation of ``numpy.random.default_rng(seed)``, so the same seed and
the same N give the same split on every machine and for every model (``vifit compare`` scores
all its candidates on the same held-out rows). Index arrays are sorted, so a subset keeps the
file's order.
"""

from __future__ import annotations

import numpy as np

from vifit.errors import BadInput

SPLIT_SEED_OFFSET = 0x5EED  # the split's stream is not the fit's: a fit seeded s does not reuse its rows' order


def _permutation(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng([int(seed), SPLIT_SEED_OFFSET]).permutation(n)


def check_fraction(fraction: float, option: str = "--validation") -> float:
    value = float(fraction)
    if not (0.0 < value < 1.0):
        raise BadInput(f"{option} {fraction!r}: the held-out fraction must be between 0 and 1 (exclusive), e.g. 0.2")
    return value


def holdout(n: int, fraction: float, seed: int, *, min_train: int = 2, option: str = "--validation"):
    """(train, heldout): sorted row indices, ``round(fraction * n)`` (at least 1) held out."""
    fraction = check_fraction(fraction, option)
    n_out = max(1, int(round(fraction * n)))
    if n - n_out < min_train:
        raise BadInput(f"{option} {fraction:g} of {n} rows leaves {n - n_out} to fit on; at least {min_train} "
                       f"are needed: lower the fraction")
    order = _permutation(n, seed)
    return np.sort(order[n_out:]), np.sort(order[:n_out])


def folds(n: int, count: int, seed: int, *, min_train: int = 2) -> list[tuple[np.ndarray, np.ndarray]]:
    """[(train, heldout)] for each of ``count`` folds: the held-out parts are disjoint, of sizes
    differing by at most one, and cover every row once."""
    if int(count) != count or count < 2:
        raise BadInput(f"--folds {count!r}: give at least 2 folds")
    count = int(count)
    if count > n:
        raise BadInput(f"--folds {count}: more folds than the {n} rows")
    if n - -(-n // count) < min_train:
        raise BadInput(f"--folds {count} of {n} rows leaves too few rows to fit on; use fewer folds")
    order = _permutation(n, seed)
    parts = np.array_split(order, count)
    out = []
    for i, part in enumerate(parts):
        rest = np.concatenate([p for j, p in enumerate(parts) if j != i])
        out.append((np.sort(rest), np.sort(part)))
    return out
