"""What every estimator shares: scikit-learn's parameter contract (without scikit-learn),
rows from an array or a DataFrame as a :class:`vifit.data.Table`, the progress reporter, the
``vifit.fit/1`` document of a fit, ``save`` and the per-row methods that run the model
file's ``predict`` (:mod:`vifit.documents`) on that document.

An estimator's fit is the :class:`vifit.fitplan.Plan` its module's ``plan`` makes from the
options, the same function the command calls: the config recorded in the document, the fit,
how rows are read, so ``model.save`` and ``vifit <model> -o`` write the same bytes.
"""

from __future__ import annotations

import datetime
import inspect
import json
import time
import warnings

from vifit.errors import BadInput

ARRAY_SOURCE = "<array>"  # data.source of a fit to an array or DataFrame: there is no file name
# The read options an array fit records: the CLI's defaults for those that describe a file,
# so a document of the same rows compares equal to the CLI's outside run and data.source.
FILE_READ_OPTIONS = {"columns": None, "header": True, "delimiter": None, "decimal": "."}


class ConvergenceWarning(UserWarning):
    """A fit stopped at its iteration or epoch limit (``"converged": false`` in the document)."""


class VifitWarning(UserWarning):
    """A warning the CLI would print on stderr (e.g. an ELBO that decreased)."""


# ---------------------------------------------------------------- seeds and the run block


# The seed and run block are the command line's, so the API's documents match its bytes.
from vifit import threads  # noqa: E402
from vifit.runinfo import resolve_seed, run_info  # noqa: E402,F401


# ---------------------------------------------------------------- progress


def reporter_for(progress):
    """A Reporter for ``progress``: "none" (silent: warnings become Python warnings), "auto"
    (the CLI's stderr reporter) or a callable receiving every event as a dict."""
    from vifit.progress import FROM_PREVIOUS, Reporter

    if progress == "auto":
        return Reporter("auto")
    if progress != "none" and not callable(progress):
        raise BadInput(f"progress must be 'none', 'auto' or a callable, got {progress!r}")
    callback = progress if callable(progress) else None

    class Events(Reporter):
        def __init__(self):
            super().__init__("none")

        def note(self, message):
            if callback is not None:
                callback({"event": "note", "message": message})

        def warn(self, message):
            if callback is not None:
                callback({"event": "warning", "message": message})
            else:
                warnings.warn(message, VifitWarning, stacklevel=4)

        def start(self, task, total=None, metric="elbo", **shown):
            super().start(task, total, metric, **shown)
            if callback is not None:
                callback({"event": "start", "task": self.label, "total": total, "metric": metric})

        def update(self, step, value, *, change=FROM_PREVIOUS, **extra):
            super().update(step, value, change=change, **extra)
            if callback is not None:
                callback({"event": "update", "task": self.label, "step": step, "value": value, **extra})

        def finish(self, status=None):
            super().finish(status)
            if callback is not None:
                callback({"event": "finish", "task": self.label, "status": status})

    return Events()


# ---------------------------------------------------------------- rows


def _is_dataframe(X) -> bool:
    return type(X).__module__.startswith("pandas") and hasattr(X, "columns")


def like_input(X, values, names):
    """values (n,) or (n, m), per row of X, as X gave its rows: unchanged for an array; for a
    DataFrame, a Series named ``names`` (a str) or a DataFrame of columns ``names``, on X's index,
    so a result lines up with (and joins back to) the rows it came from."""
    if not _is_dataframe(X):
        return values
    import pandas as pd

    if values.ndim == 1:
        return pd.Series(values, index=X.index, name=names)
    return pd.DataFrame(values, index=X.index, columns=list(names))


