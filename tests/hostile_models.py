"""A corpus of hostile model files: every field vifit reads, mutated to each way it can be wrong.

``mutations(document)`` takes a valid document (parsed JSON) and yields ``(name, text)`` pairs,
each the JSON text of one hostile variant. The domains here are written from the model's
mathematics (what each parameter may be), independently of vifit's schema code, so they test
it rather than echo it. Every variant must be refused by predict, sample and plot: exit 2,
one short line on stderr, nothing written.
"""

from __future__ import annotations

import copy
import json

# field (dotted path, "*" = every member) -> the domain violations that apply beyond the
# generic ones (wrong type, null, missing, wrong shape, a list for an object, a string number)
POSITIVE, NONNEG, PD, DOF, BOOL, NAMES, SIZES, ANY = "positive", "nonneg", "pd", "dof", "bool", "names", "sizes", "any"
ORTHONORMAL = "orthonormal"  # rows of unit length at right angles (principal axes)
COUNT = "count"  # a number of draws: beyond any memory
SIMPLEX = "simplex"  # probabilities: each >= 0, summing to 1 (mixture weights)
SUBSIMPLEX = "subsimplex"  # fractions of one whole: each >= 0, summing to at most 1

FIELDS = {
    "gmm": {
        "params.prior.mean": [ANY],
        "params.prior.weight_concentration": [POSITIVE],
        "params.prior.sigma": [POSITIVE],
        "params.prior.tau": [POSITIVE],
        "params.prior.mean_precision": [POSITIVE],
        "params.prior.dof": [DOF],
        "params.prior.scale_inv": [PD],
        "params.variational.counts": [NONNEG],
        "params.variational.weight_concentration": [POSITIVE],
        "params.variational.means": [ANY],
        "params.variational.mean_precision": [POSITIVE],
        "params.variational.dof": [DOF],
        "params.variational.scale_inv": [PD],
        "params.summary.weights": [SIMPLEX],
        "params.summary.means": [ANY],
        "params.summary.covariances": [PD],
        "params.summary.counts": [NONNEG],
        "params.frame.shift": [ANY],
        "params.frame.scale": [POSITIVE],
    },
    "pca": {
        "params.summary.components": [ORTHONORMAL],
        "params.summary.explained_variance": [NONNEG],
        "params.summary.explained_variance_ratio": [SUBSIMPLEX],
        "params.summary.mean": [ANY],
        "params.summary.noise_variance": [NONNEG],
        "params.summary.whiten": [BOOL],
    },
    "autoencoder": {
        "params.architecture.encoder": [SIZES],
        "params.architecture.decoder": [SIZES],
        "params.weights.*": [ANY],
    },
    "vae": {
        "params.architecture.encoder": [SIZES],
        "params.architecture.latent": [POSITIVE],
        "params.architecture.decoder": [SIZES],
        "params.weights.*": [ANY],
        "config.iwae_samples": [POSITIVE, COUNT],
        "config.seed": [NONNEG],
    },
}
COMMON = {"data.columns": [NAMES], "data.preprocessing.standardize.scale": [POSITIVE],
          "data.preprocessing.standardize.mean": [ANY], "data.preprocessing.minmax.range": [POSITIVE]}


def _get(document, keys):
    for key in keys:
        document = document[key]
    return document


def _paths(document: dict, model: str):
    for dotted in [*FIELDS[model], *COMMON]:
        keys = dotted.split(".")
        if keys[-1] == "*":
            parent = _get_or_none(document, keys[:-1])
            for name in (parent or {}):
                yield keys[:-1] + [name], FIELDS[model][dotted]
        elif _get_or_none(document, keys) is not None:
            yield keys, (FIELDS[model].get(dotted) or COMMON[dotted])


def _get_or_none(document, keys):
    try:
        return _get(document, keys)
    except (KeyError, TypeError):
        return None


def _depth(value) -> int:
    return 1 + _depth(value[0]) if isinstance(value, list) and value else 0


def _scaled(value, factor):
    if isinstance(value, list):
        return [_scaled(v, factor) for v in value]
    return value * factor


def _fill(value, number):
    if isinstance(value, list):
        return [_fill(v, number) for v in value]
    return number


