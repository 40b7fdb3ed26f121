"""Every range and every "applies only with" of vifit.parameters is enforced by the command line
(exit 2, one line on stderr, nothing written) and by the estimators (BadInput), with the same
message where the table gives the words; the bounds themselves are accepted or refused as the
table's open and closed ends say."""

from __future__ import annotations

import numpy as np
import pytest

import vifit
from conftest import SAMPLE, invoke
from vifit import parameters
from vifit.errors import BadInput

ESTIMATORS = {"gmm": vifit.GMM, "mixture": vifit.Mixture, "pca": vifit.PCA, "autoencoder": vifit.Autoencoder,
              "vae": vifit.VAE}
X = np.random.default_rng(0).normal(size=(30, 4))


def _outside(entry):
    """Values just outside the entry's range, one per end it has."""
    step = 1 if entry.kind in ("int", "krange") else 0.25
    values = []
    if entry.low is not None:
        values.append(entry.low if entry.low_open else entry.low - step)
    if entry.high is not None:
        values.append(entry.high if entry.high_open else entry.high + step)
    return [int(v) if entry.kind in ("int", "krange") else float(v) for v in values]


def _where_it_applies(entry) -> dict:
    """The options that make the entry apply (--method svi for the SVI settings, ...)."""
    return {} if entry.when is None else {entry.when[0]: entry.when[1][0]}


def _args(options: dict) -> list:
    return [a for name, value in options.items() for a in ("--" + name.replace("_", "-"), value)]


BOUNDED = [pytest.param(model, entry, value, id=f"{model}-{entry.name}={value}")
           for model in parameters.MODELS for entry in parameters.of(model).values()
           for value in _outside(entry)]


def test_every_bounded_entry_is_covered():
    assert len(BOUNDED) >= 30


@pytest.mark.parametrize("model, entry, value", BOUNDED)
def test_a_value_out_of_range_is_refused_by_the_cli_and_the_api_alike(tmp_path, model, entry, value):
    conditions = _where_it_applies(entry)
    out = tmp_path / "out.json"
    result = invoke([model, SAMPLE / "iris.csv", *_args(conditions), entry.option, value, "-q", "-o", out])
    assert result.exit_code == 2 and result.stdout == "" and not out.exists(), result.stderr
    assert result.stderr.count("\n") == 1 and entry.option in result.stderr, result.stderr
    with pytest.raises(BadInput) as refused:
        ESTIMATORS[model](**{**conditions, entry.name: value}).fit(X)
    message = str(refused.value)
    if entry.words:  # the table's words, the same for both
        assert message == entry.words.format(option=entry.option, range=parameters.describe_range(entry),
                                             value=value)
        assert result.stderr.strip().endswith(message), result.stderr
    else:  # click's message on the command line (gmm's --k text: its parser's), the table's in the API
        # click names a short form too when the option has one (pca's -k / --k)
        named = (f"Invalid value for '{entry.option}'", f"Invalid value for '-{entry.option[2]}' / '{entry.option}'")
        assert entry.kind == "krange" or any(text in result.stderr for text in named), result.stderr
        assert message.startswith(f"{entry.option}: {value!r} is not ")


@pytest.mark.parametrize("model, entry", [pytest.param(model, entry, id=f"{model}-{entry.name}")
                                          for model in parameters.MODELS for entry in parameters.of(model).values()
                                          if entry.bounded])
def test_the_bounds_are_open_or_closed_as_declared(model, entry):
    conditions = _where_it_applies(entry)
    for bound, is_open in ((entry.low, entry.low_open), (entry.high, entry.high_open)):
        if bound is None:
            continue
        values = {**conditions, entry.name: bound}
        if is_open:
            with pytest.raises(BadInput):
                parameters.check(model, values)
        else:
            parameters.check(model, values)


def _another_value(entry):
    """A valid value other than the default."""
    if entry.kind == "flag":
        return not entry.default
    if entry.kind in ("int", "krange"):
        return (entry.default or entry.low or 0) + 1
    if entry.kind == "float":
        low = entry.low or 0
        return float(low + (entry.high - low) / 2 if entry.high is not None else low + 1.5)
    if entry.kind == "choice":
        return next(c for c in entry.choices if c != entry.default)
    return "1"


CONDITIONAL = [pytest.param(model, entry, id=f"{model}-{entry.name}")
               for model in parameters.MODELS for entry in parameters.of(model).values() if entry.when]


def test_every_kind_of_condition_is_covered():
    assert {entry.values[1].when[0] for entry in CONDITIONAL} == set(parameters.REFUSALS)


@pytest.mark.parametrize("model, entry", CONDITIONAL)
def test_an_option_where_it_does_not_apply_is_refused_by_the_cli_and_the_api_alike(tmp_path, model, entry):
    depends, allowed = entry.when
    other = next(c for c in parameters.of(model)[depends].choices if c not in allowed)
    value = _another_value(entry)
    given = parameters.given_text(entry, value)
    out = tmp_path / "out.json"
    flag = [given] if entry.kind == "flag" else [given, value]
    result = invoke([model, SAMPLE / "iris.csv", "--" + depends, other, *flag, "-q", "-o", out])
    assert result.exit_code == 2 and result.stdout == "" and not out.exists(), result.stderr
    with pytest.raises(BadInput) as refused:
        ESTIMATORS[model](**{depends: other, entry.name: value}).fit(X)
    message = str(refused.value)
    assert message == parameters.REFUSALS[depends].format(option=given, allowed=" / ".join(allowed), value=other)
    assert result.stderr.count("\n") == 1 and result.stderr.strip().endswith(message), result.stderr


def test_the_table_words_are_todays_messages():
    """The messages the SVI settings and the prior gave before they were the table's."""
    gmm = parameters.of("gmm")
    cases = [("forgetting", 0.3, "--method svi: --forgetting (kappa) must be in (0.5, 1] for the step sizes to "
                                 "converge, got 0.3"),
             ("delay", -2.0, "--method svi: --delay (tau0) must be a non-negative number, got -2"),
             ("batch_size", 0, "--method svi: --batch-size must be a positive number of rows, got 0"),
             ("epochs", 0, "--method svi: --epochs must be positive, got 0"),
             ("tol", -1.0, "--tol must be non-negative, got -1.0"),
             ("weight_concentration", 0.0, "--weight-concentration must be positive, got 0.0"),
             ("mean_precision_prior", -1.0, "--mean-precision-prior must be positive, got -1.0")]
    for name, value, message in cases:
        with pytest.raises(BadInput, match=f"^{__import__('re').escape(message)}$"):
            parameters.check("gmm", {"method": "svi", "covariance": "full", name: value})
        assert gmm[name].words
