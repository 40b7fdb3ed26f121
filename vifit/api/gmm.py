"""``vifit.GMM``: the Bayesian Gaussian mixture as an estimator, and :func:`plan`, the one road
from its options to a fit that ``vifit gmm`` and ``GMM.fit`` both take: CAVI on one K or on a
K range, SVI or memoized VB on rows in memory or streamed from a file, and either on the rows
of a Dask cluster (``backend="dask"``).

Labels are 0-based here (scikit-learn's clustering convention); ``vifit predict`` and
``vifit sample`` write 1-based components.
"""

from __future__ import annotations

from functools import partial

from vifit.api.base import Estimator, like_input
from vifit.errors import BadInput

# the options of a CAVI fit, in the order the document records them in config
CAVI_OPTIONS = ("k", "covariance", "weights", "weight_concentration", "mean_prior", "mean_precision_prior",
                "dof_prior", "covariance_prior", "sigma", "tau", "init", "moves", "tol", "max_iter", "restarts",
                "chunk_rows")
SVI_OPTIONS = ("batch_size", "forgetting", "delay", "epochs", "memoized")  # their entries: vifit.parameters
# config of every gmm fit, whatever its method and backend: an option that does not apply to the
# method (the SVI settings of a CAVI fit, stream of a CAVI fit) is recorded as null
CONFIG = CAVI_OPTIONS + ("method",) + SVI_OPTIONS + ("stream", "backend")
CAVI_MAX_ITER = 500  # --max-iter's default for cavi; svi has no step limit unless one is given
SVI_HINT = "raise --epochs (or --max-iter when given) or loosen --tol"


def plan(options: dict, *, source: str | None = None, strict: bool = False):
    """The Plan of a gmm fit. options: every name of CONFIG (k an int, or the --k text: "3",
    "2-10", "2,4,8"; max_iter None for the method's default), and for backend "dask" also
    scheduler, scheduler_file and worker_wait, each checked by vifit.parameters.check first (the
    command and the estimator call it; the rules of several options together are here).
    source: the DATA path when rows come from a file (its name is in the hints); strict:
    ``--strict`` (a K range then warns about no candidate, the caller exits 3 on any that did not
    converge, see ``Plan.strict_check``)."""
    from vifit.fitplan import Plan  # imported when a fit is planned: `import vifit` stays light
    from vifit import parameters
    from vifit.api.gmm_select import criterion_of, parse_k
    from vifit.api.heldout import split_of

    ks = parse_k(options["k"])
    covariances = parameters.listed(options["covariance"])
    method, backend = options["method"], options["backend"]
    svi = method == "svi"
    split, several = split_of(options), len(ks) > 1 or len(covariances) > 1
    if several and backend == "dask":
        refuse_dask_grid(f"gmm:k={options['k']}:covariance={','.join(covariances)}")
    if len(ks) > 1 and svi:
        raise BadInput("--k with several values selects K by local CAVI; drop --method svi (or fit each K)")
    if len(covariances) > 1 and svi:
        raise BadInput("--covariance with several values compares them by local CAVI; drop --method svi "
                       "(or fit each covariance)")
    refuse_split(split, svi=svi, stream=options["stream"], backend=backend)
    criterion_of(options.get("select"), split)  # --select heldout without a split: before the rows are read
    if backend == "dask" and svi and not options["stream"]:
        raise BadInput("--no-stream does not apply to --backend dask (the rows stay on the workers)")
    max_iter = options["max_iter"]
    config = {name: options[name] for name in CAVI_OPTIONS}
    config.update(k=ks[0] if len(ks) == 1 else options["k"],
                  max_iter=CAVI_MAX_ITER if max_iter is None and not svi else max_iter, method=method,
                  moves=options["moves"])
    config.update({name: options[name] if svi else None for name in SVI_OPTIONS})
    config.update(stream=bool(options["stream"]) if svi else None, backend=backend)
    fit_options = {name: config[name] for name in CAVI_OPTIONS}
    if split or len(covariances) > 1 or options.get("select") is not None:
        config.update(selection_config(options, split), covariance=",".join(covariances))
    settings = None
    if svi:
        from vifit.api.gmm_svi import svi_settings

        settings = svi_settings({name: options[name] for name in SVI_OPTIONS}, options["tol"], max_iter)
        fit_options = {name: value for name, value in fit_options.items() if name not in ("tol", "max_iter")}
    if backend == "dask":
        from vifit.distributed.gmm import load as load_dask

        run = Plan(config=config, fit=partial(_fit_dask, settings=settings, options=fit_options))
        run.load = partial(load_dask, backend={name: options.get(name) for name in
                                               ("scheduler", "scheduler_file", "worker_wait")},
                           resources=run.resources)
        run.not_converged_hint = SVI_HINT if svi else run.not_converged_hint
        return run
    if several or split:
        from vifit.api.grid import Grid, fit_grid

        fit = partial(_fit_svi, settings=settings) if svi else _fit_cavi
        grid = Grid(fit=fit, options=fit_options, ks=ks, covariances=covariances, spec=str(options["k"]),
                    split=split, select=options.get("select"), jobs=int(options.get("jobs") or 1), strict=strict)
        return Plan(config=config, fit=partial(fit_grid, grid=grid), load=load_cavi,
                    strict_check=partial(_unconverged_candidates, spec=str(options["k"])) if several else None,
                    not_converged_hint=SVI_HINT if svi else Plan.not_converged_hint)
    if svi:
        from vifit.api.gmm_svi import load_stream

        return Plan(config=config, fit=partial(_fit_svi, settings=settings, options=fit_options),
                    load=load_stream if options["stream"] else load_cavi,
                    not_converged_hint=_svi_hint(source) if options["stream"] else SVI_HINT)
    return Plan(config=config, fit=partial(_fit_cavi, options=fit_options), load=load_cavi)


