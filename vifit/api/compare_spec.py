"""``vifit compare --models SPEC``: the candidates a comparison fits, parsed and expanded.

    SPEC       = GROUP (";" GROUP)*
    GROUP      = KIND (":" | " ") OPTION=VALUES ((":" | " ") OPTION=VALUES)*   or just KIND
    VALUES     = VALUE ("," VALUE)*        a list: one candidate per value
    VALUE      = A-B for integer options   a range: one candidate per integer from A to B

Commas make lists, so a value that is itself a list (layer sizes, a vector prior) writes its
items with "/": ``autoencoder:hidden=32/4,16/2`` is two candidates, hidden "32,4" and "16,2".
Every group expands into the product of its lists, in the order written:

    gmm:k=1-3:covariance=full,diag   ->  gmm:k=1:covariance=full, gmm:k=1:covariance=diag, gmm:k=2:...

Option names are the estimators' hyperparameters (``vifit.GMM(k=, covariance=)``; ``-`` may
stand for ``_``); values are converted to the option's kind (vifit.parameters, else the type of
the estimator's default) and checked by the estimator before any fit. Imports no numpy.
"""

from __future__ import annotations

import importlib
import inspect
import itertools
import re
from dataclasses import dataclass, field

from vifit.errors import BadInput

ESTIMATORS = {"gmm": "vifit.api.gmm:GMM", "mixture": "vifit.api.mixture:Mixture", "pca": "vifit.api.pca:PCA",
              "vae": "vifit.api.vae:VAE", "autoencoder": "vifit.api.autoencoder:Autoencoder"}
# what the comparison sets for every candidate alike (the split's rows, its seed, how the table is
# read) or what does not apply to rows in memory: never a candidate's option
RESERVED = {"seed": "--seed", "progress": "-q / --progress", "dropna": "--dropna", "backend": "--backend",
            "scheduler": "--backend", "scheduler_file": "--backend", "worker_wait": "--backend", "stream": None,
            "threads": "--jobs (each candidate's process gets its share of the cores)"}
TRUE, FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
_RANGE = re.compile(r"(\d+)\s*-\s*(\d+)")


@dataclass(frozen=True)
class Candidate:
    """One model to fit: name ("gmm:k=3:covariance=diag", re-parsable as a SPEC), kind (a key of
    ESTIMATORS) and params (the estimator's keyword arguments, converted)."""

    name: str
    kind: str
    params: dict = field(hash=False)


def estimator_class(kind: str):
    module, attribute = ESTIMATORS[kind].split(":")
    return getattr(importlib.import_module(module), attribute)


def _defaults(kind: str) -> dict:
    """{parameter: default} of the kind's estimator, as its __init__ declares them."""
    signature = inspect.signature(estimator_class(kind).__init__)
    return {p.name: p.default for p in signature.parameters.values() if p.name != "self"}


def _kind_of(kind: str, name: str, default) -> str:
    """How to read an option's values: vifit.parameters' kind, else from the default's type."""
    from vifit import parameters

    entry = parameters.of(kind).get(name)
    if entry is not None:
        return entry.kind
    if isinstance(default, bool):
        return "flag"
    if isinstance(default, int):
        return "int"
    if isinstance(default, float):
        return "float"
    return "text"


def _convert(option: str, how: str, text: str, group: str) -> list:
    """The values one VALUE item stands for (a range gives several), converted to ``how``."""
    where = f"--models {group!r}: {option}"
    if how in ("int", "krange"):
        match = _RANGE.fullmatch(text)
        if match:
            low, high = int(match.group(1)), int(match.group(2))
            if high < low:
                raise BadInput(f"{where}: range {text} is empty; write it as {high}-{low}")
            return list(range(low, high + 1))
        if re.fullmatch(r"[+-]?\d+", text):
            return [int(text)]
        raise BadInput(f"{where} takes integers, a list 1,2,4 or a range 1-6, got {text!r}")
    if how == "float":
        try:
            return [float(text)]
        except ValueError:
            raise BadInput(f"{where} takes numbers, got {text!r}") from None
    if how == "flag":
        if text.lower() in TRUE + FALSE:
            return [text.lower() in TRUE]
        raise BadInput(f"{where} takes true or false, got {text!r}")
    if how == "choice":
        return [text]
    return [None if text.lower() == "none" and how == "text" else text.replace("/", ",")]  # sizes, text