def rows_of(X, *, dropna: bool = False, columns: list[str] | None = None, name: str | None = None,
            fitted_by: str = "the model", by_name: bool = True, missing: bool = False):
    """(block (n, d) float64, column names, source name, rows dropped) from an array-like or a
    DataFrame, with the CLI's messages for empty, missing and infinite cells.

    columns: the fitted columns (predict): a DataFrame gives them by name (by position when
    ``by_name`` is false: a model fitted to an array), an array in order."""
    import numpy as np

    from vifit.data import check_finite

    frame = _is_dataframe(X)
    name = name or ARRAY_SOURCE
    if frame:
        names = [str(c).strip() for c in X.columns]
        if columns is not None and by_name:
            missing = [c for c in columns if c not in names]
            if missing:
                raise BadInput(f"{name}: lacks the column {missing[0]!r} the model was fitted on")
            X = X[[X.columns[names.index(c)] for c in columns]]
            names = list(columns)
        for column, dtype in zip(names, X.dtypes):
            if dtype.kind not in "biuf":
                raise BadInput(f"{name}: column {column!r} is not numeric ({dtype})")
        X = X.to_numpy(dtype=np.float64, na_value=np.nan)  # pandas' NA, in nullable columns, is missing
        if columns is not None and not by_name:
            names = list(columns)
    if hasattr(X, "toarray") or type(X).__module__.startswith("scipy.sparse"):
        raise BadInput(f"{name}: sparse input is not supported; pass a dense array")
    array = np.asarray(X)
    if array.dtype.kind == "c":
        raise BadInput(f"{name}: Complex data not supported")
    if array.dtype.kind not in "biuf":
        try:
            array = array.astype(np.float64)
        except (TypeError, ValueError):
            raise BadInput(f"{name}: the values are not all numbers") from None
    if array.ndim != 2:
        raise BadInput(f"{name}: expected a 2-D array (rows x columns), got {array.ndim}-D; "
                       f"Reshape your data: X.reshape(-1, 1) for a single column")
    # a C-ordered copy, as the CSV reader gives: sums over rows (the standardization, the moments)
    # then add in the same order, to the bit; and the caller's array is never changed
    block = np.array(array, dtype=np.float64, order="C")
    if not frame:
        names = list(columns) if columns is not None else [f"x{j + 1}" for j in range(block.shape[1])]
    if block.shape[1] == 0:
        raise BadInput(f"{name}: 0 feature(s) (shape={block.shape}) while a minimum of 1 is required.")
    if columns is not None and block.shape[1] != len(columns):
        raise BadInput(f"{name}: X has {block.shape[1]} features, but {fitted_by} is expecting {len(columns)} "
                       f"features as input (the columns it was fitted on)")
    if missing and not dropna:  # NaN cells are the model's to marginalise; infinities are still refused
        check_finite(np.where(np.isnan(block), 0.0, block), names, name, False, False)
        return block, names, name, 0
    block, dropped = check_finite(block, names, name, False, dropna)
    return block, names, name, dropped


# ---------------------------------------------------------------- estimators


