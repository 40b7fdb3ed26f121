"""Hostile model files (tests/hostile_models.py) through predict, sample and plot.

Every variant must be refused: exit 2, exactly one short line on stderr, nothing written.
Every variant runs through each command as a real process: one per case, forked from a
process that imported vifit once (tests/forkrun.py), with its own exit status and stderr
file descriptor. A handful also run as fresh ``python -m vifit`` processes, which must end
exactly as their forked twins did.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import ROOT, invoke, run_subprocess
from forkrun import run_cases
from hostile_models import huge_weights, mutations

MAX_MESSAGE = 400

FITS = {
    "gmm_full_dirichlet": ["gmm", "--k", "2", "--standardize"],
    "gmm_diag_dp": ["gmm", "--k", "2", "--covariance", "diag", "--weights", "dp"],
    "gmm_spherical": ["gmm", "--k", "2", "--covariance", "spherical"],
    "gmm_known_uniform": ["gmm", "--k", "2", "--covariance", "known", "--weights", "uniform"],
    "gmm_svi_full_dp": ["gmm", "--k", "2", "--method", "svi", "--weights", "dp"],
    "pca": ["pca", "--k", "2"],
    "pca_whiten": ["pca", "--k", "2", "--whiten"],
    "autoencoder": ["autoencoder", "--hidden", "3,2", "--epochs", "2"],
    "vae_gaussian": ["vae", "--latent", "2", "--hidden", "3", "--epochs", "2"],
    "vae_bernoulli": ["vae", "--latent", "2", "--hidden", "3", "--epochs", "2", "--likelihood", "bernoulli",
                      "--scale", "minmax"],
}


@pytest.fixture(scope="session")
def fitted(tmp_path_factory):
    """{name: (model path, document)} fitted once on a small table, plus the table's path."""
    folder = tmp_path_factory.mktemp("hostile")
    rng = np.random.default_rng(0)
    x = np.vstack([rng.uniform(0.0, 0.4, (30, 3)), rng.uniform(0.6, 1.0, (30, 3))])
    # values exact in float32, so the networks' float32 fits and predict's float64 reading agree
    x = x.astype(np.float32).astype(np.float64)
    data = folder / "data.csv"
    np.savetxt(data, x, delimiter=",", header="a,b,c", comments="", fmt="%.17g")
    models = {}
    for name, args in FITS.items():
        path = folder / f"{name}.json"
        result = invoke([*args, data, "--seed", "1", "-q", "-o", path])
        assert result.exit_code == 0, result.stderr
        models[name] = (path, json.loads(path.read_text()))
    return folder, data, models


def _commands(model: str, path, data, out):
    """The predict, sample and plot command lines for a model file at ``path``."""
    return {"predict": ["predict", path, data, "-o", out / "p.csv"],
            "sample": ["sample", path, "-n", "5", "--seed", "1", "-o", out / "s.csv"],
            "plot": ["plot", path, data, "-o", out / "f.png"]}


def _refused(code, stderr: str, out, case: str) -> None:
    lines = stderr.splitlines()
    assert code == 2, f"{case}: exit {code}: {stderr[-500:]}"
    assert len(lines) == 1, f"{case}: {len(lines)} stderr lines: {stderr[:1000]}"
    assert len(lines[0]) < MAX_MESSAGE, f"{case}: a {len(lines[0])}-character message: {lines[0][:300]}"
    assert "Traceback" not in stderr and "bug" not in stderr
    assert "RuntimeWarning" not in stderr, f"{case}: {stderr[:500]}"
    assert not any(out.iterdir()), f"{case}: wrote {list(out.iterdir())}"


def _refused_or_finite(code, stdout: str, stderr: str, out, case: str) -> None:
    """Extreme but finite parameters: refused, or a result with every cell a finite number."""
    if code == 2:
        _refused(code, stderr, out, case)
        return
    assert code == 0 and stderr == "", f"{case}: exit {code}: {stderr[-500:]}"
    for path in out.iterdir():
        if path.suffix == ".csv":
            values = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
            assert np.isfinite(values).all(), case