SELECTION_OPTIONS = ("validation", "folds", "select", "jobs")  # vifit.parameters' entries; api.grid's


def selection_config(options: dict, split) -> dict:
    """config's record of a split, a covariance grid or a --select given (absent otherwise, so the
    document of a single fit, or of a K range by ELBO, is as before the grid): the held-out
    fraction or folds and the criterion (--jobs is not recorded: the results do not depend on it)."""
    from vifit.api.gmm_select import criterion_of

    return {"validation": options.get("validation"), "folds": options.get("folds"),
            "select": criterion_of(options.get("select"), split)}


def refuse_dask_grid(spec: str, options: str = "--k or --covariance") -> None:
    """BadInput for a selection grid (several --k or --covariance values) with --backend dask.

    The grid fits its candidates on rows in memory; --backend dask fits one model over the
    partitions of DATA, which stay on the workers because they may not fit here. Running the
    grid would quietly read DATA into this process instead, so it is refused, naming the road
    that does run such candidates on a cluster: vifit compare --backend dask (spec: its --models)."""
    raise BadInput(f"a grid ({options} with several values) is fitted on rows in memory, and --backend dask "
                   f"fits one model over the partitions of DATA: to fit the candidates as tasks on the cluster, "
                   f"rank them with vifit compare DATA --models '{spec}' --backend dask, or drop --backend dask "
                   f"(--jobs N fits them in processes here)")


def refuse_split(split, *, svi: bool, stream, backend: str) -> None:
    """BadInput for held-out rows where the rows are not in one table in memory."""
    if split is None:
        return
    option = "--validation" if split[0] == "validation" else "--folds"
    if backend == "dask":
        raise BadInput(f"{option} holds rows out of a fit in memory: drop --backend dask, or fit the training files "
                       f"and score the held-out ones with vifit score")
    if svi and stream:
        raise BadInput(f"{option} holds rows out of a fit in memory, not of a streamed file: add --no-stream (SVI on "
                       f"the rows in memory) or use --method cavi")


def load_cavi(source: str, opts, note):
    """``Plan.load`` of a fit of the rows in memory (CAVI, SVI with --no-stream): the table with
    its missing cells kept (NaN, marginalised by models.gmm_missing) unless --dropna, and its
    --row-weights column."""
    from dataclasses import replace

    from vifit.data import load_table

    return load_table(source, replace(opts, missing=not opts.dropna), min_rows=2, note=note, require_variation=True)


def _svi_hint(source: str | None) -> str:
    """What to change when a streamed SVI fit did not converge: stdin allows one online pass only."""
    from vifit.data.source import once_name, read_once

    if source is not None and read_once(source):
        from vifit.data import display_name

        return (f"{once_name(display_name(source))} can be read only once: read from a file so that more epochs "
                f"can run, or loosen --tol")
    return SVI_HINT