class Estimator:
    """Hyperparameters in ``__init__`` (stored unchanged), fitted attributes ending in ``_``."""

    _model = ""  # the document's model
    _missing_cells = False  # whether NaN cells of X are missing at random (modelled), not an error
    _dtype = "float64"  # the CLI's default --dtype for this model

    # -------------------------------------------------------- parameters

    @classmethod
    def _get_param_names(cls) -> list[str]:
        parameters = inspect.signature(cls.__init__).parameters.values()
        return sorted(p.name for p in parameters
                      if p.name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))

    def _store(self, arguments: dict) -> None:
        """``__init__``'s arguments (its ``locals()``) as attributes of the same names, unchanged."""
        for name in self._get_param_names():
            setattr(self, name, arguments[name])

    def get_params(self, deep: bool = True) -> dict:
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self, **params):
        valid = self._get_param_names()
        for key, value in params.items():
            if key not in valid:
                raise ValueError(f"invalid parameter {key!r} for {type(self).__name__}; "
                                 f"valid parameters: {', '.join(valid)}")
            setattr(self, key, value)
        return self

    def __repr__(self) -> str:
        defaults = {p.name: p.default for p in inspect.signature(type(self).__init__).parameters.values()}
        changed = [f"{k}={v!r}" for k, v in self.get_params().items()
                   if not (isinstance(v, type(defaults.get(k))) and v == defaults.get(k))]
        return f"{type(self).__name__}({', '.join(changed)})"

    def __sklearn_tags__(self):
        # scikit-learn calls this (so it is importable then); vifit itself never imports it
        from sklearn.utils import InputTags, Tags, TargetTags

        tags = Tags(estimator_type=None, target_tags=TargetTags(required=False), input_tags=InputTags())
        tags.non_deterministic = self.get_params().get("seed") is None
        return tags

    # -------------------------------------------------------- fitting

    def _options(self) -> dict:
        """The module's plan arguments from the hyperparameters, checked (BadInput)."""
        raise NotImplementedError

    def _plan(self, options: dict, source: str | None):
        """The fitflow.Plan of the options; source: the path X names (None: rows in memory)."""
        raise NotImplementedError

    def _fit_table(self, X, sample_weight=None):
        """Fit to X; sets document_ (the parsed vifit.fit/1 document) and returns the FitResult.

        X: an array-like or DataFrame, or the path (str or os.PathLike; a glob for a Dask fit)
        of a CSV file, read with the command's reader and defaults. sample_weight: (n,)
        non-negative frequency weights of X's rows (models that take them: GMM)."""
        import os

        from vifit.data import DTYPES, ReadOptions, load_table, table_of
        from vifit.fitplan import recorded_config
        from vifit.output import build_document, render_json
        from vifit.units import with_data_units

        source = os.fspath(X) if isinstance(X, (str, os.PathLike)) else None
        plan = self._plan(self._options(), source)  # options are checked before the rows are read, as in the CLI
        started, wall_start = time.perf_counter(), datetime.datetime.now(datetime.timezone.utc)
        reporter = reporter_for(self.progress)
        dtype = self.dtype or plan.default_dtype
        if dtype not in DTYPES:
            raise BadInput(f"--dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
        read = {**FILE_READ_OPTIONS, "dropna": bool(self.dropna), "standardize": bool(self.standardize),
                "dtype": dtype}
        with plan.resources:
            if source is not None:
                opts = ReadOptions(**read)
                rows = (plan.load(source, opts, reporter.note) if plan.load is not None else
                        load_table(source, opts, min_rows=plan.min_rows, note=reporter.note, require_variation=True))
                self._named = True  # a file names its columns
            else:
                block, columns, name, dropped = rows_of(X, dropna=self.dropna, missing=self._missing_cells)
                self._named = _is_dataframe(X)
                rows = table_of(block, columns, name, ReadOptions(**read), rows_dropped=dropped,
                                min_rows=plan.min_rows, note=reporter.note, require_variation=True)
            if sample_weight is not None:
                rows.weights = checked_sample_weight(sample_weight, rows.n_rows, rows.rows_dropped)
            seed = resolve_seed(self.seed)
            with threads.running(threads.plan(plan.threads, getattr(self, "threads", None))):
                result = plan.fit(rows, seed=seed, reporter=reporter)
                run_block = run_info(started, wall_start)
            with_data_units(result, rows, rows.describe())
            reporter.release()
            document = build_document(result, recorded_config(plan, result, read, seed), rows.describe(),
                                      run_block)
        self._text = render_json(document)
        self.document_ = json.loads(self._text)
        self._after_fit(result)
        if not result.converged and result.status != "interrupted":
            warnings.warn(f"{result.model}: did not converge in {result.n_iter} iterations "
                          f"(\"converged\": false)", ConvergenceWarning, stacklevel=3)  # at the caller's fit
        return result

    def _after_fit(self, result) -> None:
        """Set the fitted attributes from document_ (result: the FitResult of a fresh fit, or None)."""
        document = self.document_
        self.n_features_in_ = int(document["data"]["n_features"])
        if self._named:
            import numpy as np

            self.feature_names_in_ = np.asarray(document["data"]["columns"], dtype=object)
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        fit_block = document["fit"]
        self.n_iter_ = int(fit_block["n_iter"])
        self.converged_ = bool(fit_block["converged"])
        self.elbo_ = fit_block.get("elbo")
        self.elbo_trace_ = [tuple(pair) for pair in fit_block.get("trace", [])]

    def fit(self, X, y=None):
        """Fit to X (n, d): a numpy array or a pandas DataFrame (its column names are kept), or the
        path of a CSV file (a glob of files with ``backend="dask"``)."""
        self._fit_table(X)
        return self

    # -------------------------------------------------------- the document

    def _check_fitted(self) -> dict:
        document = getattr(self, "document_", None)
        if document is None:
            from vifit.api.load import NotFittedError

            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit(X) first")
        return document

    def save(self, path: str) -> None:
        """Write the vifit.fit/1 document (what ``vifit <model> -o path`` writes) to ``path``."""
        from vifit.output import render_json, write_text

        document = self._check_fitted()
        text = getattr(self, "_text", None) or render_json(document)
        write_text(text, path)

    def _predict_rows(self, X, reconstruct: bool = False):
        """The model file's predict on X: (column names, rows as a float array (n, len(names))),
        one row per row of X, in order (the per-row methods give them back with
        :func:`like_input`)."""
        import numpy as np

        from vifit.data import Table
        from vifit.documents import model_kind

        document = self._check_fitted()
        columns = list(document["data"]["columns"])
        block, _, name, _ = rows_of(X, columns=columns, fitted_by=type(self).__name__, missing=self._missing_cells,
                                    by_name=getattr(self, "_named", True))
        table = Table(values=block, columns=columns, source=name)
        names, rows = model_kind(document["model"]).predict(document, getattr(self, "path_", "model"), table, reconstruct=reconstruct)
        return names, np.asarray(rows, dtype=np.float64).reshape(block.shape[0], -1)

    def score(self, X, y=None) -> float:
        """Mean of score_samples(X): log density (or ELBO) per row."""
        return float(self.score_samples(X).mean())

    @classmethod
    def _from_document(cls, document: dict, path: str):
        """An estimator fitted as the document says (its config's options as parameters)."""
        estimator = cls(**cls._params_of(document))
        estimator.document_ = document
        estimator.path_ = path
        estimator._named = True  # a model file names its columns
        estimator._after_fit(None)
        return estimator

    @classmethod
    def _params_of(cls, document: dict) -> dict:
        config = document.get("config") or {}
        names = cls._get_param_names()
        return {name: config[name] for name in names if name in config}


class Transformer(Estimator):
    """An estimator with ``transform``: adds ``fit_transform``."""

    def fit_transform(self, X, y=None):
        return self.fit(X).transform(X)


def checked_sample_weight(sample_weight, n_rows: int, rows_dropped: int = 0):
    """sample_weight as a float64 (n,) array of finite non-negative weights, not all 0 (BadInput)."""
    import numpy as np

    try:
        weights = np.asarray(sample_weight, dtype=np.float64)
    except (TypeError, ValueError):
        raise BadInput("sample_weight must be numbers, one per row") from None
    if rows_dropped:
        raise BadInput("sample_weight cannot follow rows that dropna removed; drop them from X and "
                       "sample_weight first")
    if weights.shape != (n_rows,):
        raise BadInput(f"sample_weight must hold one weight per row: {n_rows}, got shape {weights.shape}")
    bad = np.flatnonzero(~(np.isfinite(weights) & (weights >= 0)))
    if bad.size:
        raise BadInput(f"sample_weight[{int(bad[0])}] is {weights[bad[0]]!r}: weights must be finite and >= 0")
    if not weights.sum() > 0:
        raise BadInput("sample_weight is zero for every row: there is nothing to fit")
    return weights
