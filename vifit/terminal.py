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
