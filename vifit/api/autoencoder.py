"""``vifit.Autoencoder``: the classical autoencoder as an estimator, and :func:`plan`, the
option checks and fit that ``vifit autoencoder`` and ``Autoencoder.fit`` both run (its Plan)."""

from __future__ import annotations

from functools import partial

from vifit.api.base import Transformer, like_input
from vifit.api.networks import checked, sizes_text, with_sizes_text
from vifit.errors import BadInput

NOT_CONVERGED_HINT = "raise --epochs (the last epoch's weights were kept)"


def plan(*, hidden: str, decoder: str | None, activation: str, output_activation: str | None, loss: str,
         denoise: float, train: dict):
    """The Plan of an autoencoder fit from options vifit.parameters.check has passed (the command
    and the estimator check them first); the checks of several options together are here (BadInput)."""
    from vifit.fitplan import Plan  # imported when a fit is planned: `import vifit` stays light
    from vifit.inference.sgd import SGDConfig
    from vifit.models import autoencoder as model

    try:
        hidden_sizes = model.parse_sizes(hidden, "--hidden")
        decoder_sizes = None if decoder is None else model.parse_sizes(decoder, "--decoder", allow_empty=True)
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    if output_activation is None:
        output_activation = "sigmoid" if loss == "bce" else "identity"
    if loss == "bce" and output_activation != "sigmoid":
        raise BadInput(f"--loss bce works on sigmoid outputs; drop --output-activation {output_activation} "
                       f"or use --loss mse")
    config = SGDConfig(**train)

    options = {"hidden": hidden_sizes, "decoder": decoder_sizes, "activation": activation,
               "output_activation": output_activation, "loss": loss, "denoise": denoise}
    options.update(config.as_config())
    network = {"hidden": hidden_sizes, "decoder": decoder_sizes, "activation": activation,
               "output_activation": output_activation, "loss": loss}
    return Plan(config=options, fit=partial(_fit, network=network, denoise=denoise, config=config),
                default_dtype="float32", not_converged_hint=NOT_CONVERGED_HINT, threads="networks")


def _fit(table, *, seed, reporter, policy=None, network: dict, denoise: float, config):
    """The architecture for the table's columns, then the training (policy None: a library caller's defaults)."""
    from vifit.api import autoencoder_fit
    from vifit.models import autoencoder as model

    arch = model.architecture(table.n_features, network["hidden"], network["decoder"], network["activation"],
                              network["output_activation"], network["loss"])
    return autoencoder_fit.fit(table, seed=seed, reporter=reporter, arch=arch, denoise=denoise, config=config,
                               policy=policy)


class Autoencoder(Transformer):
    """Classical autoencoder (``vifit autoencoder``'s options; float32 by default). Fitted:
    loss_ (the summed reconstruction loss of the rows), loss_trace_, n_iter_ (epochs),
    converged_, n_features_in_, document_."""

    _model = "autoencoder"
    _dtype = "float32"

    def __init__(self, hidden="32,4", decoder=None, activation="relu", output_activation=None, loss="mse",
                 denoise=0.0, epochs=100, batch_size=128, lr=1e-3, optimizer="adam", momentum=0.9,
                 weight_decay=0.0, validation_fraction=0.1, patience=30, tol=1e-4, standardize=False,
                 dropna=False, dtype=None, seed=None, progress="none", threads=None):
        self._store(locals())

    def _options(self) -> dict:
        options, train = checked(self, ("hidden", "decoder", "activation", "output_activation", "loss", "denoise"))
        return {**options, "hidden": sizes_text(self.hidden), "decoder": sizes_text(self.decoder), "train": train}

    def _plan(self, options: dict, source: str | None):
        return plan(**options)

    @classmethod
    def _params_of(cls, document: dict) -> dict:
        return with_sizes_text(super()._params_of(document), "32,4")

    def _after_fit(self, result) -> None:
        super()._after_fit(result)
        self.loss_ = float(self.document_["fit"]["loss"])
        self.loss_trace_ = self.elbo_trace_

    def transform(self, X):
        """Codes (n, k): the bottleneck of each row."""
        names, rows = self._predict_rows(X)
        k = names.index("reconstruction_error")
        return like_input(X, rows[:, :k], names[:k])

    def reconstruct(self, X):
        """The rows (n, D) rebuilt by the network, in the data's units."""
        names, rows = self._predict_rows(X, reconstruct=True)
        return like_input(X, rows, names)

    def inverse_transform(self, codes):
        """Rows (n, D) decoded from codes (n, k), in the data's units."""
        import numpy as np

        from vifit.documents import autoencoder as model_file
        from vifit.nn.activations import apply as apply_activation
        from vifit.preprocess import undo_preprocessing

        document = self._check_fitted()
        net = model_file.load(document, getattr(self, "path_", "model"))
        out = net.decoder.predict(np.asarray(codes, dtype=np.float64))
        out = apply_activation("sigmoid", out) if net.arch.loss == "bce" else out
        return undo_preprocessing(out, document["data"].get("preprocessing", {}))

    def score_samples(self, X):
        """Minus each row's reconstruction loss (n,): larger is better, as scikit-learn's scores."""
        names, rows = self._predict_rows(X)
        return like_input(X, -rows[:, names.index("reconstruction_error")], "score")