def _shown(how: str, value) -> str:
    """A value as SPEC writes it (a candidate's name parses back to the candidate)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    return str(value).replace(",", "/") if how in ("sizes", "text") else str(value)


def _settings(group: str, rest: str) -> list[tuple[str, str]]:
    """[(option, values text)] of a group's OPTION=VALUES items, in order."""
    items = [item for item in re.split(r"[:\s]+", rest) if item]
    out = []
    for item in items:
        if item.count("=") != 1:
            raise BadInput(f"--models {group!r}: {item!r} is not OPTION=VALUES (e.g. k=1-6 or covariance=full,diag)")
        option, values = item.split("=")
        if not _NAME.fullmatch(option) or not values or any(not v.strip() for v in values.split(",")):
            raise BadInput(f"--models {group!r}: {item!r} is not OPTION=VALUES (e.g. k=1-6 or covariance=full,diag)")
        out.append((option.replace("-", "_"), values))
    return out


def parse_group(group: str) -> list[Candidate]:
    """The candidates of one GROUP ("gmm:k=1-6:covariance=full,diag"), in product order."""
    match = re.fullmatch(r"([A-Za-z]+)(?:[:\s](.*))?", group.strip(), flags=re.S)
    if not match:
        raise BadInput(f"--models {group!r}: start each candidate with a model kind ({', '.join(ESTIMATORS)}), "
                       f"e.g. gmm:k=1-6")
    kind = match.group(1).lower()
    if kind not in ESTIMATORS:
        raise BadInput(f"--models {group!r}: unknown model kind {kind!r} (kinds: {', '.join(ESTIMATORS)})")
    defaults = _defaults(kind)
    names, lists = [], []
    for option, values in _settings(group, match.group(2) or ""):
        if option in RESERVED:
            set_by = RESERVED[option]
            why = f"compare sets it for every candidate ({set_by})" if set_by else "it does not apply to compare"
            raise BadInput(f"--models {group!r}: {option} is not a candidate's option: {why}")
        if option not in defaults:
            offered = ", ".join(name for name in defaults if name not in RESERVED)
            raise BadInput(f"--models {group!r}: {kind} has no option {option!r} (options: {offered})")
        if option in names:
            raise BadInput(f"--models {group!r}: {option} is given twice; list its values once: {option}=A,B")
        how = _kind_of(kind, option, defaults[option])
        expanded = [value for text in values.split(",") for value in _convert(option, how, text.strip(), group)]
        names.append(option)
        lists.append([(value, _shown(how, value)) for value in expanded])
    candidates = []
    for combination in itertools.product(*lists):
        params = {name: value for name, (value, _) in zip(names, combination)}
        label = ":".join([kind] + [f"{name}={shown}" for name, (_, shown) in zip(names, combination)])
        candidates.append(Candidate(label, kind, params))
    return candidates


def parse_models(spec: str) -> list[Candidate]:
    """Every candidate of SPEC, groups in order (BadInput, one line: the first problem)."""
    if spec is None or not spec.strip():
        raise BadInput("--models is empty: name the candidates, e.g. --models 'gmm:k=1-6;pca:k=1-4'")
    groups = spec.split(";")
    if any(not group.strip() for group in groups):
        raise BadInput(f"--models {spec!r}: an empty candidate between ';' (separate candidates with one ';')")
    candidates: list[Candidate] = []
    seen = set()
    for group in groups:
        for candidate in parse_group(group.strip()):
            if candidate.name in seen:
                raise BadInput(f"--models {spec!r}: {candidate.name} is listed twice")
            seen.add(candidate.name)
            candidates.append(candidate)
    return candidates


def check_candidates(candidates: list[Candidate], shared: dict) -> None:
    """Each candidate's estimator checks its options (BadInput naming the candidate), before any
    fit. shared: the keyword arguments every candidate gets (standardize, dtype) where it takes them."""
    for candidate in candidates:
        estimator = make_estimator(candidate, shared, seed=0)
        try:
            estimator._plan(estimator._options(), None)
        except BadInput as exc:
            raise BadInput(f"--models {candidate.name!r}: {exc}") from None


def make_estimator(candidate: Candidate, shared: dict, *, seed: int):
    """The candidate's estimator: its params, the shared ones it takes, the seed, silent."""
    cls = estimator_class(candidate.kind)
    accepted = _defaults(candidate.kind)
    extra = {name: value for name, value in shared.items() if name in accepted and name not in candidate.params}
    return cls(**candidate.params, **extra, seed=seed, progress="none")
