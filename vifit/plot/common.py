"""Pieces every figure shares: plain-text labels, the headline title, training curves with
integer ticks, point styles scaled to N, and the legends of coloured points (a column's
levels or a colour bar; mixture components with their weights).
"""

from __future__ import annotations

import math

import numpy as np

from vifit.errors import BadInput

# Legends of points sit right of their axes: outside the data, whatever it looks like (and
# loc="best" scans every point, which is slow for 200,000 of them).
OUTSIDE = {"loc": "upper left", "bbox_to_anchor": (1.02, 1.0), "borderaxespad": 0.0, "fontsize": "small"}
# A column with more distinct numbers than this is drawn as a colour bar; fewer (e.g. labels coded
# 0, 1, 2) as categories, one legend entry each.
MAX_LEVELS = 10


def labels(ax, xlabel=None, ylabel=None, title=None):
    """Axis labels and title drawn as plain text: a column name such as '$x$' or '$\\frac{a$'
    is the user's text, not mathtext to typeset (which fails or recurses on it)."""
    for setter, text in ((ax.set_xlabel, xlabel), (ax.set_ylabel, ylabel), (ax.set_title, title)):
        if text is not None:
            setter(str(text), parse_math=False, usetex=False)


def headline(document: dict) -> str:
    """'gmm, K = 3, ELBO -2.236 per row': the model, its size and its fit in one line."""
    model, fit, config = document["model"], document.get("fit", {}), document.get("config", {})
    if model == "gmm":
        size = f"K = {len(document['params']['summary']['weights'])}"
    elif model == "mixture":
        size = f"K = {len(document['params']['expected_weights'])}"
    elif model == "pca":
        size = f"K = {len(document['params']['summary']['explained_variance_ratio'])}"
    elif model == "vae":
        size = f"latent = {config.get('latent')}"
    else:
        size = f"code = {(config.get('hidden') or ['?'])[-1]}"
    if fit.get("elbo_per_row") is not None:
        score = f"ELBO {fit['elbo_per_row']:.4g} per row"
    elif fit.get("loss") is not None:
        score = f"{fit.get('loss_name', '')} loss {fit['loss']:.4g}".replace("  ", " ")
    else:
        score = ""
    return ", ".join(part for part in (model, size, score) if part)


def suptitle(figure, document: dict) -> None:
    figure.suptitle(headline(document), parse_math=False)


def plain_numbers(ax, axis: str = "y") -> None:
    """Tick labels as the numbers themselves: no '+1.02e6' offset or '1e6' factor to add in one's head."""
    ax.ticklabel_format(axis=axis, useOffset=False, style="plain")


def trace(ax, document: dict, title: str) -> None:
    """fit.trace (and fit.validation_trace) against the iteration or epoch, whole-number ticks."""
    from matplotlib.ticker import MaxNLocator

    fit = document["fit"]
    steps = np.asarray(fit.get("trace", np.empty((0, 2))), dtype=float)  # validated: (n, 2)
    if steps.size:
        ax.plot(steps[:, 0], steps[:, 1], marker=".", label="training")
    extra = np.asarray(fit.get("validation_trace", np.empty((0, 2))), dtype=float)
    if extra.size:
        ax.plot(extra[:, 0], extra[:, 1], marker=".", label="validation")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    plain_numbers(ax)
    values = np.concatenate([steps[:, 1] if steps.size else [], extra[:, 1] if extra.size else []])
    if values.size:
        # without an offset, a converged trace whose values differ in the 10th digit would get
        # 13-digit tick labels: show at least 1e-4 of its magnitude (-325.605, not -325.6047752361)
        low, high = float(values.min()), float(values.max())
        floor = 1e-4 * max(abs(low), abs(high), 1.0)
        if high - low < floor:
            middle = 0.5 * (low + high)
            ax.set_ylim(middle - floor / 2, middle + floor / 2)
    mixture = document["model"] in ("gmm", "mixture")
    units = "ELBO (nats)" if mixture else fit.get("trace_units") or f"{fit.get('loss_name', 'training')} loss"
    labels(ax, xlabel="iteration" if mixture else "epoch", ylabel=units, title=title)
    if ax.get_legend_handles_labels()[0]:
        ax.legend()


def point_style(n: int) -> dict:
    """scatter() keywords for n points. Up to 1,000 points every point is seen (size 12, alpha
    0.8). Beyond, size and alpha both fall as (1000 / n)^0.5, floored at 1 pt² and 0.04: the
    ink per point shrinks as the points multiply, so 200,000 points overlap into shades that read
    as density instead of a solid blot. Above 5,000 points the markers are rasterised: a vector
    file with 200,000 circles is tens of MB and slow to open."""
    ratio = min(1.0, 1000.0 / max(n, 1))
    return {"s": max(12.0 * math.sqrt(ratio), 1.0), "alpha": max(0.8 * math.sqrt(ratio), 0.04), "linewidths": 0,
            "rasterized": n > 5000}