def _fit_cavi(table, *, seed, reporter, policy=None, options: dict, prefix: str = ""):
    """One K by CAVI (policy: the loop's; None: a library caller's defaults); prefix: the
    candidate named in the restarts' note, in a K range."""
    from vifit.api import gmm_fit

    result = gmm_fit.fit(table, seed=seed, reporter=reporter, policy=policy, **options)
    return _noted_restarts(result, options["tol"], reporter, prefix)


def _noted_restarts(result, tol: float, reporter, prefix: str = ""):
    """Say when restarts ended at different optima (gmm_select.restart_spread): the one kept is
    only the best of those tried. prefix: the candidate, in a K range."""
    from vifit.api.gmm_select import restart_spread

    message = restart_spread(result.fit_extra.get("restart_elbos") or [], result.fit_extra.get("best_restart"), tol)
    if message:
        reporter.note(prefix + message)
    return result


def _unconverged_candidates(result, *, spec: str) -> str | None:
    """``--strict`` on a K range: the message naming the candidates that did not converge, if any."""
    from vifit.api.gmm_select import NOT_CONVERGED_HINT, unconverged, unconverged_message

    stopped_early = unconverged(result)
    return f"{unconverged_message(spec, stopped_early)} (--strict); {NOT_CONVERGED_HINT}" if stopped_early else None


def _fit_svi(rows, *, seed, reporter, policy=None, settings, options: dict, prefix: str = ""):
    """SVI or memoized VB on streamed rows (gmm_svi.Loaded) or an in-memory table; prefix: the
    candidate named in the restarts' note, in a grid."""
    from vifit.api import gmm_svi
    from vifit.inference.policy import DEFAULT

    loaded = rows if isinstance(rows, gmm_svi.Loaded) else gmm_svi.in_memory(rows)
    result = gmm_svi.fit(loaded, seed=seed, reporter=reporter, settings=settings, policy=policy or DEFAULT,
                         **options)
    return _noted_restarts(result, settings.tol, reporter, prefix)


def _fit_dask(table, *, seed, reporter, policy=None, settings, options: dict):
    """CAVI (settings None) or SVI over the partitions of a Dask table."""
    if settings is None:
        from vifit.distributed.gmm import fit

        result = fit(table, seed=seed, reporter=reporter, policy=policy, **options)
        return _noted_restarts(result, options["tol"], reporter)
    from vifit.distributed import svi as dask_svi

    result = dask_svi.fit(table, seed=seed, reporter=reporter, settings=settings, policy=policy, **options)
    return _noted_restarts(result, settings.tol, reporter)


