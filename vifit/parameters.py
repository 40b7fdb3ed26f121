"""Every fitting option of every model, declared once: its kind, default, range or choices, and
when it applies. The commands build their click options from these entries (vifit.options.declared)
and the estimators check their hyperparameters with :func:`check`, so a range, a default or a
method's options are written here only.

An entry's ``when`` is (option, values): the entry applies only while that option has one of the
values (``--batch-size`` with ``--method svi``); giving it otherwise is refused with the words of
``REFUSALS``, never silently ignored. A range with its own ``words`` is checked by :func:`check`
alone (click gets the bare type), for the CLI as for the API; a range without is click's for
the CLI (click's message) and :func:`check`'s for the API.

Checks that need the data or several options together stay with the fit (the prior's
``--dof-prior`` against the columns, ``--loss bce`` with the output activation, a K range
against the rows). Imports nothing but the standard library: ``vifit --help`` reads this.
"""

from __future__ import annotations

import math
import numbers
from collections import namedtuple

from vifit.errors import BadInput

KINDS = ("int", "float", "choice", "choices", "flag", "text", "sizes", "krange")


_FIELDS = ("name", "models", "kind", "default", "low", "high", "low_open", "high_open", "choices", "when", "words",
           "negatable")


class Parameter(namedtuple("Parameter", _FIELDS, defaults=(None, None, None, False, False, (), None, None, False))):
    """One option: name, the models it belongs to, kind, default, low / high (None: no bound)
    with low_open / high_open, choices, when (option, the values it applies with), words, negatable.

    kind: int, float (finite), choice, choices (one of the choices, or several as a comma list:
    gmm's "--covariance full,diag", a grid the fit compares; see :func:`listed`), flag, text,
    sizes (layer sizes as text, parsed by the model),
    krange (an int >= low, or K candidates as text, "2-10" or "2,4,8", parsed by
    api.gmm_select.parse_k; GMM turns a list of ints into that text).
    A None default means None is allowed (the option unset). words: the message of a value out of
    range ({option}, {range}, {value}), else the generic one. negatable: a flag with an --no- form.
    (A namedtuple, not a dataclass: building a dataclass costs milliseconds that --help would pay.)"""

    __slots__ = ()

    @property
    def option(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def bounded(self) -> bool:
        return self.low is not None or self.high is not None


ACTIVATIONS = ("relu", "tanh", "sigmoid", "softplus", "identity")  # vifit.nn.activations' names
COVARIANCES = ("full", "diag", "spherical", "known")
SVI_ONLY = ("method", ("svi",))
NORMAL_WISHART = ("covariance", ("full", "diag", "spherical"))
KNOWN = ("covariance", ("known",))
DASK_ONLY = ("backend", ("dask",))
GMM, MIXTURE, PCA, NETWORKS = ("gmm",), ("mixture",), ("pca",), ("autoencoder", "vae")
POSITIVE = "{option} must be {range}, got {value}"

# the refusal of an option given where it does not apply, by the option it depends on
REFUSALS = {
    "method": "{option} applies to --method {allowed} only; add --method {allowed} or drop {option}",
    "covariance": "{option} does not apply to --covariance {value}",
    "likelihood": "{option} applies to --likelihood {allowed} only",
    "backend": "--scheduler, --scheduler-file and --worker-wait need --backend dask",
}

P = Parameter
TABLE = (
    # gmm, in the order its document's config records them
    P("k", GMM, "krange", 2, low=1),
    P("covariance", GMM, "choices", "full", choices=COVARIANCES),
    P("weights", GMM, "choice", "dirichlet", choices=("uniform", "dirichlet", "dp")),
    P("weight_concentration", GMM, "float", low=0, low_open=True, words=POSITIVE),
    P("mean_prior", GMM, "text"),
    P("mean_precision_prior", GMM, "float", low=0, low_open=True, when=NORMAL_WISHART, words=POSITIVE),
    P("dof_prior", GMM, "float", when=NORMAL_WISHART),  # > D - 1 or > 0: the fit checks it (api.gmm_fit)
    P("covariance_prior", GMM, "text", when=NORMAL_WISHART),
    P("sigma", GMM, "float", low=0, low_open=True, when=KNOWN, words=POSITIVE),
    P("tau", GMM, "float", low=0, low_open=True, when=KNOWN, words=POSITIVE),
    P("init", GMM, "choice", "screened", choices=("screened", "kmeans++", "random", "random-resp")),
    P("moves", GMM, "choice", "split-merge", choices=("split-merge", "none")),
    P("tol", GMM, "float", 1e-6, low=0, words="{option} must be {range}, got {value}"),
    P("max_iter", GMM, "int", low=1),
    P("restarts", GMM, "int", 1, low=1),
    P("chunk_rows", GMM, "int", low=1),
    P("method", GMM + MIXTURE, "choice", "cavi", choices=("cavi", "svi")),
    P("batch_size", GMM + MIXTURE, "int", 1024, low=1, when=SVI_ONLY,
      words="--method svi: {option} must be a {range} number of rows, got {value}"),
    P("forgetting", GMM + MIXTURE, "float", 0.7, low=0.5, high=1, low_open=True, when=SVI_ONLY,
      words="--method svi: {option} (kappa) must be in {range} for the step sizes to converge, got {value:g}"),
    P("delay", GMM + MIXTURE, "float", 1.0, low=0, when=SVI_ONLY,
      words="--method svi: {option} (tau0) must be a {range} number, got {value:g}"),
    P("epochs", GMM + MIXTURE, "int", 100, low=1, when=SVI_ONLY, words="--method svi: {option} must be {range}, got {value}"),
    P("memoized", GMM + MIXTURE, "flag", False, when=SVI_ONLY),
    P("stream", GMM + MIXTURE, "flag", True, when=SVI_ONLY, negatable=True),
    P("backend", GMM + MIXTURE, "choice", "local", choices=("local", "dask")),
    # held-out rows and the selection grid (api.grid): recorded in config only when they apply
    P("validation", GMM + MIXTURE, "float", low=0, high=1, low_open=True, high_open=True,
      words="{option} {value:g}: the held-out fraction must be in {range}, e.g. 0.2"),
    P("folds", GMM + MIXTURE, "int", low=2, words="{option} {value}: give at least 2 folds"),
    P("select", GMM + MIXTURE, "choice", choices=("elbo", "heldout", "icl")),  # None: heldout with a split, else elbo
    P("jobs", GMM + MIXTURE, "int", 1, low=1),
    P("scheduler", GMM + MIXTURE, "text", when=DASK_ONLY),
    P("scheduler_file", GMM + MIXTURE, "text", when=DASK_ONLY),
    P("worker_wait", GMM + MIXTURE, "float", low=0, high=86400, low_open=True, when=DASK_ONLY),
    # mixture (the families' product), in the order its document's config records them
    P("k", MIXTURE, "krange", 2, low=1),
    P("family", MIXTURE, "text"),
    P("weights", MIXTURE, "choice", "dirichlet", choices=("uniform", "dirichlet", "dp")),
    P("weight_concentration", MIXTURE, "float", low=0, low_open=True, words=POSITIVE),
    P("init", MIXTURE, "choice", "kmeans++", choices=("kmeans++", "random", "random-resp")),
    P("tol", MIXTURE, "float", 1e-6, low=0, words="{option} must be {range}, got {value}"),
    P("max_iter", MIXTURE, "int", low=1),  # None: 500 sweeps for cavi, no step limit for svi
    P("restarts", MIXTURE, "int", 1, low=1),
    P("chunk_rows", MIXTURE, "int", low=1),
    # pca
    P("k", PCA, "int", 2, low=1),
    P("whiten", PCA, "flag", False),
    # the networks' architecture
    P("hidden", ("autoencoder",), "sizes", "32,4"),
    P("hidden", ("vae",), "sizes", "64"),
    P("decoder", NETWORKS, "sizes"),
    P("latent", ("vae",), "int", 2, low=1),
    P("activation", NETWORKS, "choice", "relu", choices=ACTIVATIONS),
    P("output_activation", ("autoencoder",), "choice", choices=ACTIVATIONS),
    P("loss", ("autoencoder",), "choice", "mse", choices=("mse", "bce")),
    P("denoise", ("autoencoder",), "float", 0.0, low=0, high=1, high_open=True),
    P("likelihood", ("vae",), "choice", "gaussian", choices=("gaussian", "bernoulli")),
    P("fixed_variance", ("vae",), "float", low=0, low_open=True, when=("likelihood", ("gaussian",))),
    P("samples", ("vae",), "int", 1, low=1),
    P("beta", ("vae",), "float", 1.0, low=0),
    P("kl_warmup", ("vae",), "int", 0, low=0),
    P("iwae_samples", ("vae",), "int", 100, low=1),
    P("scale", ("vae",), "choice", "none", choices=("none", "minmax")),
    # the networks' training: the fields of vifit.inference.sgd.SGDConfig
    P("epochs", NETWORKS, "int", 100, low=1),
    P("batch_size", NETWORKS, "int", 128, low=1),
    P("lr", NETWORKS, "float", 1e-3, low=0, low_open=True),
    P("optimizer", NETWORKS, "choice", "adam", choices=("adam", "sgd")),
    P("momentum", NETWORKS, "float", 0.9, low=0, high=1, high_open=True),
    P("weight_decay", NETWORKS, "float", 0.0, low=0),
    P("validation_fraction", NETWORKS, "float", 0.1, low=0, high=1, high_open=True),
    P("patience", NETWORKS, "int", 30, low=1),
    P("tol", NETWORKS, "float", 1e-4, low=0),
)
del P
TRAINING = ("epochs", "batch_size", "lr", "optimizer", "momentum", "weight_decay", "validation_fraction",
            "patience", "tol")
MODELS = ("gmm", "mixture", "pca", "autoencoder", "vae")


def _by_model() -> dict[str, dict[str, Parameter]]:
    tables: dict[str, dict[str, Parameter]] = {model: {} for model in MODELS}
    for entry in TABLE:
        assert entry.kind in KINDS, entry
        assert entry.kind != "int" or entry.high is None or entry.words, entry  # the int message names low only
        for model in entry.models:
            assert entry.name not in tables[model], (model, entry.name)
            tables[model][entry.name] = entry
    return tables


_TABLES = _by_model()


def of(model: str) -> dict[str, Parameter]:
    """The entries of ``model``'s options, by name, in the table's order."""
    return _TABLES[model]


def describe_range(entry: Parameter) -> str:
    """The range in words: "positive" (> 0, or >= 1 for an integer), "non-negative", or "(0.5, 1]"."""
    if entry.high is None and entry.low is not None:
        if entry.kind == "int" and entry.low in (0, 1):
            return "positive" if entry.low == 1 else "non-negative"
        if entry.kind == "float" and entry.low == 0:
            return "positive" if entry.low_open else "non-negative"
    return _span(entry)


def _span(entry: Parameter) -> str:
    return f"{'(' if entry.low_open else '['}{entry.low}, {entry.high}{')' if entry.high_open else ']'}"


def _differs(value, default) -> bool:
    """Whether a hyperparameter was changed from its default (an array never equals None)."""
    if default is None or value is None:
        return value is not default
    try:
        return bool(value != default)
    except (TypeError, ValueError):  # an array compared element by element
        return True


def _in_range(entry: Parameter, value) -> bool:
    low, high = entry.low, entry.high
    return not ((low is not None and (value < low or (entry.low_open and value == low)))
                or (high is not None and (value > high or (entry.high_open and value == high))))


def check_value(entry: Parameter, value) -> None:
    """BadInput naming the option when ``value`` is not of the entry's kind, range or choices."""
    if value is None and entry.default is None:
        return
    option = entry.option
    if entry.kind == "krange" and isinstance(value, str):
        return  # a K range or list: api.gmm_select.parse_k reads it
    if entry.kind in ("int", "krange"):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise BadInput(f"{option}: {value!r} is not an integer >= {entry.low}")
        if not _in_range(entry, value):
            if entry.words:
                raise BadInput(entry.words.format(option=option, range=describe_range(entry), value=int(value)))
            raise BadInput(f"{option}: {value!r} is not an integer >= {entry.low}")
    elif entry.kind == "float":
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            raise BadInput(f"{option}: {value!r} is not a finite number")
        if not _in_range(entry, value):
            if entry.words:
                raise BadInput(entry.words.format(option=option, range=describe_range(entry), value=float(value)))
            raise BadInput(f"{option}: {value!r} is not in {_span(entry)}")
    elif entry.kind == "choice" and value not in entry.choices:
        raise BadInput(f"{option}: {value!r} is not one of {', '.join(map(repr, entry.choices))}")
    elif entry.kind == "choices":
        values = listed(value)
        if len(values) == 1 and values[0] not in entry.choices:  # one value: the words of a plain choice
            raise BadInput(f"{option}: {value!r} is not one of {', '.join(map(repr, entry.choices))}")
        for one in values:
            if one not in entry.choices:
                raise BadInput(f"{option} {value if isinstance(value, str) else ','.join(values)!r}: {one!r} is not "
                               f"one of {', '.join(map(repr, entry.choices))} (give one, or a comma list)")
        if len(set(values)) < len(values):
            raise BadInput(f"{option} {value!r}: a value is listed twice")


def listed(value) -> list:
    """The values of a "choices" option in the order given: "full, diag" -> ["full", "diag"]
    (a list or tuple is taken as is); a plain value -> [value]."""
    if isinstance(value, (list, tuple)):
        return [str(v).strip() for v in value]
    return [part.strip() for part in str(value).split(",")]


def given_text(entry: Parameter, value) -> str:
    """The option as the command line gives it: --no-stream for a negatable flag turned off."""
    return f"--no-{entry.option[2:]}" if entry.negatable and value is False else entry.option


def applies(entry: Parameter, values: dict, table: dict) -> bool:
    """Whether the entry applies with ``values`` (an option they lack has its default)."""
    if entry.when is None:
        return True
    depends, allowed = entry.when
    value = values.get(depends, table[depends].default)
    if table[depends].kind == "choices":  # a grid of covariances: applies when any of them takes it
        return any(v in allowed for v in listed(value))
    return value in allowed


def check(model: str, values: dict, given: set | None = None) -> None:
    """BadInput (the first problem, one line) unless ``values`` (option name -> value; names the
    table does not hold are left alone) are ``model``'s options as the table declares them.

    given: the names given on the command line (the CLI); None: those whose value is not the
    default (the API). An option given where it does not apply is refused. The options that
    others depend on (``method``, ``covariance``, ``likelihood``) are checked first."""
    table = of(model)
    entries = sorted((table[name] for name in values if name in table), key=lambda entry: entry.when is not None)
    for entry in entries:
        value = values[entry.name]
        if not applies(entry, values, table):
            if entry.name in given if given is not None else _differs(value, entry.default):
                depends, allowed = entry.when
                raise BadInput(REFUSALS[depends].format(option=given_text(entry, value), allowed=" / ".join(allowed),
                                                        value=values.get(depends, table[depends].default)))
            continue
        check_value(entry, value)
