"""End-of-run views for a person at a terminal: an ELBO sparkline and a summary table.

Two places show them: stderr at the end of a run whose progress is ``rich`` (stderr is a
terminal and not ``-q``), and stdout itself when it is a terminal and no ``-o`` was given,
where the table replaces a screenful of JSON (:func:`show_result`; a pipe or a file still gets
the JSON, byte for byte).
"""

from __future__ import annotations

import math

import numpy as np

BARS = "▁▂▃▄▅▆▇█"
ELIDED = "…"
CELL_PADDING = 3  # rich's default cell padding and the column rule between cells


def sparkline(values, width: int = 60) -> str:
    """One character per value (the last ``width`` values), scaled between min and max."""
    values = [float(v) for v in values if v is not None and math.isfinite(float(v))][-width:]
    if not values:
        return ""
    low, high = min(values), max(values)
    if high == low:
        return BARS[-1] * len(values)
    top = len(BARS) - 1
    return "".join(BARS[round((v - low) / (high - low) * top)] for v in values)


def units_caption(data: dict | None) -> str:
    """What the table's numbers are in: the data's units, or the working frame of a preprocessing."""
    preprocessing = (data or {}).get("preprocessing") or {}
    if preprocessing.get("standardize"):
        return "standardised units (--standardize: each column centred and divided by its sd)"
    if preprocessing.get("minmax"):
        return "scaled units (--scale minmax: each column mapped onto [0, 1])"
    return "data units"


def _columns_of(data: dict | None, d: int) -> list[str]:
    names = list((data or {}).get("columns") or [])
    return names if len(names) == d else [f"x{j + 1}" for j in range(d)]


def _num(value) -> str:
    value = float(value)
    return f"{value:.4g}" if math.isfinite(value) else "-"


def summary_rows(result, data: dict | None = None) -> tuple[list[str], list[list[str]], str] | None:
    """(header, rows, caption) of the per-component table: weight and each feature's mean ± sd
    for a gmm, weight and predictive means for a mixture, explained variance and loadings for
    PCA; None for the networks (their weights do not fit a table)."""
    params = result.params if isinstance(result.params, dict) else {}
    summary = params.get("summary", {})
    if result.model == "gmm" and "weights" in summary and "means" in summary:
        means = np.asarray(summary["means"], dtype=float)
        k, d = means.shape
        sds = np.full((k, d), np.nan)
        covariances = summary.get("covariances")
        for j in range(k if covariances is not None else 0):
            cov = np.asarray(covariances[j], dtype=float)
            diag = np.diag(cov) if cov.ndim == 2 else np.broadcast_to(cov, (d,))
            sds[j] = np.sqrt(np.clip(diag, 0, None))
        rows = [[str(j + 1), f"{float(w):.4f}"] + [f"{_num(m)} ± {_num(s)}" if s == s else _num(m)
                                                  for m, s in zip(means[j], sds[j])]
                for j, w in enumerate(summary["weights"])]
        return (["component", "weight"] + _columns_of(data, d), rows,
                f"means ± sd per component, in {units_caption(data)}")
    if result.model == "mixture" and result.table:
        header = [str(c) for c in result.table["columns"]]
        rows = [[str(int(row[0])), f"{float(row[1]):.4f}"] + [_num(v) for v in row[2:]]
                for row in result.table["rows"]]
        return header, rows, f"predictive means per component (a category: its most probable level's code), in {units_caption(data)}"
    if result.model == "pca" and "explained_variance_ratio" in summary:
        components = np.asarray(summary.get("components", []), dtype=float)
        names = _columns_of(data, components.shape[1]) if components.ndim == 2 else []
        rows = [[f"pc{j + 1}", f"{float(r):.4f}"] + ([_num(v) for v in components[j]] if names else [])
                for j, r in enumerate(summary["explained_variance_ratio"])]
        return (["component", "explained variance ratio"] + names, rows,
                f"loadings (unit vectors) on the columns, in {units_caption(data)}")
    return None


def fitted_columns(header: list[str], rows: list[list[str]], width: int, fixed: int = 2):
    """(header, rows) with as many feature columns after the first ``fixed`` as fit in
    ``width`` characters, the rest replaced by one "… N more" column."""
    widths = [max([len(header[i])] + [len(r[i]) for r in rows]) + CELL_PADDING for i in range(len(header))]
    used = sum(widths[:fixed]) + 1
    keep = fixed
    while keep < len(header) and used + widths[keep] <= width - (len(ELIDED) + 12 if keep < len(header) - 1 else 0):
        used += widths[keep]
        keep += 1
    if keep == len(header):
        return header, rows
    more = f"{ELIDED} {len(header) - keep} more"
    return header[:keep] + [more], [r[:keep] + [ELIDED] for r in rows]


