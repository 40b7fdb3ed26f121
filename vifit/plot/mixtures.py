"""Figures of mixtures (gmm, mixture): the ELBO trace, the selection over K when there is one,
and with DATA the rows by component: in 2-D with 2σ ellipses, or for one column a histogram
with the fitted density and each component's weighted density (the posterior predictive's,
from :mod:`vifit.documents`; nothing is re-derived here).
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from vifit.errors import BadInput
from vifit.output import array_of, field_of
from vifit.plot.common import (OUTSIDE, category_colours, component_legend, component_names, labels,
                               point_style, predicted, suptitle, trace)


def _ellipse(ax, mean, covariance, colour):
    from matplotlib.patches import Ellipse

    values, vectors = np.linalg.eigh(covariance)
    values = np.clip(values, 0.0, None)
    angle = np.degrees(np.arctan2(vectors[1, 1], vectors[0, 1]))
    width, height = 2 * 2 * np.sqrt(values[1]), 2 * 2 * np.sqrt(values[0])  # 2 sigma along each axis
    ax.add_patch(Ellipse(mean, width, height, angle=angle, fill=False, color=colour, linewidth=1.5))


def _selection_panels(document, path):
    """(the validated fit.selection or None, how many panels it draws: one per metric)."""
    from vifit.documents.choices import selection_of
    from vifit.plot.choices import selection_metrics

    selection = selection_of(document, path)
    return selection, len(selection_metrics(selection)) if selection is not None else 0


def _draw_selection(axes, selection, first: int, count: int) -> None:
    if count:
        from vifit.plot.choices import draw_selection

        draw_selection([axes[0, first + i] for i in range(count)], selection)


def _dims(dims, columns):
    if dims is None:
        return None
    names = [d.strip() for d in dims.split(",")]
    if len(names) != 2:
        raise BadInput(f"--dims {dims}: give exactly two column names or 1-based indices")
    picked = []
    for name in names:
        if name in columns:
            picked.append(columns.index(name))
        elif name.isdigit() and 1 <= int(name) <= len(columns):
            picked.append(int(name) - 1)
        else:
            raise BadInput(f"--dims: no column {name!r} in the model (columns: {', '.join(columns)})")
    return picked


def density_panel(plt, ax, x, grid, log_weighted, weights, column):
    """A histogram of one column's rows x (n,), the mixture density and each component's
    weighted density at grid (g,): log_weighted (g, k) = log(w_k p_k(grid)). k + 1 lines."""
    # numpy's 'auto' rule, but at least 30 bars once there are 300 rows (it gives 20 for 600 rows of
    # three modes: too coarse to hold against a density) and at most 100
    count = int(np.clip(np.histogram_bin_edges(x, bins="auto").size - 1, min(30, x.size // 10), 100))
    bins = np.linspace(x.min(), x.max(), count + 1) if x.max() > x.min() else count
    ax.hist(x, bins=bins, density=True, color="0.82", label=f"data ({x.size} rows)")
    ax.plot(grid, np.exp(logsumexp(log_weighted, axis=1)), color="black", linewidth=2, label="mixture density")
    for j, (name, colour) in enumerate(zip(component_names(weights), category_colours(plt, len(weights)))):
        ax.plot(grid, np.exp(log_weighted[:, j]), color=colour, linestyle="--", linewidth=1.5, label=name)
    ax.set_ylim(bottom=0)
    labels(ax, column, "density", "data, fitted density and components")
    legend = ax.legend(**OUTSIDE)
    for text in legend.get_texts():
        text.set_parse_math(False)


def _grid(x: np.ndarray, points: int = 400) -> np.ndarray:
    """(points,) over the rows' range and 5% beyond each end, where the tails show."""
    low, high = float(x.min()), float(x.max())
    pad = 0.05 * (high - low) if high > low else max(abs(low), 1.0) * 0.05
    return np.linspace(low - pad, high + pad, points)


