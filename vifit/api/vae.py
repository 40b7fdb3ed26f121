"""``vifit.VAE``: the variational autoencoder as an estimator, and :func:`plan`, the option
checks and fit that ``vifit vae`` and ``VAE.fit`` both run (its Plan)."""

from __future__ import annotations

from functools import partial

from vifit.api.base import Transformer, like_input
from vifit.api.networks import checked, sizes_text, with_sizes_text
from vifit.errors import BadInput

NOT_CONVERGED_HINT = "raise --epochs (the last epoch's weights were kept)"


def plan(*, hidden: str, decoder: str | None, latent: int, activation: str, likelihood: str,
         fixed_variance: float | None, samples: int, beta: float, kl_warmup: int, iwae_samples: int,
         scale: str, standardize: bool, train: dict):
    """The Plan of a VAE fit from options vifit.parameters.check has passed (the command and the
    estimator check them first); the checks of several options together are here (BadInput)."""
    from vifit.fitplan import Plan  # imported when a fit is planned: `import vifit` stays light
    from vifit.inference.sgd import SGDConfig
    from vifit.models.autoencoder import parse_sizes

    try:
        hidden_sizes = parse_sizes(hidden, "--hidden", allow_empty=True)
        decoder_sizes = None if decoder is None else parse_sizes(decoder, "--decoder", allow_empty=True)
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    if scale == "minmax" and standardize:
        raise BadInput("--scale minmax and --standardize do not combine; choose one")
    config = SGDConfig(**train)

    options = {"hidden": hidden_sizes, "decoder": decoder_sizes, "latent": latent, "activation": activation,
               "likelihood": likelihood, "fixed_variance": fixed_variance, "samples": samples, "beta": beta,
               "kl_warmup": kl_warmup, "iwae_samples": iwae_samples, "scale": scale}
    options.update(config.as_config())
    network = {"hidden": hidden_sizes, "decoder": decoder_sizes, "latent": latent, "activation": activation,
               "likelihood": likelihood, "fixed_variance": fixed_variance}
    training = {"samples": samples, "beta": beta, "kl_warmup": kl_warmup, "iwae_samples": iwae_samples,
                "scale": scale, "config": config}
    return Plan(config=options, fit=partial(_fit, network=network, training=training), default_dtype="float32",
                not_converged_hint=NOT_CONVERGED_HINT, threads="networks")


def _fit(table, *, seed, reporter, policy=None, network: dict, training: dict):
    """The architecture for the table's columns, then the training (policy None: a library caller's defaults)."""
    from vifit.api import vae_fit
    from vifit.models import vae as model

    arch = model.architecture(table.n_features, network["hidden"], network["decoder"], network["latent"],
                              network["activation"], network["likelihood"], network["fixed_variance"])
    return vae_fit.fit(table, seed=seed, reporter=reporter, arch=arch, policy=policy, **training)


class VAE(Transformer):
    """Variational autoencoder (``vifit vae``'s options; float32 by default). Fitted: elbo_ (the
    summed ELBO of the rows, nats), elbo_trace_ (per-row training ELBO by epoch), n_iter_
    (epochs), converged_, n_features_in_, document_."""

    _model = "vae"
    _dtype = "float32"

    def __init__(self, hidden="64", decoder=None, latent=2, activation="relu", likelihood="gaussian",
                 fixed_variance=None, samples=1, beta=1.0, kl_warmup=0, iwae_samples=100, scale="none",
                 epochs=100, batch_size=128, lr=1e-3, optimizer="adam", momentum=0.9, weight_decay=0.0,
                 validation_fraction=0.1, patience=30, tol=1e-4, standardize=False, dropna=False, dtype=None,
                 seed=None, progress="none", threads=None):
        self._store(locals())

    def _options(self) -> dict:
        options, train = checked(self, ("hidden", "decoder", "latent", "activation", "likelihood", "fixed_variance",
                                        "samples", "beta", "kl_warmup", "iwae_samples", "scale"))
        return {**options, "hidden": sizes_text(self.hidden), "decoder": sizes_text(self.decoder),
                "standardize": bool(self.standardize), "train": train}

    def _plan(self, options: dict, source: str | None):
        return plan(**options)

    @classmethod
    def _params_of(cls, document: dict) -> dict:
        return with_sizes_text(super()._params_of(document), "64")

    def _predicted(self, X):
        names, rows = self._predict_rows(X)
        k = int(self.document_["params"]["architecture"]["latent"])
        return names, rows, k

    def transform(self, X):
        """Latent means mu(x) (n, latent): the encoder's q(z|x) means."""
        names, rows, k = self._predicted(X)
        return like_input(X, rows[:, :k], names[:k])

    def transform_sd(self, X):
        """Latent standard deviations sigma(x) (n, latent)."""
        names, rows, k = self._predicted(X)
        return like_input(X, rows[:, k:2 * k], names[k:2 * k])

    def score_samples(self, X, iwae: bool = False):
        """Per row (n,), nats: the ELBO, or with ``iwae`` the importance-weighted log p(x) from the
        fit's --iwae-samples draws, seeded by the fit's seed (as ``vifit predict`` writes them)."""
        names, rows, _ = self._predicted(X)
        column = "log_likelihood_iwae" if iwae else "elbo"
        return like_input(X, rows[:, names.index(column)], column)

    def reconstruct(self, X):
        """Likelihood means at z = mu(x), (n, D), in the data's units."""
        names, rows = self._predict_rows(X, reconstruct=True)
        return like_input(X, rows, names)

    def inverse_transform(self, Z):
        """Likelihood means (n, D) decoded from latent points Z (n, latent), in the data's units."""
        import numpy as np

        from vifit.documents import vae as model_file
        from vifit.preprocess import undo_preprocessing

        document = self._check_fitted()
        net = model_file.load(document, getattr(self, "path_", "model"))
        out = net.likelihood.mean(net.decode(np.asarray(Z, dtype=np.float64)))
        return undo_preprocessing(out, document["data"].get("preprocessing", {}))

    def sample(self, n_samples: int = 1, seed=None, mean: bool = False):
        """(n, D) rows decoded from z ~ N(0, I): draws from p(x|z), or the means with ``mean``."""
        import numpy as np

        from vifit.documents import vae as model_file

        _, rows = model_file.sample(self._check_fitted(), getattr(self, "path_", "model"), int(n_samples),
                                    np.random.default_rng(seed), mean=mean)
        return np.asarray(rows, dtype=np.float64)
