"""``vifit.PCA``: exact PCA with the probabilistic-PCA likelihood as an estimator, and
:func:`plan`, the fit that ``vifit pca`` and ``PCA.fit`` both run (its Plan)."""

from __future__ import annotations

from functools import partial

from vifit.api.base import Transformer, like_input


def plan(options: dict):
    """The Plan of a PCA fit; options: k, whiten (checked by vifit.parameters.check first)."""
    from vifit.fitplan import Plan  # imported when a fit is planned: `import vifit` stays light

    config = {"k": options["k"], "whiten": options["whiten"]}
    return Plan(config=config, fit=partial(_fit, k=options["k"], whiten=options["whiten"]),
                threads="gemm")


def _fit(table, *, seed, reporter, policy=None, k: int, whiten: bool):
    """Exact PCA: no iteration, so no loop policy applies."""
    from vifit.api import pca_fit

    return pca_fit.fit(table, seed=seed, reporter=reporter, k=k, whiten=whiten)


class PCA(Transformer):
    """Principal components (``vifit pca``'s options). Fitted: components_ (k, D),
    explained_variance_ (k,), explained_variance_ratio_ (k,), singular_values_ (k,), mean_ (D,),
    noise_variance_ (the PPCA sigma^2), elbo_ (the PPCA log-likelihood, None when it is not
    defined), n_features_in_, feature_names_in_, document_. Values are in the fit's units (after
    ``standardize``); transform and inverse_transform take and give the data's units."""

    _model = "pca"

    def __init__(self, k=2, whiten=False, standardize=False, dropna=False, dtype=None, seed=None,
                 progress="none", threads=None):
        self._store(locals())

    def _options(self) -> dict:
        from vifit import parameters

        parameters.check("pca", {"k": self.k, "whiten": self.whiten})
        return {"k": int(self.k), "whiten": bool(self.whiten)}

    def _plan(self, options: dict, source: str | None):
        return plan(options)

    @classmethod
    def _params_of(cls, document: dict) -> dict:
        params = super()._params_of(document)
        params.pop("dtype", None)
        return params

    def _after_fit(self, result) -> None:
        import numpy as np

        super()._after_fit(result)
        summary = self.document_["params"]["summary"]
        for name in ("components", "explained_variance", "explained_variance_ratio", "singular_values", "mean"):
            setattr(self, name + "_", np.asarray(summary[name], dtype=np.float64))
        self.noise_variance_ = float(summary["noise_variance"])
        self.n_components_ = int(self.components_.shape[0])

    def transform(self, X):
        """Coordinates (n, k) of the rows (whitened when ``whiten``)."""
        names, rows = self._predict_rows(X)
        k = names.index("loglik")
        return like_input(X, rows[:, :k], names[:k])

    def inverse_transform(self, Z):
        """Rows (n, D) in the data's units from coordinates Z (n, k)."""
        import numpy as np

        from vifit.preprocess import undo_preprocessing

        self._check_fitted()
        Z = np.asarray(Z, dtype=np.float64)
        if self.whiten:
            Z = Z * np.sqrt(self.explained_variance_)
        return undo_preprocessing(self.mean_ + Z @ self.components_,
                                  self.document_["data"].get("preprocessing", {}))

    def score_samples(self, X):
        """PPCA log-likelihood of each row (n,) (NaN when the noise variance is 0)."""
        names, rows = self._predict_rows(X)
        return like_input(X, rows[:, names.index("loglik")], "loglik")

    def sample(self, n_samples: int = 1, seed=None):
        """(n, D) rows drawn from the PPCA model, in the data's units."""
        import numpy as np

        from vifit.documents import pca as model_file

        _, rows = model_file.sample(self._check_fitted(), getattr(self, "path_", "model"), int(n_samples),
                                np.random.default_rng(seed))
        return np.asarray(rows, dtype=np.float64)

    def __sklearn_tags__(self):
        from sklearn.utils import TransformerTags

        tags = super().__sklearn_tags__()
        tags.estimator_type = None
        tags.transformer_tags = TransformerTags()
        return tags
