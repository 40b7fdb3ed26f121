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
CONFIG = FIT_OPTIONS + ("method",) + SVI_OPTIONS + ("stream", "backend")


def plan(options: dict, *, strict: bool = False):
    """The Plan of a mixture fit; options: every name of CONFIG (checked by vifit.parameters.check;
    max_iter None: 500 sweeps for cavi, no step limit for svi; k an int or a K range's text, fitted
    by CAVI per candidate; strict: ``--strict``, as for gmm.plan)."""
    from vifit.api.gmm import refuse_dask_grid, refuse_split, selection_config
    from vifit.api.gmm_select import criterion_of, parse_k
    from vifit.api.heldout import split_of
    from vifit.errors import BadInput
    from vifit.fitplan import Plan  # imported when a fit is planned: `import vifit` stays light

    svi, dask = options["method"] == "svi", options["backend"] == "dask"
    ks = parse_k(options["k"])
    if len(ks) > 1 and dask:
        refuse_dask_grid(f"mixture:k={options['k']}", "--k")
    if len(ks) > 1 and svi:
        raise BadInput("--k with several values selects K by local CAVI; drop --method svi (or fit each K)")
    split = split_of(options)
    refuse_split(split, svi=svi, stream=options["stream"], backend=options["backend"])
    criterion_of(options.get("select"), split)  # --select heldout without a split: before the rows are read
    config = {name: options[name] for name in FIT_OPTIONS}
    config["k"] = ks[0] if len(ks) == 1 else str(options["k"])
    config.update(method=options["method"], **{name: options[name] if svi else None for name in SVI_OPTIONS})
    config["stream"] = bool(options["stream"]) if svi else None
    config["backend"] = options["backend"]
    fit_options = {name: config[name] for name in FIT_OPTIONS}
    if split or options.get("select") is not None:  # as gmm's (api.gmm.selection_config)
        config.update(selection_config(options, split))
    if dask and svi and not options["stream"]:
        raise BadInput("--no-stream does not apply to --backend dask (the rows stay on the workers)")
    settings = None
    if svi:
        from vifit.api.gmm_svi import svi_settings

        settings = svi_settings({name: options[name] for name in SVI_OPTIONS}, options["tol"], options["max_iter"])
        fit_options = {name: value for name, value in fit_options.items() if name not in ("tol", "max_iter")}
    else:
        fit_options["max_iter"] = config["max_iter"] = 500 if options["max_iter"] is None else options["max_iter"]
    hint = {"not_converged_hint": "raise --epochs (or --max-iter when given) or loosen --tol"} if svi else {}
    if dask:
        from vifit.distributed.mixture import load as load_dask

        run = Plan(config=config, fit=partial(_fit_dask, settings=settings, options=fit_options), **hint)
        run.load = partial(load_dask, family=options["family"], resources=run.resources,
                           backend={name: options.get(name) for name in ("scheduler", "scheduler_file", "worker_wait")})
        return run
    if len(ks) > 1 or split:
        from vifit.api.gmm import _unconverged_candidates
        from vifit.api.grid import Grid, fit_grid

        fit = partial(_fit_svi, settings=settings) if svi else _fit
        grid = Grid(fit=fit, options=fit_options, ks=ks, covariances=None, spec=str(options["k"]), split=split,
                    select=options.get("select"), jobs=int(options.get("jobs") or 1), strict=strict)
        run = Plan(config=config, fit=partial(fit_grid, grid=grid), **hint,
                   strict_check=partial(_unconverged_candidates, spec=str(options["k"])) if len(ks) > 1 else None)
    elif svi:
        run = Plan(config=config, fit=partial(_fit_svi, settings=settings, options=fit_options), **hint)
        if options["stream"]:
            run.load = partial(load_stream, family=options["family"])
            return run
    else:
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