class GMM(Estimator):
    """Bayesian Gaussian mixture by CAVI (``method="cavi"``) or SVI (``method="svi"``; with
    ``memoized=True``, memoized VB). Parameters are ``vifit gmm``'s options; ``max_iter=None`` is
    the CLI's default (500 sweeps for cavi, no step limit for svi). ``k`` may name candidates as
    ``--k`` does ("2-10", "2,4,8", or a list of ints), and ``covariance`` several types ("full,diag"
    or a list): each candidate is fitted by CAVI and the best by ``select`` kept (fit.selection;
    api.grid). ``validation`` (a fraction) or ``folds`` (F) hold rows out and record their log
    density in fit.validation; ``jobs`` fits a grid in that many processes. ``fit(X)`` takes rows
    in memory (an array or DataFrame) or the path of a CSV file: then SVI streams it (``stream=False`` loads it), and ``backend="dask"`` with
    ``scheduler`` (or ``scheduler_file``) fits the files of a glob on a cluster.

    Fitted: weights_ (K,), means_ (K, D), covariances_ ((K, D, D) full; (K, D) per-feature
    variances otherwise), counts_ (K,), elbo_, elbo_trace_, n_iter_, converged_,
    n_features_in_, feature_names_in_ (a DataFrame's columns), document_ (the vifit.fit/1 dict).
    """

    _model = "gmm"
    _missing_cells = True  # NaN cells are missing at random, marginalised (CAVI and SVI; models.gmm_missing)

    def __init__(self, k=2, covariance="full", weights="dirichlet", weight_concentration=None, mean_prior=None,
                 mean_precision_prior=None, dof_prior=None, covariance_prior=None, sigma=None, tau=None,
                 init="screened", moves="split-merge", tol=1e-6, max_iter=None, restarts=1, chunk_rows=None,
                 method="cavi",
                 batch_size=1024, forgetting=0.7, delay=1.0, epochs=100, memoized=False, stream=True,
                 backend="local", scheduler=None, scheduler_file=None, worker_wait=None, validation=None, folds=None,
                 select=None, jobs=1, standardize=False, dropna=False, dtype=None, seed=None, progress="none", threads=None):
        self._store(locals())

    def _options(self) -> dict:
        from vifit import parameters

        options = {name: getattr(self, name)
                   for name in CONFIG + ("scheduler", "scheduler_file", "worker_wait") + SELECTION_OPTIONS}
        if isinstance(self.k, (list, tuple, range)):  # candidates as --k lists them: "2,4,8"
            options["k"] = ",".join(str(k) for k in self.k)
        if isinstance(self.covariance, (list, tuple)):  # a grid of covariance types, as --covariance lists them
            options["covariance"] = ",".join(str(c) for c in self.covariance)
        parameters.check("gmm", options)  # K candidates (text) are gmm_select.parse_k's
        if not isinstance(options["k"], str):
            options["k"] = int(self.k)
        return options

    def _plan(self, options: dict, source: str | None):
        if source is None:  # rows in memory
            if self.backend == "dask":
                raise BadInput("backend='dask' reads files on the cluster's workers: pass the path (or glob) of "
                               "the CSV files to fit, not an array")
            options = dict(options, stream=False)
        return plan(options, source=source)

    @classmethod
    def _params_of(cls, document: dict) -> dict:
        params = super()._params_of(document)
        params["method"] = "cavi" if document.get("method") == "cavi" else "svi"
        params.pop("dtype", None)
        for name in SVI_OPTIONS + ("stream", "moves"):  # null: the option did not apply to the method
            if params.get(name, 0) is None:
                del params[name]
        return params

    def _after_fit(self, result) -> None:
        import numpy as np

        super()._after_fit(result)
        summary = self.document_["params"]["summary"]
        self.weights_ = np.asarray(summary["weights"], dtype=np.float64)
        self.means_ = np.asarray(summary["means"], dtype=np.float64)
        self.covariances_ = np.asarray(summary["covariances"], dtype=np.float64)
        self.counts_ = np.asarray(summary["counts"], dtype=np.float64)
        self.n_components_ = int(self.weights_.shape[0])

    # -------------------------------------------------------- per row

    def _predicted(self, X):
        names, rows = self._predict_rows(X)
        k = self.n_components_
        return rows[:, 0], rows[:, 1:1 + k], rows[:, names.index("log_density")], names[1:1 + k]

    def predict(self, X):
        """0-based component of each row: the largest responsibility (n,) int (a Series "label"
        on X's index for a DataFrame)."""
        import numpy as np

        labels = self._predicted(X)[0]
        return like_input(X, np.where(np.isfinite(labels), labels - 1, -1).astype(np.int64), "label")

    def fit(self, X, y=None, sample_weight=None):
        """Fit to X (n, d) (an array, a DataFrame or a CSV path); sample_weight (n,): non-negative
        frequency weights, so that weight w counts as w copies of its row (0 drops it)."""
        self._fit_table(X, sample_weight)
        return self

    def fit_predict(self, X, y=None, sample_weight=None):
        return self.fit(X, sample_weight=sample_weight).predict(X)

    def predict_proba(self, X):
        """Responsibilities (n, K): each row's posterior component probabilities (columns
        resp_1..resp_K for a DataFrame)."""
        _, resp, _, names = self._predicted(X)
        return like_input(X, resp, names)

    def score_samples(self, X):
        """Log posterior-predictive density of each row (n,), in the units of X as given."""
        return like_input(X, self._predicted(X)[2], "log_density")

    def sample(self, n_samples: int = 1, seed=None):
        """(X (n, D), labels (n,) 0-based) drawn from the posterior predictive."""
        import numpy as np

        from vifit.documents import gmm as model_file

        document = self._check_fitted()
        _, rows = model_file.sample(document, getattr(self, "path_", "model"), int(n_samples),
                                np.random.default_rng(seed))
        rows = np.asarray(rows, dtype=np.float64).reshape(int(n_samples), -1)
        return rows[:, :-1], rows[:, -1].astype(np.int64) - 1

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.estimator_type = "clusterer"
        return tags
