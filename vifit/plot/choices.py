"""Figures of a choice among candidates: a comparison's ranking (``vifit.compare/1``) and a
gmm or mixture fit's selection over K (``fit.selection``), drawn from the validated documents
(:mod:`vifit.documents.choices`); nothing is recomputed.
"""

from __future__ import annotations

import numpy as np

from vifit.plot.common import labels as _labels

BEST_COLOUR, OTHER_COLOUR = "tab:orange", "tab:blue"


def draw_comparison(plt, document, path, table, options):
    """One horizontal bar per ranked candidate, best at the top: its held-out log density per
    row, standard-error whiskers, the best bar coloured and named in the legend. Bars start at
    a common base left of the lowest whisker, so a longer bar is a better candidate (a log
    density has no zero to start from). Unranked candidates (no density) are named below."""
    ranked = [c for c in document["candidates"] if c["rank"] is not None]
    unranked = [c["name"] for c in document["candidates"] if c["rank"] is None]
    figure, ax = plt.subplots(figsize=(8, max(2.5, 0.45 * len(ranked) + 1.6)))
    if not ranked:
        ax.set_axis_off()
        _labels(ax, title="no candidate has a held-out density: " + ", ".join(unranked))
        return figure
    values = np.array([c["heldout_log_density_per_row"] for c in ranked], dtype=float)
    errors = np.array([c.get("standard_error") or 0.0 for c in ranked], dtype=float)
    low, high = float((values - errors).min()), float((values + errors).max())
    base = low - 0.1 * max(high - low, 1e-3 * max(abs(low), 1.0))
    positions = np.arange(len(ranked))
    best = document.get("best")
    colours = [BEST_COLOUR if c["name"] == best else OTHER_COLOUR for c in ranked]
    bars = ax.barh(positions, values - base, left=base, color=colours, height=0.6)
    ax.errorbar(values, positions, xerr=errors, fmt="none", ecolor="black", capsize=3,
                label="± 1 standard error")
    if best is not None:
        bars[[c["name"] for c in ranked].index(best)].set_label(f"best: {best}")
    ax.set_yticks(positions)
    ax.set_yticklabels([c["name"] for c in ranked])
    for label in ax.get_yticklabels():
        label.set_parse_math(False)  # a candidate's name is the user's text
    ax.invert_yaxis()  # rank 1 at the top
    ax.set_xlim(base, high + 0.05 * (high - base))
    _labels(ax, xlabel="held-out log density per row (nats, data units; higher is better)",
            title=f"{document['n_heldout']} held-out rows, {document['n_train']} fitted")
    ax.legend(loc="best")
    if unranked:
        figure.text(0.01, 0.01, "not ranked (no density): " + ", ".join(unranked), fontsize=8)
    figure.tight_layout(rect=(0, 0.04 if unranked else 0, 1, 1))
    return figure


def selection_metrics(selection: dict) -> list[tuple[str, str]]:
    """[(candidate field, axis label, title)] that the selection has values for: the ELBO per row, then
    the held-out log density when a split gave one."""
    metrics = []
    for key, label, title in (("elbo_per_row", "ELBO per row (nats)", "choosing K: the training ELBO"),
                              ("heldout_log_density_per_row", "held-out log density per row (nats)",
                               "choosing K: the held-out rows")):
        if any(c.get(key) is not None for c in selection["candidates"]):
            metrics.append((key, label, title))
    return metrics


def draw_selection(axes, selection: dict) -> None:
    """One axes per metric of :func:`selection_metrics`: the metric against K, one line per
    covariance type (held-out whiskers when given), the chosen candidate marked with a star."""
    chosen = selection["chosen"]
    types = list(dict.fromkeys(c["covariance"] for c in selection["candidates"]))
    for ax, (key, label, title) in zip(axes, selection_metrics(selection)):
        for covariance in types:
            points = sorted((c["k"], c[key], c.get("heldout_standard_error") if key.startswith("heldout") else None)
                            for c in selection["candidates"]
                            if c["covariance"] == covariance and c.get(key) is not None)
            if not points:
                continue
            ks = [p[0] for p in points]
            values = [p[1] for p in points]
            name = "candidates" if covariance is None else str(covariance)
            line, = ax.plot(ks, values, marker="o", label=name)
            spread = [p[2] for p in points]
            if any(s is not None for s in spread):
                ax.errorbar(ks, values, yerr=[s or 0.0 for s in spread], fmt="none", ecolor=line.get_color(),
                            capsize=2)
        picked = [c for c in selection["candidates"] if c["k"] == chosen["k"]
                  and c["covariance"] == chosen["covariance"] and c.get(key) is not None]
        if picked:
            shown = f"chosen: K = {chosen['k']}" + (f", {chosen['covariance']}" if len(types) > 1 else "")
            ax.plot([chosen["k"]], [picked[0][key]], linestyle="none", marker="*", markersize=16, color="black",
                    label=shown, zorder=5)
        ax.set_xticks(sorted({c["k"] for c in selection["candidates"]}))
        ax.margins(x=0.08)  # room for the star at the first or last K
        _labels(ax, xlabel="K (components)", ylabel=label, title=title)
        ax.legend()