def _proxies(ax, colours, names, alpha=1.0):
    """Legend handles: one round marker per entry (the points themselves may be 1 pt and faint)."""
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], linestyle="none", marker="o", markersize=7, color=c, alpha=alpha) for c in colours]
    legend = ax.legend(handles, [str(n) for n in names], **OUTSIDE)
    for text in legend.get_texts():
        text.set_parse_math(False)  # a level is the user's text
    return legend


def colour_column(table, color_by):
    """The --color-by column's values as (kind, values, levels): ('numeric', floats (n,), None)
    when every value is a number and there are more than MAX_LEVELS of them, else ('categorical',
    codes (n,), level names); None without --color-by."""
    if color_by is None or table is None:
        return None
    raw = table.extra.get("color_by")
    if raw is None:
        raise BadInput(f"--color-by {color_by}: column not found in the data")
    text = np.asarray(raw, dtype=str)
    try:
        numbers = text.astype(float)
    except ValueError:
        numbers = None
    if numbers is not None and np.isfinite(numbers).all() and np.unique(numbers).size > MAX_LEVELS:
        return "numeric", numbers, None
    levels, codes = np.unique(text, return_inverse=True)
    if numbers is not None and np.isfinite(numbers).all():  # coded labels in numeric order: 2 before 10
        order = np.argsort(levels.astype(float), kind="stable")
        levels, codes = levels[order], np.argsort(order)[codes]
    return "categorical", codes, list(levels)


def category_colours(plt, count: int) -> list:
    """One colour per level or component: tab10, tab20 beyond 10, cycled beyond 20."""
    cmap = plt.get_cmap("tab10" if count <= 10 else "tab20")
    return [cmap(j % cmap.N) for j in range(count)]


def coloured_points(plt, ax, x, y, colours_by=None, name=None):
    """A scatter of x, y (n,) styled for n; coloured by colour_column's answer with its legend
    (categorical) or colour bar labelled name (numeric)."""
    style = point_style(x.size)
    if colours_by is None:
        return ax.scatter(x, y, **style)
    kind, values, levels = colours_by
    if kind == "numeric":
        points = ax.scatter(x, y, c=values, cmap="viridis", **style)
        bar = ax.figure.colorbar(points, ax=ax)
        bar.solids.set_alpha(1.0)  # the bar shows the colours, not the points' transparency
        bar.set_label(str(name), parse_math=False)
        return points
    palette = category_colours(plt, len(levels))
    points = ax.scatter(x, y, c=[palette[c] for c in values], **style)
    _proxies(ax, palette, levels).set_title(str(name), prop={"size": "small"})
    ax.get_legend().get_title().set_parse_math(False)
    return points


def component_names(weights) -> list[str]:
    """'component 1 (w = 0.34)', ...: components in the document's order (by weight, descending)."""
    return [f"component {j + 1} (w = {w:.2f})" for j, w in enumerate(weights)]


def component_legend(plt, ax, weights) -> None:
    """One legend entry per component, coloured as its points, named with its weight."""
    _proxies(ax, category_colours(plt, len(weights)), component_names(weights))


def predicted(model_file, document, path, table):
    """The model file's predict, refused when it overflows (a figure of NaN would be no figure)."""
    from vifit.documents.outputs import computed, require_finite

    names, rows = computed(model_file.predict, document, path, table)
    require_finite(document, path, names, rows, "plot")
    return names, rows


def scores_histogram(plt, ax, scores, colours_by=None, name=None):
    """One score per row (n,) as a histogram, for a 1-D projection or latent space: one
    translucent histogram per level of a categorical --color-by on shared bins; against a
    numeric --color-by, a scatter of the score against that column instead."""
    if colours_by is not None and colours_by[0] == "numeric":
        coloured_points(plt, ax, scores, colours_by[1], colours_by, name)
        ax.set_ylabel(str(name), parse_math=False)
        return
    edges = np.histogram_bin_edges(scores, bins="auto")
    bins = edges if edges.size <= 81 else np.linspace(edges[0], edges[-1], 81)  # at most 80 bars
    if colours_by is None:
        ax.hist(scores, bins=bins, color="tab:blue", alpha=0.8)
    else:
        _, codes, levels = colours_by
        palette = category_colours(plt, len(levels))
        for j, level in enumerate(levels):
            ax.hist(scores[codes == j], bins=bins, color=palette[j], alpha=0.5, label=str(level))
        legend = ax.legend(**OUTSIDE)
        legend.set_title(str(name), prop={"size": "small"})
        for text in [legend.get_title(), *legend.get_texts()]:
            text.set_parse_math(False)
    ax.set_ylabel("rows")
