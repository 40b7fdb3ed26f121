"""A mixture of products of observation families: allocation x prod_g p_g(x[:, columns_g] | c).

T(x) (p, n) is row 0 = 1 followed by each family's block (``families.base``), so
p = 1 + sum_g p_g and the local step is the same two GEMMs as the Gaussian's (``mixture``).
theta[:, 0] = E[log pi_k] + sum_g const_gk; lam (p, k) row 0 is the counts N_k, each block
its family's natural parameters. The ELBO is <theta, t> - sum r log r - KL(q(pi)) - sum_g KL_g,
in the Gaussian families' working frames; ``jacobian(stats)`` is what turns it into nats of
the data (per observed cell, so exact with missing cells).

``build`` makes the model with data-scaled default priors from the observed cells;
``infer_family`` proposes a family for a column.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp

from vifit.models import allocation
from vifit.models.families import FAMILIES, Bernoulli, Categorical, Gaussian, Poisson
from vifit.models.families import from_description as family_from_description
from vifit.models.product_scan import ColumnScan
from vifit.models.mixture import Stats, local_statistics

RIDGE = 1e-6


@dataclass
class ProductVariational:
    """q: lam (p, k) (its blocks are the families' parameters), counts N_k (k,), and q(pi)'s
    parameters (alpha (k,) | sticks (k, 2) | None)."""

    lam: np.ndarray
    counts: np.ndarray
    weight_concentration: np.ndarray | None


class ProductMixture:
    """families: the observation families (their columns partition some of x's n_columns);
    k components; weights: allocation kind; weight_concentration: alpha0."""

    kind = "mixture"

    def __init__(self, families, k: int, weights: str = "dirichlet", weight_concentration: float | None = None,
                 n_columns: int | None = None):
        if weights not in allocation.KINDS:
            raise ValueError(f"unknown weights kind {weights!r}")
        self.families = tuple(families)
        self.k, self.weights = int(k), weights
        self.weight_concentration = float(1.0 / k if weight_concentration is None else weight_concentration)
        used = [c for family in self.families for c in family.columns]
        if len(set(used)) != len(used):
            raise ValueError("a column belongs to two families")
        self.n_columns = int(n_columns if n_columns is not None else max(used) + 1)
        starts = np.cumsum([1] + [family.n_stats for family in self.families])
        self.blocks = [slice(int(a), int(b)) for a, b in zip(starts[:-1], starts[1:])]
        self.n_stats = int(starts[-1])
        self.natural = np.concatenate([[0.0]] + [family.prior_natural() for family in self.families])
        self.embed_dim = sum(family.embed_dim for family in self.families)

    @property
    def log_jacobian(self) -> float:
        """log |dz/dx| of one complete row (missing cells: see :meth:`jacobian`)."""
        return float(sum(getattr(family, "log_jacobian", 0.0) for family in self.families))

    def jacobian(self, stats: Stats) -> float:
        """log |dz/dx| summed over the observed cells of the rows behind stats (weighted)."""
        total = float(stats.t[0].sum())
        return float(sum(family.jacobian(stats.t[block], total) for family, block in zip(self.families, self.blocks)))

    # ------------------------------------------------------------ the protocol

    def global_step(self, t: np.ndarray, scale: float = 1.0) -> np.ndarray:
        """lam (p, k) = lam0 + scale * t."""
        return self.natural[:, None] + scale * t

    def variational(self, lam: np.ndarray) -> ProductVariational:
        counts = lam[0].copy()
        return ProductVariational(lam, counts, allocation.parameters(self.weights, self.weight_concentration, counts))

    def coefficients(self, q: ProductVariational) -> np.ndarray:
        """theta (k, p), every constant kept (working frame)."""
        theta = np.empty((self.k, self.n_stats))
        theta[:, 0] = allocation.expected_log_weights(self.weights, q.weight_concentration, self.k)
        for family, block in zip(self.families, self.blocks):
            const, theta[:, block] = family.coefficients(q.lam[block], q.counts)
            theta[:, 0] += const
        return theta

    def kl(self, q: ProductVariational) -> float:
        """KL(q(pi) || p(pi)) + sum_g KL_g."""
        return (allocation.kl(self.weights, self.weight_concentration, q.weight_concentration)
                + sum(family.kl(q.lam[block], q.counts) for family, block in zip(self.families, self.blocks)))

    def elbo(self, q: ProductVariational, stats: Stats, theta: np.ndarray | None = None) -> float:
        """The full bound (working frame) for q and the responsibilities behind stats."""
        if theta is None:
            theta = self.coefficients(q)
        return float(np.vdot(theta.T, stats.t)) - stats.neg_entropy - self.kl(q)

    def data_elbo(self, q: ProductVariational, stats: Stats, theta: np.ndarray | None = None) -> float:
        """The bound in nats of the data as given: elbo + jacobian(stats)."""
        return self.elbo(q, stats, theta) + self.jacobian(stats)

    def fill_features(self, x: np.ndarray, out: np.ndarray) -> np.ndarray:
        """T(x) (p, n) for rows x (n, n_columns), written into out[:, :n]."""
        n = x.shape[0]
        t = out[:, :n]
        t[0] = 1.0
        for family, block in zip(self.families, self.blocks):
            family.fill(_columns(x, family.columns), t[block])
        return t

    fixed_features = True  # local_step is local_statistics of fill_features (inference.starts)

    def local_step(self, theta: np.ndarray, x: np.ndarray, ws, weights: np.ndarray | None = None) -> Stats:
        """Statistics of the rows x (n <= ws.chunk_rows, D) under their optimal responsibilities."""
        return local_statistics(theta, self.fill_features(x, ws.features), ws, weights)

    def embed(self, x: np.ndarray, out: np.ndarray) -> np.ndarray:
        """(embed_dim, n) k-means++ coordinates: standardised numeric columns, scaled one-hot
        categories, missing cells 0."""
        n, row = x.shape[0], 0
        z = out[:, :n]
        for family in self.families:
            family.embed(_columns(x, family.columns), z[row:row + family.embed_dim])
            row += family.embed_dim
        return z

    # ------------------------------------------------------------ predictive (data units)

    def expected_weights(self, q: ProductVariational) -> np.ndarray:
        return allocation.expected_weights(self.weights, q.weight_concentration, self.k)

    def component_log_density(self, q: ProductVariational, x: np.ndarray) -> np.ndarray:
        """log p(x_obs,i | component k, data): (n, k); missing cells marginalised."""
        out = np.zeros((x.shape[0], self.k))
        for family, block in zip(self.families, self.blocks):
            out += family.component_log_density(q.lam[block], q.counts, _columns(x, family.columns))
        return out

    def _joint(self, q, x):
        with np.errstate(divide="ignore"):
            return self.component_log_density(q, x) + np.log(self.expected_weights(q))

    def log_density(self, q: ProductVariational, x: np.ndarray) -> np.ndarray:
        """log posterior-predictive density of each row's observed cells: (n,)."""
        return logsumexp(self._joint(q, x), axis=1)

    def predict_proba(self, q: ProductVariational, x: np.ndarray) -> np.ndarray:
        """p(c = k | x_obs): (n, k)."""
        joint = self._joint(q, x)
        return np.exp(joint - logsumexp(joint, axis=1, keepdims=True))

    def impute(self, q: ProductVariational, x: np.ndarray) -> np.ndarray:
        """x (n, n_columns) with every NaN cell of a modelled column <- E[x_miss | x_obs]
        (categorical: the most probable level)."""
        post = self.predict_proba(q, x)
        filled = np.array(x, dtype=np.float64)
        for family, block in zip(self.families, self.blocks):
            cols = list(family.columns)
            filled[:, cols] = family.impute(q.lam[block], q.counts, post, x[:, cols])
        return filled

    def sample(self, q: ProductVariational, n: int, rng: np.random.Generator):
        """n draws from the posterior predictive: (x (n, n_columns), labels (n,)); columns of no
        family are NaN."""
        labels = rng.choice(self.k, size=n, p=self.expected_weights(q))
        x = np.full((n, self.n_columns), np.nan)
        for family, block in zip(self.families, self.blocks):
            x[:, list(family.columns)] = family.sample(q.lam[block], q.counts, labels, rng)
        return x, labels

    # ------------------------------------------------------------ documents

    def describe(self, q: ProductVariational) -> dict:
        """JSON-able parameters: allocation, counts, expected weights, each family's describe."""
        alpha = q.weight_concentration
        return {"kind": self.kind, "k": self.k, "weights": self.weights,
                "weight_concentration": self.weight_concentration, "n_columns": self.n_columns,
                "counts": q.counts.tolist(), "allocation": None if alpha is None else alpha.tolist(),
                "expected_weights": self.expected_weights(q).tolist(),
                "families": [family.describe(q.lam[block], q.counts)
                             for family, block in zip(self.families, self.blocks)]}

    @staticmethod
    def from_description(desc: dict):
        """(model, q) from :meth:`describe`'s dict."""
        pairs = [family_from_description(part) for part in desc["families"]]
        model = ProductMixture([family for family, _ in pairs], desc["k"], desc["weights"],
                               desc["weight_concentration"], desc["n_columns"])
        lam = np.vstack([np.asarray(desc["counts"], dtype=np.float64)[None, :]] + [block for _, block in pairs])
        return model, model.variational(lam)


def _columns(x: np.ndarray, columns: tuple) -> np.ndarray:
    """x[:, columns] (n, d_g), a view when the columns are consecutive."""
    first = columns[0]
    if columns == tuple(range(first, first + len(columns))):
        return x[:, first:first + len(columns)]
    return x[:, list(columns)]


# ---------------------------------------------------------------- building from data


def infer_family(values: np.ndarray, is_text: bool) -> str:
    """A family for one column (n,) (NaN missing): text -> categorical; observed values all in
    {0, 1} -> bernoulli; non-negative integers with more than two distinct values -> poisson;
    otherwise (no observed value included) gaussian (``ColumnScan.family``)."""
    return ColumnScan.of(np.asarray(values, dtype=np.float64).reshape(-1, 1)).family(0, is_text)


def build(x: np.ndarray, families, k: int, weights: str = "dirichlet", alpha0: float | None = None,
          levels: dict | None = None) -> ProductMixture:
    """A ProductMixture for x (n, D) with data-scaled default priors (see each family's module).

    families: [(name, column indices)]; a categorical entry gives one family per column, with
    C = len(levels[column]) when levels (a dict column -> labels) names it, else max code + 1.
    Each column's missingness (any NaN) decides whether it gets an indicator row."""
    x = np.asarray(x, dtype=np.float64)
    return build_from(ColumnScan.of(x), families, k, weights, alpha0, levels)


def build_from(scan: ColumnScan, families, k: int, weights: str = "dirichlet", alpha0: float | None = None,
               levels: dict | None = None) -> ProductMixture:
    """:func:`build` from the columns' summaries (``product_scan.ColumnScan``: a table in memory,
    or the blocks of a stream)."""
    levels = levels or {}
    made = []
    for name, columns in families:
        if name not in FAMILIES:
            raise ValueError(f"unknown family {name!r}; choose from {sorted(FAMILIES)}")
        columns = [int(c) for c in columns]
        for c in columns:
            reason = scan.misfit(name, c, len(levels[c]) if c in levels else None)
            if reason:
                raise ColumnValues(c, reason)
        summary = [scan.summary(c) for c in columns]
        missing = [s[4] for s in summary]
        center = [s[1] for s in summary]
        spread = [s[2] if s[2] > 0 else 1.0 for s in summary]
        if name == "bernoulli":
            made.append(Bernoulli(columns, missing, 1.0, 1.0, center, spread))
        elif name == "poisson":
            b0 = [1.0 / s[1] if s[1] > 0 else 1.0 for s in summary]
            made.append(Poisson(columns, missing, 1.0, b0, center, spread))
        elif name == "categorical":
            for c, s in zip(columns, summary):
                labels = levels.get(c)
                n_levels = len(labels) if labels is not None else scan.n_levels(c)
                made.append(Categorical([c], [s[4]], n_levels, 1.0, labels))
        else:
            made.append(_gaussian(columns, summary))
    return ProductMixture(made, k, weights, alpha0, scan.d)


class ColumnValues(ValueError):
    """A column's observed cells do not fit its family: column (index), reason (words)."""

    def __init__(self, column: int, reason: str):
        super().__init__(f"column {column}: {reason}")
        self.column, self.reason = column, reason


def _gaussian(columns, summary) -> Gaussian:
    """Frame: shift = observed mean, scale = observed std (the root mean square of the group's
    positive stds, or 1, for a constant column); prior as documented in ``families.gaussian``."""
    std = np.array([s[2] for s in summary])
    positive = std[std > 0]
    fallback = float(np.sqrt(np.mean(positive**2))) if positive.size else 1.0
    scale = np.where(std > 0, std, fallback)
    shift = np.array([s[1] for s in summary])
    var_frame = np.array([s[3] for s in summary]) / scale**2  # NaN: fewer than two observed cells
    known = var_frame[np.isfinite(var_frame)]
    level = float(known.mean()) if known.size and known.mean() > 0 else 1.0
    var_frame = np.where(np.isfinite(var_frame), var_frame, 1.0)
    var_frame = np.where(var_frame > 1e-10 * level, var_frame, var_frame + RIDGE * level)
    nu0 = float(max(1, sum(1 for s in summary if s[0] > 0)))
    missing = [s[4] for s in summary]
    return Gaussian(columns, missing, shift, scale, shift, 1.0, nu0, var_frame * scale**2, shift, scale)
