"""Scale invariance and extreme finite values: a fit of s * X is s times the fit of X wherever
float64 can hold its statistics, and exit 2 naming the column where it cannot."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import STRICT, run_subprocess
from gmm_helpers import blobs
from vifit.data import Table
from vifit.errors import BadInput
from vifit.models.spread import SPREAD_LIMITS, column_spread
from vifit.progress import Reporter
from vifit.api import gmm_fit as gmm_runner
from vifit.api import pca_fit as pca_runner

X = blobs(120, 2, 3, seed=4)
SPREADS = X.std(axis=0)
LOG10_LOW, LOG10_HIGH = np.log10(SPREAD_LIMITS[0]), np.log10(SPREAD_LIMITS[1])


def _table(x):
    return Table(values=x, columns=["a", "b"], source="scaled.csv")


def _reporter():
    return Reporter("none", quiet=True)


def _representable(exponent: int) -> bool | None:
    """True when every spread of 10^exponent * X is inside the limits, False when one is clearly
    outside, None near a limit (either answer is right there)."""
    logs = np.log10(SPREADS) + exponent
    if (logs > LOG10_LOW + 1).all() and (logs < LOG10_HIGH - 1).all():
        return True
    if (logs < LOG10_LOW - 1).any() or (logs > LOG10_HIGH + 1).any():
        return False
    return None


def _gmm(x, covariance, scale=1.0):
    options = {"sigma": 2.0 * scale, "tau": 5.0 * scale} if covariance == "known" else {}
    return gmm_runner.fit(_table(x), seed=2, reporter=_reporter(), k=3, covariance=covariance, tol=0.0,
                          max_iter=150, policy=STRICT, **options)  # a fixed number of sweeps: rounding alone differs


BASE_GMM = {cov: _gmm(X, cov) for cov in ("full", "diag", "spherical", "known")}
BASE_PCA = pca_runner.fit(_table(X), seed=0, reporter=_reporter(), k=1, whiten=False)


@settings(max_examples=30, deadline=None)
@given(exponent=st.integers(-300, 300), covariance=st.sampled_from(["full", "diag", "spherical", "known"]))
def test_gmm_of_scaled_data_is_the_scaled_fit_or_refused(exponent, covariance):
    s = 10.0**exponent
    expected = _representable(exponent)
    try:
        result = _gmm(X * s, covariance, s)
    except BadInput as error:
        assert expected is not True, f"refused a representable scale 1e{exponent}: {error}"
        assert "column 'a'" in str(error) or "column 'b'" in str(error)
        return
    assert expected is not False, f"fitted an unrepresentable scale 1e{exponent}"
    base = BASE_GMM[covariance]
    summary, ref = result.params["summary"], base.params["summary"]
    np.testing.assert_allclose(summary["weights"], ref["weights"], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(summary["means"] / s, ref["means"], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(summary["covariances"] / s / s, ref["covariances"], rtol=1e-6, atol=1e-6)
    # the density of s X is the density of X divided by s^D per row
    assert np.isfinite(result.elbo)
    assert result.elbo == pytest.approx(base.elbo - X.size * np.log(s), rel=1e-9, abs=1e-6)


@settings(max_examples=30, deadline=None)
@given(exponent=st.integers(-300, 300))
def test_pca_of_scaled_data_is_the_scaled_fit_or_refused(exponent):
    s = 10.0**exponent
    expected = _representable(exponent)
    try:
        result = pca_runner.fit(_table(X * s), seed=0, reporter=_reporter(), k=1, whiten=False)
    except BadInput:
        assert expected is not True, f"refused a representable scale 1e{exponent}"
        return
    assert expected is not False, f"fitted an unrepresentable scale 1e{exponent}"
    summary, ref = result.params["summary"], BASE_PCA.params["summary"]
    np.testing.assert_allclose(summary["components"], ref["components"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(summary["explained_variance"] / s / s, ref["explained_variance"], rtol=1e-9)
    np.testing.assert_allclose(summary["noise_variance"] / s / s, ref["noise_variance"], rtol=1e-9)
    np.testing.assert_allclose(summary["mean"] / s, ref["mean"], rtol=1e-9)
    assert result.elbo == pytest.approx(BASE_PCA.elbo - X.size * np.log(s), rel=1e-9)


def test_spread_of_extreme_columns_is_computed_without_overflow():
    x = np.column_stack([X[:, 0] * 1e306, X[:, 1] * 1e-306, np.full(X.shape[0], 1.7e308)])
    with np.errstate(all="raise"):
        spread = column_spread(x)
    np.testing.assert_allclose(spread.std[:2] / [1e306, 1e-306], X.std(axis=0), rtol=1e-12)
    np.testing.assert_allclose(spread.mean[:2] / [1e306, 1e-306], X.mean(axis=0), rtol=1e-12)
    assert spread.std[2] == 0 and spread.mean[2] == 1.7e308
    wide = column_spread(np.array([[-1.5e308], [1.5e308]]))
    assert wide.std[0] == 1.5e308 and wide.mean[0] == 0.0


def _write(path, x, names=("a", "b")):
    np.savetxt(path, x, delimiter=",", header=",".join(names), comments="", fmt="%.17g")


@pytest.mark.parametrize("command", ["gmm", "pca", "autoencoder", "vae"])
@pytest.mark.parametrize("factor", [1e160, 1e306, 1e-300])
def test_extreme_values_are_fitted_or_refused_naming_the_column(tmp_path, command, factor):
    data, out = tmp_path / "x.csv", tmp_path / "m.json"
    x = X.copy()
    x[:, 1] *= factor
    _write(data, x)
    args = [command, data, "--seed", 1, "-q", "-o", out]
    args += {"gmm": ["--k", 2], "pca": ["--k", 1]}.get(command, ["--epochs", 3])
    proc = run_subprocess(args)
    stderr = proc.stderr.decode()
    assert "Warning" not in stderr and "Traceback" not in stderr, stderr
    if proc.returncode == 2:
        assert len(stderr.strip().splitlines()) == 1 and "column 'b'" in stderr, stderr
        assert not out.exists()
    else:
        assert proc.returncode == 0, stderr
        document = json.loads(out.read_text())
        assert document["model"] == command
    if command in ("gmm", "pca") and factor != 1e-300 or command in ("autoencoder", "vae") and factor > 1e38:
        assert proc.returncode == 2, stderr  # variances (or float32 values) beyond float64/float32


def test_scaled_subprocess_fit_matches_and_standardize_rescues_extreme_scales(tmp_path):
    base, scaled, huge = tmp_path / "b.csv", tmp_path / "s.csv", tmp_path / "h.csv"
    _write(base, X)
    _write(scaled, X * 1e-120)
    _write(huge, X * 1e300)
    fits = []
    for path in (base, scaled):
        proc = run_subprocess(["gmm", path, "--k", 3, "--seed", 2, "-q"])  # the default --tol
        assert proc.returncode == 0, proc.stderr.decode()
        fits.append(json.loads(proc.stdout))
    np.testing.assert_allclose(fits[1]["params"]["summary"]["weights"], fits[0]["params"]["summary"]["weights"],
                               rtol=1e-6)
    assert fits[1]["fit"]["elbo"] == pytest.approx(fits[0]["fit"]["elbo"] + X.size * np.log(1e120), rel=1e-9)
    # the stopping rule is relative to the working frame's ELBO, so it stops at the same sweep
    assert fits[1]["fit"]["n_iter"] == fits[0]["fit"]["n_iter"]
    refused = run_subprocess(["gmm", huge, "--k", 3, "--seed", 2, "-q"])
    assert refused.returncode == 2 and b"--standardize" in refused.stderr and refused.stdout == b""
    rescued = run_subprocess(["gmm", huge, "--k", 3, "--seed", 2, "-q", "--standardize"])
    assert rescued.returncode == 0, rescued.stderr.decode()


def test_predict_notes_rows_whose_cells_are_empty(tmp_path):
    data, model, new = tmp_path / "x.csv", tmp_path / "m.json", tmp_path / "new.csv"
    _write(data, X)
    new.write_text("a,b\n1,2\n1e200,3\n-1e308,1e308\n")
    for command, k in (("gmm", 2), ("pca", 1)):
        assert run_subprocess([command, data, "--k", k, "--seed", 1, "-q", "-o", model]).returncode == 0
        proc = run_subprocess(["predict", model, new])
        stderr = proc.stderr.decode()
        assert proc.returncode == 0 and "Warning" not in stderr, stderr
        lines = proc.stdout.decode().splitlines()
        empty_rows = [i for i, line in enumerate(lines[1:], start=1) if ",," in line or line.endswith(",")]
        if empty_rows:
            assert "rows " + ", ".join(map(str, empty_rows)) in stderr, stderr
        for line in lines[1:]:
            assert "nan" not in line.lower() and "inf" not in line.lower()


def test_streamed_moments_hold_extreme_columns_across_blocks():
    """MomentAccumulator (SVI, Dask) merges blocks whose magnitudes grow from 1e-300 to 1e300."""
    from vifit.models.gmm_moments import MomentAccumulator

    rng = np.random.default_rng(1)
    x = np.column_stack([rng.normal(0, 1, 300) * np.repeat([1e-300, 1e-10, 1e100], 100),
                         rng.normal(1e150, 1e146, 300)])
    whole, merged = MomentAccumulator(2), MomentAccumulator(2)
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow of negligible parts is fine
        for start in range(0, 300, 50):
            whole.add(x[start:start + 50])
            part = MomentAccumulator(2)
            part.add(x[start:start + 50][::-1])
            merged.merge(part)
        expected = column_spread(x)
        for acc in (whole, merged):
            spread = acc.spread()
            np.testing.assert_allclose(spread.std, expected.std, rtol=1e-10)
            np.testing.assert_allclose(spread.mean, expected.mean, rtol=1e-10, atol=1e-300)
            np.testing.assert_allclose(spread.log2_std, expected.log2_std, rtol=1e-12)


@pytest.mark.parametrize("factor, code", [(1e300, 2), (1e-300, 2), (1e-100, 0)])
def test_svi_refuses_or_fits_extreme_scales(tmp_path, factor, code):
    data = tmp_path / "x.csv"
    _write(data, X * factor)
    proc = run_subprocess(["gmm", data, "--k", 2, "--method", "svi", "--seed", 1, "-q", "--epochs", 3])
    stderr = proc.stderr.decode()
    assert proc.returncode == code and "Warning" not in stderr, stderr
    if code == 2:
        assert len(stderr.strip().splitlines()) == 1 and "column 'a'" in stderr
    else:
        assert np.isfinite(json.loads(proc.stdout)["fit"]["elbo"])


@pytest.mark.parametrize("command", ["autoencoder", "vae"])
def test_networks_in_float64_refuse_values_whose_squares_overflow(tmp_path, command):
    data = tmp_path / "x.csv"
    x = X.copy()
    x[:, 1] *= 1e160
    _write(data, x)
    proc = run_subprocess([command, data, "--dtype", "float64", "--seed", 1, "-q", "--epochs", 2])
    stderr = proc.stderr.decode()
    assert proc.returncode == 2 and len(stderr.strip().splitlines()) == 1, stderr
    assert "column 'b'" in stderr and "--standardize" in stderr and proc.stdout == b""


def test_standardize_and_minmax_near_the_float64_limit(tmp_path):
    data, model = tmp_path / "x.csv", tmp_path / "m.json"
    data.write_text("a,b\n-1.5e308,1\n1.5e308,2\n1.5e308,3\n1.4e308,3\n1e308,2.5\n")
    proc = run_subprocess(["gmm", data, "--k", 2, "--standardize", "--seed", 1, "-q", "-o", model])
    assert proc.returncode == 0 and proc.stderr == b"", proc.stderr.decode()
    predicted = run_subprocess(["predict", model, data])
    assert predicted.returncode == 0 and predicted.stderr == b"", predicted.stderr.decode()
    assert ",," not in predicted.stdout.decode()
    refused = run_subprocess(["vae", data, "--scale", "minmax", "--dtype", "float64", "-q", "--epochs", 2])
    stderr = refused.stderr.decode()
    assert refused.returncode == 2 and str(data) in stderr and "column 'a'" in stderr, stderr


@pytest.mark.parametrize("command", [["pca", "--k", "1"], ["gmm", "--k", "2"], ["gmm", "--k", "2", "--covariance", "diag"]])
def test_columns_at_the_float64_limit_are_refused_naming_the_column(tmp_path, command):
    """±1.797e308: the centring itself overflows and a scale rounded to 2**1024 would be
    infinite; the fit must still end in the one-line range error, with no numpy warning."""
    data = tmp_path / "edge.csv"
    data.write_text("a,b\n1.797e308,1\n-1.797e308,2\n1e307,3\n0,4\n")
    proc = run_subprocess([command[0], data, *command[1:], "-q"])
    stderr = proc.stderr.decode()
    assert proc.returncode == 2 and proc.stdout == b"", stderr
    assert len(stderr.splitlines()) == 1 and "column 'a'" in stderr and "Warning" not in stderr, stderr
