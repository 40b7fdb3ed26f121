"""``vifit.GMM``: the Bayesian Gaussian mixture as an estimator, and :func:`plan`, the fit that
``vifit gmm`` (one K, CAVI) and ``GMM.fit`` both run.

Labels are 0-based here (scikit-learn's clustering convention); ``vifit predict`` and
``vifit sample`` write 1-based components.
"""

from __future__ import annotations

from vifit.api.base import Estimator
from vifit.errors import BadInput

# the options of a CAVI fit, in the order the CLI records them in config
CAVI_OPTIONS = ("k", "covariance", "weights", "weight_concentration", "mean_prior", "mean_precision_prior",
                "dof_prior", "covariance_prior", "sigma", "tau", "init", "tol", "max_iter", "restarts",
                "chunk_rows")
SVI_DEFAULTS = {"batch_size": 1024, "forgetting": 0.7, "delay": 1.0, "epochs": 10, "memoized": False}
SVI_OPTIONS = tuple(SVI_DEFAULTS)
CAVI_MAX_ITER = 500  # --max-iter's default for cavi; svi has no step limit unless one is given


def plan(options: dict):
    """(config, fit) of one CAVI fit: ``fit(table, seed=, reporter=) -> FitResult`` adds the
    resolved prior to ``config`` (the document's config block, before the read options)."""
    from vifit.runners import gmm as runner

    config = dict(options)

    def fit(table, *, seed, reporter, policy=None):  # policy: the loop's (None: a library caller's defaults)
        result = runner.fit(table, seed=seed, reporter=reporter, policy=policy, **options)
        config.update(resolved=result.params["prior"])
        return result

    return config, fit


def plan_svi(options: dict, svi_options: dict, max_iter_given: bool):
    """(config, fit) of an in-memory SVI fit (``vifit gmm --method svi --no-stream``)."""
    from vifit.inference import svi
    from vifit.inference.policy import DEFAULT as DEFAULT_POLICY
    from vifit.runners import gmm_svi

    settings = gmm_svi.check_settings(svi_options, options["tol"], options["max_iter"] if max_iter_given else None)
    fit_options = {key: value for key, value in options.items() if key not in ("tol", "max_iter")}
    config = dict(options, max_iter=options["max_iter"] if max_iter_given else None, **svi_options)

    def fit(table, *, seed, reporter, policy=None):  # policy: the loop's (None: a library caller's defaults)
        loaded = gmm_svi.Loaded(svi.ArraySource(table.values), table.describe)
        result = gmm_svi.fit(loaded, seed=seed, reporter=reporter, settings=settings, name=table.source,
                             policy=policy or DEFAULT_POLICY, **fit_options)
        config.update(resolved=result.params["prior"])
        return result

    return config, fit


class GMM(Estimator):
    """Bayesian Gaussian mixture by CAVI (``method="cavi"``) or SVI (``method="svi"``, the rows
    held in memory: ``vifit gmm --method svi --no-stream``). Parameters are ``vifit gmm``'s
    options; ``max_iter=None`` is the CLI's default (500 sweeps for cavi, no step limit for svi).

    Fitted: weights_ (K,), means_ (K, D), covariances_ ((K, D, D) full; (K, D) per-feature
    variances otherwise), counts_ (K,), elbo_, elbo_trace_, n_iter_, converged_,
    n_features_in_, feature_names_in_ (a DataFrame's columns), document_ (the vifit.fit/1 dict).
    """

    _model = "gmm"

    def __init__(self, k=2, covariance="full", weights="dirichlet", weight_concentration=None, mean_prior=None,
                 mean_precision_prior=None, dof_prior=None, covariance_prior=None, sigma=None, tau=None,
                 init="kmeans++", tol=1e-6, max_iter=None, restarts=1, chunk_rows=None, method="cavi",
                 batch_size=1024, forgetting=0.7, delay=1.0, epochs=10, memoized=False, backend="local",
                 scheduler=None, standardize=False, dropna=False, dtype=None, seed=None, progress="none"):
        self._store(locals())

    def _options(self) -> dict:
        from vifit.api.checks import check_choice, check_int

        check_int("k", self.k, 1)
        check_choice("covariance", self.covariance, ("full", "diag", "spherical", "known"))
        check_choice("weights", self.weights, ("uniform", "dirichlet", "dp"))
        check_choice("init", self.init, ("kmeans++", "random", "random-resp"))
        check_choice("method", self.method, ("cavi", "svi"))
        check_choice("backend", self.backend, ("local", "dask"))
        check_int("restarts", self.restarts, 1)
        if self.max_iter is not None:
            check_int("max_iter", self.max_iter, 1)
        if self.chunk_rows is not None:
            check_int("chunk_rows", self.chunk_rows, 1)
        if self.backend == "dask":
            raise BadInput("backend='dask' reads files on a cluster: use `vifit gmm FILES --backend dask` "
                           "(an in-memory array is fitted with backend='local')")
        options = {name: getattr(self, name) for name in CAVI_OPTIONS}
        options["k"] = int(self.k)
        return options

    def _plan(self, options: dict):
        if self.method == "svi":
            svi_options = {name: getattr(self, name) for name in SVI_OPTIONS}
            svi_options["stream"] = False  # the rows are in memory
            given = options["max_iter"] is not None
            return plan_svi(options, svi_options, max_iter_given=given)
        for name, default in SVI_DEFAULTS.items():  # as the CLI's reject_unused: never silently ignored
            if getattr(self, name) != default:
                raise BadInput(f"--{name.replace('_', '-')} applies to --method svi only; add --method svi "
                               f"or drop --{name.replace('_', '-')}")
        options = dict(options, max_iter=CAVI_MAX_ITER if options["max_iter"] is None else options["max_iter"])
        return plan(options)

    @classmethod
    def _params_of(cls, document: dict) -> dict:
        params = super()._params_of(document)
        params["method"] = "cavi" if document.get("method") == "cavi" else "svi"
        params.pop("dtype", None)
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
        return rows[:, 0], rows[:, 1:1 + k], rows[:, names.index("log_density")]

    def predict(self, X):
        """0-based component of each row: the largest responsibility (n,) int."""
        import numpy as np

        labels, _, _ = self._predicted(X)
        return np.where(np.isfinite(labels), labels - 1, -1).astype(np.int64)

    def fit_predict(self, X, y=None):
        return self.fit(X).predict(X)

    def predict_proba(self, X):
        """Responsibilities (n, K): each row's posterior component probabilities."""
        return self._predicted(X)[1]

    def score_samples(self, X):
        """Log posterior-predictive density of each row (n,), in the units of X as given."""
        return self._predicted(X)[2]

    def sample(self, n_samples: int = 1, seed=None):
        """(X (n, D), labels (n,) 0-based) drawn from the posterior predictive."""
        import numpy as np

        from vifit.runners import gmm as runner

        document = self._check_fitted()
        _, rows = runner.sample(document, getattr(self, "path_", "model"), int(n_samples),
                                np.random.default_rng(seed))
        rows = np.asarray(rows, dtype=np.float64).reshape(int(n_samples), -1)
        return rows[:, :-1], rows[:, -1].astype(np.int64) - 1

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.estimator_type = "clusterer"
        return tags