def draw_gmm(plt, document, path, table, options):
    """The ELBO trace; with a K range, the selection against K (fit.selection); with DATA, the
    rows by cluster with 2σ ellipses, or for a 1-column model the density panel."""
    from vifit.documents import gmm as model_file
    from vifit.preprocess import apply_preprocessing

    selection, chosen_panels = _selection_panels(document, path)
    panels = 1 + chosen_panels + (table is not None)
    figure, axes = plt.subplots(1, panels, figsize=(5 * panels, 4), squeeze=False)
    trace(axes[0, 0], document, "ELBO")
    _draw_selection(axes, selection, 1, chosen_panels)
    suptitle(figure, document)
    if table is None:
        figure.tight_layout()
        return figure
    columns = list(field_of(document, path, "data", "columns"))
    weights = array_of(document, path, "params", "summary", "weights", ndim=1)
    ax = axes[0, panels - 1]
    if len(columns) == 1:
        if options.get("dims") is not None:
            raise BadInput(f"--dims {options['dims']}: {path} has one column, drawn as a histogram with its density")
        return _one_column(plt, figure, ax, table, model_file, document, path, weights, columns[0])
    means = array_of(document, path, "params", "summary", "means", ndim=2)
    covariances = np.asarray(field_of(document, path, "params", "summary", "covariances"), dtype=float)
    if covariances.ndim == 2:  # diagonal or spherical summaries: one row per component
        covariances = np.stack([np.diag(np.broadcast_to(c, (means.shape[1],))) for c in covariances])
    names, rows = predicted(model_file, document, path, table)
    cluster = np.asarray(rows, dtype=float)[:, names.index("label")].astype(int) - 1  # 1-based in output
    x = apply_preprocessing(table.values.astype(float), document["data"].get("preprocessing", {}))
    complete = ~np.isnan(x).any(axis=1)  # rows with missing cells have no point in the plane
    x, cluster = x[complete], cluster[complete]
    picked = _dims(options.get("dims"), columns)
    if picked is not None:
        basis = np.zeros((x.shape[1], 2))
        basis[picked[0], 0] = basis[picked[1], 1] = 1.0
        labels_xy = (columns[picked[0]], columns[picked[1]])
    elif x.shape[1] == 2:
        basis, labels_xy = np.eye(2), tuple(columns)
    else:  # the first two principal directions of the data
        _, _, vt = np.linalg.svd(x - x.mean(axis=0), full_matrices=False)
        basis, labels_xy = vt[:2].T, ("principal direction 1", "principal direction 2")
    xy = x @ basis
    palette = category_colours(plt, means.shape[0])
    ax.scatter(xy[:, 0], xy[:, 1], c=[palette[c] for c in cluster], **point_style(xy.shape[0]))
    for j in range(means.shape[0]):
        _ellipse(ax, means[j] @ basis, basis.T @ covariances[j] @ basis, palette[j])
    component_legend(plt, ax, weights)
    labels(ax, labels_xy[0], labels_xy[1], "clusters with 2σ ellipses")
    figure.tight_layout()
    return figure


def _one_column(plt, figure, ax, table, model_file, document: dict, path: str, weights, column: str):
    """The density panel of a one-column model on ax (the histogram of the rows' observed
    values, the mixture's density and its weighted components); the finished figure."""
    x = np.asarray(table.values, dtype=float)[:, 0]
    x = x[np.isfinite(x)]
    grid = _grid(x)
    density_panel(plt, ax, x, grid, model_file.component_log_densities(document, path, grid[:, None]), weights, column)
    figure.tight_layout()
    return figure


def draw_mixture(plt, document, path, table, options):
    """The ELBO trace and each component's weight; with DATA, the rows (missing cells imputed)
    on their first two principal directions (or their two columns), coloured by component; one
    gaussian column: the density panel."""
    from vifit.documents import mixture as model_file

    selection, chosen_panels = _selection_panels(document, path)
    panels = 2 + chosen_panels + (table is not None)
    figure, axes = plt.subplots(1, panels, figsize=(5 * panels, 4), squeeze=False)
    trace(axes[0, 0], document, "ELBO")
    _draw_selection(axes, selection, 1, chosen_panels)
    suptitle(figure, document)
    weights_ax = axes[0, 1 + chosen_panels]
    weights = np.asarray(field_of(document, path, "params", "expected_weights"), dtype=float)
    weights_ax.bar(np.arange(1, weights.size + 1), weights, color=category_colours(plt, weights.size))
    weights_ax.set_xticks(np.arange(1, weights.size + 1))
    labels(weights_ax, "component", "weight", "mixing weights")
    if table is not None:
        columns = list(field_of(document, path, "data", "columns"))
        ax = axes[0, panels - 1]
        families = [f.get("family") for f in document["params"].get("families", [])]
        if len(columns) == 1 and families == ["gaussian"]:
            return _one_column(plt, figure, ax, table, model_file, document, path, weights, columns[0])
        names, rows = predicted(model_file, document, path, table)
        cluster = np.asarray(rows, dtype=float)[:, names.index("component")].astype(int) - 1
        _, filled = model_file.predict(document, path, table, impute=True)
        x = np.asarray(filled, dtype=float)
        x = (x - x.mean(axis=0)) / np.where(x.std(axis=0) > 0, x.std(axis=0), 1.0)
        if x.shape[1] == 2:
            xy, labels_xy = x, tuple(columns)
        elif x.shape[1] == 1:
            xy, labels_xy = np.column_stack([x[:, 0], np.zeros(x.shape[0])]), (columns[0], "")
        else:
            _, _, vt = np.linalg.svd(x - x.mean(axis=0), full_matrices=False)
            xy, labels_xy = x @ vt[:2].T, ("principal direction 1", "principal direction 2")
        palette = category_colours(plt, weights.size)
        ax.scatter(xy[:, 0], xy[:, 1], c=[palette[c] for c in cluster], **point_style(xy.shape[0]))
        component_legend(plt, ax, weights)
        labels(ax, labels_xy[0], labels_xy[1], "rows by component (standardised)")
    figure.tight_layout()
    return figure