def _cases(fitted):
    _, _, models = fitted
    for name, (_, document) in models.items():
        for case, text in mutations(document):
            yield f"{name}/{case}", text
        weights = huge_weights(document)
        if weights is not None:
            yield f"{name}/weights_1e308", weights


def _check(case: str):
    return _refused_or_finite if case.endswith("weights_1e308") else _refused


def _forked_corpus(fitted, folder):
    """Every variant through predict, sample and plot, each a forked process (tests/forkrun.py):
    {(variant, command): (returncode, stdout, stderr, model path, out folder)}."""
    _, data, _ = fitted
    cases, where = [], {}
    for index, (case, text) in enumerate(_cases(fitted)):
        path = folder / f"{index}.json"
        path.write_bytes(text.encode("utf-8", "surrogateescape"))
        for command, args in _commands("", path, data, folder / f"{index}-out").items():
            out = folder / f"{index}-out" / command
            out.mkdir(parents=True)
            args[args.index("-o") + 1] = out / args[args.index("-o") + 1].name
            cases.append({"id": f"{case} {command}", "argv": [str(a) for a in args]})
            where[(case, command)] = (path, out, f"{case} {command}")
    results = run_cases(cases, cwd=ROOT, jobs=2)
    assert len(results) == len(cases)
    return {key: (*results[name], path, out) for key, (path, out, name) in where.items()}


@pytest.fixture(scope="module")
def forked(fitted, tmp_path_factory):
    return _forked_corpus(fitted, tmp_path_factory.mktemp("forked"))


def test_every_hostile_model_is_refused_by_a_real_process(forked):
    """The whole corpus, every command: exit status and stderr of a real process each."""
    for (case, command), (code, stdout, stderr, _, out) in forked.items():
        check = _check(case)
        extra = (stdout.decode(errors="replace"),) if check is _refused_or_finite else ()
        check(code, *extra, stderr.decode(errors="replace"), out, f"{command} {case}")
    assert len(forked) > 1000  # the corpus really is generated: every field of every kind
    assert set(SUBPROCESS_CASES) <= {case for case, _ in forked}


# cases the issue named, and one of each violation kind (all of them run forked, above)
SUBPROCESS_CASES = [
    "gmm_known_uniform/params.prior.sigma:negative", "gmm_known_uniform/params.prior.sigma:zero",
    "gmm_diag_dp/params.variational.scale_inv:negative", "gmm_full_dirichlet/params.prior.scale_inv:asymmetric",
    "gmm_full_dirichlet/params.variational.scale_inv:asymmetric", "gmm_diag_dp/params.variational.weight_concentration:negative",
    "gmm_full_dirichlet/data.preprocessing.standardize.scale:zero", "gmm_full_dirichlet/params.variational.dof:dof_low",
    "gmm_spherical/params.prior.mean_precision:zero", "gmm_full_dirichlet/params.variational.means:shorter",
    "gmm_full_dirichlet/params.variational.counts:string", "gmm_svi_full_dp/params.frame.scale:zero",
    "pca_whiten/params.summary.whiten:string_no", "pca/params.summary.noise_variance:negative",
    "pca/params.summary.components:ragged", "autoencoder/weights_1e308", "vae_gaussian/weights_1e308",
    "vae_bernoulli/data.preprocessing.minmax.range:zero", "autoencoder/params.architecture.encoder:huge_layer",
    "vae_gaussian/params.architecture.latent:string", "gmm_full_dirichlet/nesting_bomb",
    "gmm_full_dirichlet/huge_int", "pca/data:list", "gmm_full_dirichlet/params:list",
    "gmm_full_dirichlet/data.columns:long_name", "vae_gaussian/params.weights.decoder.logvar:missing",
    "gmm_known_uniform/nan_token", "pca/truncated", "autoencoder/not_object", "gmm_diag_dp/overflow_float",
    "gmm_full_dirichlet/params.summary.weights:unnormalised", "pca/params.summary.explained_variance_ratio:over_one",
]
# fresh interpreters (~0.5 s each): one case per model kind and command, and the file-level ones
FRESH_CASES = [
    ("gmm_full_dirichlet/params.summary.weights:unnormalised", "predict"),
    ("gmm_diag_dp/params.variational.scale_inv:negative", "sample"),
    ("gmm_full_dirichlet/params.prior.scale_inv:asymmetric", "plot"),
    ("pca/params.summary.components:ragged", "plot"), ("autoencoder/weights_1e308", "predict"),
    ("vae_gaussian/weights_1e308", "sample"), ("gmm_full_dirichlet/nesting_bomb", "predict"),
    ("autoencoder/not_object", "sample"),
]