def _violations(value, domains, d: int, matrices: bool):
    """(suffix, replacement) pairs for one field's value; matrices: a PD field holds (d, d) matrices
    (full covariances, summaries) rather than diagonals or scalars."""
    out = [("string", "abc"), ("boolean", True), ("null", None), ("object", {"a": 1})]
    if isinstance(value, bool):
        return [("string_no", "no"), ("number_1", 1), ("null", None), ("list", [True])]
    if isinstance(value, list) and value and isinstance(value[0], str):  # column names
        return out[:3] + [("empty", []), ("number_names", [1] * len(value)), ("duplicate", [value[0]] * len(value)),
                          ("shorter", value[:-1]), ("longer", value + ["extra"]), ("long_name", ["x" * 5000] + value[1:])]
    if isinstance(value, list):
        out += [("shorter", value[:-1]), ("wrapped", [value]), ("scalar", 1.0), ("ragged", value + [[1.0]] if _depth(value) > 1 else value + [[1.0]]),
                ("string_number", _fill(value, "1.0")), ("booleans", _fill(value, True)), ("empty", [])]
    else:
        out += [("list", [value]), ("string_number", str(value))]
    if SIZES in domains:
        out += [("zero", [0] + value[1:]), ("negative", [-1] + value[1:]), ("fraction", [1.5] + value[1:]),
                ("huge_layer", [value[0], 10**9] + value[1:]) if len(value) > 1 else ("one", [value[0]])]
    if POSITIVE in domains:
        out += [("zero", _fill(value, 0.0)), ("negative", _scaled(_fill(value, 1.0), -1.0))]
    if COUNT in domains:
        out += [("huge_count", 10**15), ("fraction", 2.5)]
    if NONNEG in domains:
        out += [("negative", _scaled(_fill(value, 1.0), -1.0))]
    if DOF in domains:
        # a Wishart needs dof > d - 1; the diagonal and spherical Gamma forms dof > 0
        out += [("dof_low", _fill(value, float(d - 1) if matrices else 0.0)), ("negative", _fill(value, -1.0))]
    if SIMPLEX in domains:  # a K-vector of probabilities, K >= 2
        k = len(value)
        out += [("zero", [0.0] * k),
                ("negative_entry", [1.25] + [-0.25] + [0.0] * (k - 2)),  # sums to 1, one entry below 0
                ("unnormalised", [2.0 / k] * k),  # sums to 2
                ("short_of_one", [0.999 / k] * k),  # sums to 0.999
                ("above_one", [1.0 + 1e-4] + [0.0] * (k - 1))]
    if SUBSIMPLEX in domains:  # fractions of the total variance, K >= 2 of them
        k = len(value)
        out += [("negative_entry", [-0.1] + [0.1 / (k - 1)] * (k - 1)),
                ("over_one", [0.75] * k),  # sums to 1.5: more than all of the variance
                ("just_over_one", [1.0001 / k] * k)]
    if ORTHONORMAL in domains:
        out += [("zero", _fill(value, 0.0)), ("stretched", _scaled(value, 2.0))]
    if PD in domains:
        out += [("negative", _scaled(_fill(value, 1.0), -1.0)), ("zero", _fill(value, 0.0))]
        if matrices:
            out.append(("asymmetric", _asymmetric(value)))
    return out


def _asymmetric(value):
    value = copy.deepcopy(value)
    matrix = value if _depth(value) == 2 else value[0]
    matrix[0][1] = matrix[0][1] + 1.0 + abs(matrix[0][0])
    return value


def mutations(document: dict):
    """Yield (name, json_text) for every hostile variant of ``document``."""
    model = document["model"]
    d = len(document["data"]["columns"])
    for keys, domains in _paths(document, model):
        value = _get(document, keys)
        parent_keys, last = keys[:-1], keys[-1]
        full = document["params"].get("prior", {}).get("covariance") == "full"
        # only a full-covariance fit holds D x D matrices; the diagonal kinds' summary.covariances
        # are K x D per-feature variances
        matrices = full
        for suffix, replacement in _violations(value, domains, d, matrices):
            variant = copy.deepcopy(document)
            _get(variant, parent_keys)[last] = replacement
            yield f"{'.'.join(keys)}:{suffix}", json.dumps(variant)
        if keys[0] == "config":
            continue  # config values are optional: predict falls back to the fit's defaults
        variant = copy.deepcopy(document)  # every parameter is required once its block is there
        del _get(variant, parent_keys)[last]
        yield f"{'.'.join(keys)}:missing", json.dumps(variant)
    yield from _whole(document)


def _whole(document: dict):
    """Variants of the document as a whole."""
    for block in ("data", "params"):
        variant = copy.deepcopy(document)
        variant[block] = [1, 2]
        yield f"{block}:list", json.dumps(variant)
    if "weights" in document["params"]:  # a weight this architecture lacks, with a long name
        variant = copy.deepcopy(document)
        variant["params"]["weights"]["w" * 100_000] = [1.0]
        yield "long_member_name", json.dumps(variant)
    variant = copy.deepcopy(document)
    variant["model"] = ["gmm"]
    yield "model:list", json.dumps(variant)
    text = json.dumps(document)
    yield "nesting_bomb", text[:-1] + ', "x": ' + "[" * 200_000 + "]" * 200_000 + "}"
    yield "huge_int", text[:-1] + ', "x": ' + "9" * 5000 + "}"
    yield "nan_token", text.replace('"schema"', '"x": NaN, "schema"', 1)
    yield "overflow_float", text.replace('"schema"', '"x": 1e999, "schema"', 1)
    yield "truncated", text[: len(text) // 2]
    yield "not_object", "[1, 2, 3]"
    yield "not_utf8", "\udcff\udcfe"  # bytes ff fe once written with surrogateescape


def huge_weights(document: dict) -> str | None:
    """Every network weight 1e308: each finite, their products overflow (predict must refuse)."""
    if "weights" not in document["params"]:
        return None
    variant = copy.deepcopy(document)
    variant["params"]["weights"] = {k: _fill(v, 1e308) for k, v in variant["params"]["weights"].items()}
    return json.dumps(variant)
