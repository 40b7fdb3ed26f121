"""``vifit.Mixture``: the mixture of per-column families (gaussian, bernoulli, poisson, categorical)
as an estimator, and :func:`plan`, the fit that ``vifit mixture`` and ``Mixture.fit`` both run."""

from __future__ import annotations

from dataclasses import replace
from functools import partial

from vifit.api.base import Estimator, like_input

# the options of a mixture fit, in the order the document records them in config
FIT_OPTIONS = ("k", "family", "weights", "weight_concentration", "init", "tol", "max_iter", "restarts",
               "chunk_rows")
SVI_OPTIONS = ("batch_size", "forgetting", "delay", "epochs", "memoized")
# config of every mixture fit: an option that does not apply to the method is recorded as null
CONFIG = FIT_OPTIONS + ("method",) + SVI_OPTIONS


def plan(options: dict):
    """The Plan of a mixture fit; options: every name of CONFIG (checked by vifit.parameters.check;
    max_iter None: 500 sweeps for cavi, no step limit for svi)."""
    from vifit.fitplan import Plan  # imported when a fit is planned: `import vifit` stays light

    svi = options["method"] == "svi"
    config = {name: options[name] for name in FIT_OPTIONS}
    config.update(method=options["method"], **{name: options[name] if svi else None for name in SVI_OPTIONS})
    fit_options = {name: options[name] for name in FIT_OPTIONS}
    if svi:
        from vifit.api.gmm_svi import svi_settings

        settings = svi_settings({name: options[name] for name in SVI_OPTIONS}, options["tol"], options["max_iter"])
        fit_options = {name: value for name, value in fit_options.items() if name not in ("tol", "max_iter")}
        run = Plan(config=config, fit=partial(_fit_svi, settings=settings, options=fit_options),
                   not_converged_hint="raise --epochs (or --max-iter when given) or loosen --tol")
    else:
        fit_options["max_iter"] = config["max_iter"] = 500 if options["max_iter"] is None else options["max_iter"]
        run = Plan(config=config, fit=partial(_fit, options=fit_options))
    run.load = partial(load, family=options["family"], min_rows=run.min_rows)
    return run


def read_options(opts, *, family: str | None):
    """The reader's options for a mixture: missing cells kept (NaN) unless --dropna, text columns and
    the columns --family calls categorical read as categories (--row-weights is the reader's)."""
    from vifit.api.mixture_families import categorical_columns
    from vifit.errors import BadInput

    if opts.standardize:
        raise BadInput("--standardize does not apply to mixture: its gaussian columns are modelled in their own "
                       "working frame, and its other columns are counts, 0/1 or categories")
    named = categorical_columns(family)
    return replace(opts, missing=not opts.dropna, text_as_categorical=True,
                   categorical=",".join(named) if named else None)


def load(source: str, opts, note, *, family: str | None, min_rows: int):
    from vifit.data import load_table

    return load_table(source, read_options(opts, family=family), min_rows=min_rows, note=note,
                      require_variation=True)


def _fit(table, *, seed, reporter, policy=None, options: dict):
    from vifit.api import mixture_fit

    return mixture_fit.fit(table, seed=seed, reporter=reporter, policy=policy, **options)


def _fit_svi(table, *, seed, reporter, policy=None, settings, options: dict):
    from vifit.api import mixture_fit

    return mixture_fit.fit_svi(table, seed=seed, reporter=reporter, policy=policy, settings=settings, **options)


class Mixture(Estimator):
    """A mixture of per-column families (``vifit mixture``'s options); families: the --family text,
    or a dict {family: [columns]}. Fitted: weights_ (K,), families_ {column: family}, elbo_,
    n_iter_, converged_, document_. fit takes NaN cells (missing at random) and sample_weight."""

    _model = "mixture"
    _missing_cells = True
    dtype = None  # float64: the families' statistics (counts, log x!) want it
    standardize = False  # the gaussian family works in its own frame; other columns are not numbers to scale

    def __init__(self, k=2, families=None, weights="dirichlet", weight_concentration=None, init="kmeans++",
                 tol=1e-6, max_iter=None, restarts=1, chunk_rows=None, method="cavi", batch_size=1024,
                 forgetting=0.7, delay=1.0, epochs=10, memoized=False, dropna=False, seed=None, progress="none"):
        self._store(locals())

    def _options(self) -> dict:
        from vifit import parameters

        family = self.families
        if isinstance(family, dict):
            family = ",".join(f"{name}:{','.join(map(str, columns))}" for name, columns in family.items())
        options = {"k": self.k, "family": family, "weights": self.weights,
                   "weight_concentration": self.weight_concentration, "init": self.init, "tol": self.tol,
                   "max_iter": self.max_iter, "restarts": self.restarts, "chunk_rows": self.chunk_rows,
                   **{name: getattr(self, name) for name in ("method",) + SVI_OPTIONS}}
        parameters.check("mixture", options)
        return options

    def _plan(self, options: dict, source: str | None):
        return plan(options)

    def fit(self, X, y=None, sample_weight=None):
        self._fit_table(X, sample_weight)
        return self

    def _after_fit(self, result) -> None:
        import numpy as np

        super()._after_fit(result)
        params = self.document_["params"]
        self.weights_ = np.asarray(params["expected_weights"], dtype=np.float64)
        self.families_ = dict(self.document_["fit"]["families"])

    def predict(self, X):
        """The most probable component of each row, 0-based (-1 where a row cannot be scored)."""
        import numpy as np

        names, rows = self._predict_rows(X)
        labels = rows[:, names.index("component")]
        return like_input(X, np.where(np.isfinite(labels), labels - 1, -1).astype(np.int64), "component")

    def predict_proba(self, X):
        names, rows = self._predict_rows(X)
        resp = [i for i, name in enumerate(names) if name.startswith("resp_")]
        return like_input(X, rows[:, resp], [names[i] for i in resp])

    def score_samples(self, X):
        """Log posterior-predictive density of each row's observed cells (n,), nats of X as given."""
        names, rows = self._predict_rows(X)
        return like_input(X, rows[:, names.index("log_density")], "log_density")

    def impute(self, X):
        """X (n, D) with each missing cell replaced by E[x_miss | x_obs] under the posterior predictive."""
        import numpy as np

        document = self._check_fitted()
        from vifit.api.base import rows_of
        from vifit.data import Table
        from vifit.documents import mixture as model_file

        columns = list(document["data"]["columns"])
        block, _, name, _ = rows_of(X, columns=columns, fitted_by="Mixture", missing=True,
                                    by_name=getattr(self, "_named", True))
        _, filled = model_file.predict(document, getattr(self, "path_", "model"),
                                       Table(values=block, columns=columns, source=name), impute=True)
        return like_input(X, np.asarray(filled, dtype=np.float64).reshape(block.shape[0], -1), columns)

    def sample(self, n_samples: int = 1, seed=None):
        """(X (n, D), labels (n,) 0-based) drawn from the posterior predictive (categories as codes)."""
        import numpy as np

        from vifit.documents import mixture as model_file

        _, rows = model_file.sample(self._check_fitted(), getattr(self, "path_", "model"), int(n_samples),
                                    np.random.default_rng(seed))
        rows = np.asarray(rows, dtype=np.float64)
        return rows[:, :-1], rows[:, -1].astype(np.int64) - 1
