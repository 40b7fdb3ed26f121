"""End-of-run extras for a person at a terminal: an ELBO sparkline and a summary table.

Shown only when progress is ``rich`` (stderr is a terminal and not ``-q``).
"""

from __future__ import annotations

import math

BARS = "▁▂▃▄▅▆▇█"


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


def summary_rows(result) -> tuple[list[str], list[list[str]]] | None:
    """Per-component rows (weight, mean, spread) for mixtures; explained variance for PCA."""
    summary = result.params.get("summary", {}) if isinstance(result.params, dict) else {}
    if result.model == "gmm" and "weights" in summary and "means" in summary:
        rows = []
        covariances = summary.get("covariances")
        for j, (weight, mean) in enumerate(zip(summary["weights"], summary["means"])):
            spread = ""
            if covariances is not None:
                import numpy as np

                cov = np.asarray(covariances[j], dtype=float)
                diag = np.diag(cov) if cov.ndim == 2 else np.broadcast_to(cov, np.shape(mean))
                spread = _vector(np.sqrt(np.clip(diag, 0, None)))
            rows.append([str(j + 1), f"{float(weight):.4f}", _vector(mean), spread])
        return ["component", "weight", "mean", "spread (sd)"], rows
    if result.model == "pca" and "explained_variance_ratio" in summary:
        return ["component", "explained variance ratio"], [
            [f"pc{j + 1}", f"{float(r):.4f}"] for j, r in enumerate(summary["explained_variance_ratio"])]
    return None


def _vector(values, limit: int = 4) -> str:
    values = [float(v) for v in values]
    text = ", ".join(f"{v:.4g}" for v in values[:limit])
    return text + (", …" if len(values) > limit else "")


def show(stream, result, trace, metric: str = "elbo") -> None:
    """Print the sparkline of ``trace`` [(step, value), ...] and the table to ``stream`` (a terminal)."""
    from rich.console import Console
    from rich.table import Table

    console = Console(file=stream, stderr=True)
    line = sparkline([value for _, value in trace])
    if line and len(trace) > 1:
        console.print(f"{metric} {line} {trace[-1][1]:.6g}", markup=False, highlight=False)
    rows = summary_rows(result)
    if rows:
        header, body = rows
        table = Table(*header)
        for row in body:
            table.add_row(*row)
        console.print(table)


def _figure(value, digits: int = 6) -> str:
    return "-" if value is None else f"{float(value):.{digits}g}"


def show_ranking(stream, document: dict) -> None:
    """A vifit.compare/1 ranking as a table on ``stream`` (stderr): one row per candidate, in
    rank order, the best marked "*", with its fit and scoring time (run.candidate_seconds)."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

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


def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