def title_of(result) -> str:
    """"gmm (cavi), K = 3: ELBO -335.419 (-2.23613 per row), converged at sweep 73"."""
    k = None
    params = result.params if isinstance(result.params, dict) else {}
    if result.model == "gmm":
        k = len(params.get("summary", {}).get("weights", ()))
    elif result.model == "mixture":
        k = params.get("k")
    metric = "ELBO" if result.model in ("gmm", "mixture", "vae") else (
        "log-likelihood" if result.model == "pca" else "loss")
    text = f"{result.model} ({result.method})" + (f", K = {k}" if k else "")
    value = result.elbo
    if value is None and result.trace:
        value = result.trace[-1][1]
    if value is not None and math.isfinite(float(value)):
        per_row = f" ({float(value) / result.n_rows:.6g} per row)" if result.elbo is not None and result.n_rows else ""
        text += f": {metric} {float(value):.6g}{per_row}"
    unit = "epoch" if result.model in ("vae", "autoencoder") else "sweep" if result.method == "cavi" else "step"
    status = (f"converged at {unit} {result.n_iter}" if result.converged else
              f"stopped at {unit} {result.n_iter} ({result.status})")
    return f"{text}, {status}"


def _table(result, data: dict | None, width: int):
    from rich.table import Table

    rows = summary_rows(result, data)
    if not rows:
        return None
    header, body, caption = rows
    header, body = fitted_columns(header, body, width)
    table = Table(*header, title=title_of(result), caption=caption, title_justify="left", caption_justify="left")
    for row in body:
        table.add_row(*row)
    return table


def show(stream, result, trace, metric: str = "elbo", data: dict | None = None) -> None:
    """Print the sparkline of ``trace`` [(step, value), ...] and the table to ``stream`` (a terminal)."""
    from rich.console import Console

    console = Console(file=stream, stderr=True)
    line = sparkline([value for _, value in trace])
    if line and len(trace) > 1:
        console.print(f"{metric} {line} {trace[-1][1]:.6g}", markup=False, highlight=False)
    table = _table(result, data, console.width)
    if table is not None:
        console.print(table)


def show_result(stream, result, data: dict | None, command: str) -> None:
    """The fit as a person reads it, on a terminal stdout instead of its JSON: the title, the
    table (or the title alone for the networks) and one line saying how to get the JSON."""
    from rich.console import Console

    console = Console(file=stream)
    table = _table(result, data, console.width)
    if table is not None:
        console.print(table)
    else:
        console.print(title_of(result), markup=False, highlight=False)
    console.print(f"shown, not saved: {command} ... -o model.json writes the JSON document, as a pipe "
                  f"({command} ... | jq .) gets it", markup=False, highlight=False, style="dim")


def _figure(value, digits: int = 6) -> str:
    return "-" if value is None else f"{float(value):.{digits}g}"


def show_ranking(stream, document: dict) -> None:
    """A vifit.compare/1 ranking as a table on ``stream`` (stderr): one row per candidate, in
    rank order, the best marked "*", with its fit and scoring time (run.candidate_seconds)."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from vifit.console import _is_terminal

    # a log or a pipe has no width: the table takes what it needs rather than folding the names
    console = Console(file=stream, stderr=True, width=None if _is_terminal(stream) else 240)
    table = Table("rank", "candidate", "held-out", "± s.e.", "vs best", "± s.e.", "train ELBO", "converged",
                  "seconds",
                  title=f"log density per row, nats: {document['n_heldout']} held-out rows, {document['n_train']} "
                        f"fitted", title_justify="left")
    notes, seconds = [], document["run"].get("candidate_seconds", {})
    for entry in document["candidates"]:
        best = entry["name"] == document.get("best")
        cells = ("-" if entry["rank"] is None else str(entry["rank"]), entry["name"] + (" *" if best else ""),
                 _figure(entry["heldout_log_density_per_row"]), _figure(entry["standard_error"], 3),
                 _figure(entry.get("difference_to_best"), 3), _figure(entry.get("difference_standard_error"), 3),
                 _figure(entry["train_elbo_per_row"]), "yes" if entry["converged"] else "no",
                 f"{seconds.get(entry['name'], 0.0):.2f}")
        table.add_row(*(Text(cell) for cell in cells))  # a name is the user's text, not rich markup
        if entry.get("heldout_reconstruction_error") is not None:
            notes.append(f"{entry['name']}: no density, not ranked; held-out reconstruction error "
                         f"{_figure(entry['heldout_reconstruction_error'])} per row")
    console.print(table)
    for note in notes:
        console.print(Text(note))