def test_fresh_processes_end_as_their_forked_twins(fitted, forked):
    """A fresh ``python -m vifit`` and the forked child of tests/forkrun.py give the same exit
    status, stderr and stdout for the same case: the harness is a faithful stand-in."""
    for case, command in FRESH_CASES:
        code, stdout, stderr, path, out = forked[(case, command)]
        for leftover in out.iterdir():  # a model weights_1e308 may have been used
            leftover.unlink()
        done = run_subprocess(_commands("", path, fitted[1], out)[command])
        assert (done.returncode, done.stderr) == (code, stderr), f"{command} {case}"
        assert done.stdout == stdout, f"{command} {case}"
        check = _check(case)
        extra = (done.stdout.decode(),) if check is _refused_or_finite else ()
        check(done.returncode, *extra, done.stderr.decode(), out, f"fresh {command} {case}")


def test_a_50_mb_column_name_gives_a_short_message(fitted, tmp_path):
    _, data, models = fitted
    document = json.loads(json.dumps(models["pca"][1]))
    document["data"]["columns"][0] = "x" * 50_000_000
    path = tmp_path / "model.json"
    path.write_text(json.dumps(document))
    out = tmp_path / "out"
    out.mkdir()
    done = run_subprocess(["predict", path, data, "-o", out / "p.csv"])
    _refused(done.returncode, done.stderr.decode(), out, "50 MB column name")
    assert "data.columns[0]" in done.stderr.decode()


def test_the_valid_models_still_work(fitted, tmp_path):
    """The corpus's base documents pass: the schema refuses what is wrong, not what vifit writes."""
    _, data, models = fitted
    for name, (path, _) in models.items():
        result = invoke(["predict", path, data])
        assert result.exit_code == 0, (name, result.stderr)
        if not name.startswith("autoencoder"):
            result = invoke(["sample", path, "-n", "3", "--seed", "1"])
            assert result.exit_code == 0, (name, result.stderr)
        result = invoke(["plot", path, data, "-o", tmp_path / f"{name}.png"])
        assert result.exit_code == 0, (name, result.stderr)
        assert (tmp_path / f"{name}.png").stat().st_size > 0


def test_a_model_file_beyond_the_size_limit_is_refused_unread(fitted, tmp_path):
    """A (sparse) file one byte over the limit: refused from its size, before any of it is read."""
    from vifit.documents.parse import MAX_BYTES

    _, data, _ = fitted
    path = tmp_path / "big.json"
    with open(path, "wb") as stream:
        stream.truncate(MAX_BYTES + 1)
    out = tmp_path / "out"
    out.mkdir()
    for args in (["predict", path, data, "-o", out / "p.csv"], ["sample", path, "-o", out / "s.csv"]):
        done = run_subprocess(args)
        _refused(done.returncode, done.stderr.decode(), out, "over the size limit")
        assert "at most 1.0 GiB" in done.stderr.decode()