def load_stream(source: str, opts, note, *, family: str | None):
    """``Plan.load`` of a streamed SVI fit: the file read in blocks as :func:`read_options` reads
    it (a first pass for the category columns' levels when there are any)."""
    from vifit.api.gmm_svi import Loaded
    from vifit.data import display_name
    from vifit.data.source import once_name, read_once
    from vifit.data.stream import TableStream
    from vifit.errors import BadInput
    from vifit.inference import sources, svi

    name = display_name(source)
    if read_once(source):
        raise BadInput(f"vifit mixture --method svi streams a file (a first pass reads the columns' families and "
                       f"priors): {once_name(name)} can be read only once; save it to a file, or add --no-stream")
    table_stream = TableStream(source, read_options(opts, family=family), chunk_rows=sources.READ_ROWS, note=note)
    table_stream.collect_levels()
    stream_source = svi.StreamSource(table_stream)
    return Loaded(stream_source, stream_source.describe, name, weighted=table_stream.weighted, missing=True)


def load(source: str, opts, note, *, family: str | None, min_rows: int):
    from vifit.data import load_table

    return load_table(source, read_options(opts, family=family), min_rows=min_rows, note=note,
                      require_variation=True)


def _fit(table, *, seed, reporter, policy=None, options: dict, prefix: str = ""):
    """One K by CAVI (prefix: the candidate's name in a grid; the mixture says nothing per restart)."""
    from vifit.api import mixture_fit

    return mixture_fit.fit(table, seed=seed, reporter=reporter, policy=policy, **options)


def _fit_dask(table, *, seed, reporter, policy=None, settings=None, options: dict):
    """CAVI (settings None) or SVI over the partitions of a Dask mixture table."""
    from vifit.distributed import mixture as dask_mixture

    if settings is None:
        return dask_mixture.fit(table, seed=seed, reporter=reporter, policy=policy, **options)
    return dask_mixture.fit_svi(table, seed=seed, reporter=reporter, policy=policy, settings=settings, **options)


def _fit_svi(rows, *, seed, reporter, policy=None, settings, options: dict, prefix: str = ""):
    """SVI on streamed rows (api.gmm_svi.Loaded, from load_stream) or an in-memory table."""
    from vifit.api import mixture_fit
    from vifit.api.gmm_svi import Loaded

    fit = mixture_fit.fit_svi_stream if isinstance(rows, Loaded) else mixture_fit.fit_svi
    return fit(rows, seed=seed, reporter=reporter, policy=policy, settings=settings, **options)


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
                 forgetting=0.7, delay=1.0, epochs=100, memoized=False, stream=True, backend="local",
                 scheduler=None, scheduler_file=None, worker_wait=None, validation=None, folds=None, select=None,
                 jobs=1, dropna=False, seed=None, progress="none", threads=None):
        self._store(locals())

    def _options(self) -> dict:
        from vifit import parameters

        family = self.families
        if isinstance(family, dict):
            family = ",".join(f"{name}:{','.join(map(str, columns))}" for name, columns in family.items())
        k = ",".join(str(k) for k in self.k) if isinstance(self.k, (list, tuple, range)) else self.k
        options = {"k": k, "family": family, "weights": self.weights,
                   "weight_concentration": self.weight_concentration, "init": self.init, "tol": self.tol,
                   "max_iter": self.max_iter, "restarts": self.restarts, "chunk_rows": self.chunk_rows,
                   **{name: getattr(self, name) for name in ("method",) + SVI_OPTIONS + ("stream", "backend")},
                   **{name: getattr(self, name) for name in ("scheduler", "scheduler_file", "worker_wait")},
                   **{name: getattr(self, name) for name in ("validation", "folds", "select", "jobs")}}
        parameters.check("mixture", options)  # K candidates (text) are gmm_select.parse_k's
        if not isinstance(options["k"], str):
            options["k"] = int(self.k)
        return options

    def _plan(self, options: dict, source: str | None):
        if source is None:  # rows in memory
            if self.backend == "dask":
                from vifit.errors import BadInput

                raise BadInput("backend='dask' reads files on the cluster's workers: pass the path (or glob) of "
                               "the CSV files to fit, not an array")
            options = dict(options, stream=False)
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
