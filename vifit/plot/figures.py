"""One figure per model kind, drawn from a model document (and optionally its data).

Each ``draw_<model>(plt, document, path, table, options) -> Figure`` reads only
the document's fields and its model kind's ``predict`` (:mod:`vifit.documents`); no mathematics is redone here.
"""

from __future__ import annotations

import numpy as np

from vifit.errors import BadInput
from vifit.output import array_of, field_of


def _labels(ax, xlabel=None, ylabel=None, title=None):
    """Axis labels and title drawn as plain text: a column name such as '$x$' or '$\\frac{a$'
    is the user's text, not mathtext to typeset (which fails or recurses on it)."""
    for setter, text in ((ax.set_xlabel, xlabel), (ax.set_ylabel, ylabel), (ax.set_title, title)):
        if text is not None:
            setter(str(text), parse_math=False, usetex=False)


def _predicted(model_file, document, path, table):
    """The model file's predict, refused when it overflows (a figure of NaN would be no figure)."""
    from vifit.documents.outputs import computed, require_finite

    names, rows = computed(model_file.predict, document, path, table)
    require_finite(document, path, names, rows, "plot")
    return names, rows


def _trace(ax, document, title):
    trace = np.asarray(document["fit"].get("trace", np.empty((0, 2))), dtype=float)  # validated: (n, 2)
    if trace.size:
        ax.plot(trace[:, 0], trace[:, 1], marker=".", label="training")
    for key, label in (("validation_trace", "validation"),):
        extra = np.asarray(document["fit"].get(key, np.empty((0, 2))), dtype=float)
        if extra.size:
            ax.plot(extra[:, 0], extra[:, 1], marker=".", label=label)
    _labels(ax, xlabel="iteration" if document["model"] in ("gmm", "mixture") else "epoch", title=title)
    if ax.get_legend_handles_labels()[0]:
        ax.legend()


def _scatter(ax, x, y, colour_codes):
    """Points, coloured by integer codes when given."""
    if colour_codes is None:
        return ax.scatter(x, y, s=8)
    return ax.scatter(x, y, c=colour_codes, s=8, cmap="tab10")


def _colour_values(table, color_by):
    if color_by is None or table is None:
        return None
    labels = table.extra.get("color_by")
    if labels is None:
        raise BadInput(f"--color-by {color_by}: column not found in the data")
    _, codes = np.unique(np.asarray(labels, dtype=str), return_inverse=True)
    return codes


def _dims(table, dims, columns):
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


def draw_pca(plt, document, path, table, options):
    explained = array_of(document, path, "params", "summary", "explained_variance_ratio", ndim=1)
    panels = 2 if table is not None else 1
    figure, axes = plt.subplots(1, panels, figsize=(5 * panels, 4), squeeze=False)
    ax = axes[0, 0]
    positions = np.arange(1, explained.size + 1)
    ax.bar(positions, explained, label="explained variance ratio")
    ax.plot(positions, np.cumsum(explained), color="black", marker="o", label="cumulative")
    ax.set_xticks(positions)
    _labels(ax, xlabel="component", title="scree plot")
    ax.legend()
    if table is not None:
        from vifit.documents import pca as model_file

        names, rows = _predicted(model_file, document, path, table)
        rows = np.asarray(rows, dtype=float)
        if rows.shape[1] < 3:
            raise BadInput(f"{path}: the projection needs at least 2 components (the model has 1)")
        ax = axes[0, 1]
        _scatter(ax, rows[:, 0], rows[:, 1], _colour_values(table, options.get("color_by")))
        _labels(ax, "pc1", "pc2", "projection")
    figure.tight_layout()
    return figure


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


def draw_gmm(plt, document, path, table, options):
    """The ELBO trace; with a K range, the selection against K (fit.selection); with DATA, the
    rows by cluster with 2σ ellipses."""
    selection, chosen_panels = _selection_panels(document, path)
    panels = 1 + chosen_panels + (table is not None)
    figure, axes = plt.subplots(1, panels, figsize=(5 * panels, 4), squeeze=False)
    _trace(axes[0, 0], document, "ELBO")
    _draw_selection(axes, selection, 1, chosen_panels)
    if table is not None:
        from vifit.documents import gmm as model_file

        columns = list(field_of(document, path, "data", "columns"))
        means = array_of(document, path, "params", "summary", "means", ndim=2)
        covariances = np.asarray(field_of(document, path, "params", "summary", "covariances"), dtype=float)
        if covariances.ndim == 2:  # diagonal or spherical summaries: one row per component
            covariances = np.stack([np.diag(np.broadcast_to(c, (means.shape[1],))) for c in covariances])
        names, rows = _predicted(model_file, document, path, table)
        labels = np.asarray(rows, dtype=float)[:, names.index("label")].astype(int) - 1  # 1-based in output
        x = table.values.astype(float)
        from vifit.preprocess import apply_preprocessing

        x = apply_preprocessing(x, document["data"].get("preprocessing", {}))
        complete = ~np.isnan(x).any(axis=1)  # rows with missing cells have no point in the plane
        x, labels = x[complete], labels[complete]
        picked = _dims(table, options.get("dims"), columns)
        if picked is not None:
            basis = np.zeros((x.shape[1], 2))
            basis[picked[0], 0] = basis[picked[1], 1] = 1.0
            labels_xy = (columns[picked[0]], columns[picked[1]])
        elif x.shape[1] == 2:
            basis, labels_xy = np.eye(2), tuple(columns)
        else:  # the first two principal directions of the data
            centred = x - x.mean(axis=0)
            _, _, vt = np.linalg.svd(centred, full_matrices=False)
            basis, labels_xy = vt[:2].T, ("principal direction 1", "principal direction 2")
        if x.shape[1] == 1:
            raise BadInput(f"{path}: a 1-column model has no 2-D view; the ELBO trace is drawn without DATA")
        xy = x @ basis
        ax = axes[0, panels - 1]
        colours = plt.get_cmap("tab10")
        ax.scatter(xy[:, 0], xy[:, 1], c=[colours(l % 10) for l in labels], s=8)
        for j in range(means.shape[0]):
            _ellipse(ax, means[j] @ basis, basis.T @ covariances[j] @ basis, colours(j % 10))
        _labels(ax, labels_xy[0], labels_xy[1], "clusters with 2σ ellipses")
    figure.tight_layout()
    return figure


def draw_mixture(plt, document, path, table, options):
    """The ELBO trace and each component's weight; with DATA, the rows (missing cells imputed)
    on their first two principal directions (or their two columns), coloured by component."""
    from vifit.documents import mixture as model_file

    selection, chosen_panels = _selection_panels(document, path)
    panels = 2 + chosen_panels + (table is not None)
    figure, axes = plt.subplots(1, panels, figsize=(5 * panels, 4), squeeze=False)
    _trace(axes[0, 0], document, "ELBO")
    _draw_selection(axes, selection, 1, chosen_panels)
    weights_ax = axes[0, 1 + chosen_panels]
    weights = np.asarray(field_of(document, path, "params", "expected_weights"), dtype=float)
    weights_ax.bar(np.arange(1, weights.size + 1), weights, color=[plt.get_cmap("tab10")(j % 10)
                                                                   for j in range(weights.size)])
    _labels(weights_ax, "component", "weight", "mixing weights")
    if table is not None:
        columns = list(field_of(document, path, "data", "columns"))
        names, rows = _predicted(model_file, document, path, table)
        labels = np.asarray(rows, dtype=float)[:, names.index("component")].astype(int) - 1
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
        colours = plt.get_cmap("tab10")
        axes[0, panels - 1].scatter(xy[:, 0], xy[:, 1], c=[colours(l % 10) for l in labels], s=8)
        _labels(axes[0, panels - 1], labels_xy[0], labels_xy[1], "rows by component (standardised)")
    figure.tight_layout()
    return figure


def draw_network(plt, document, path, table, options):
    """autoencoder and vae: training/validation curves, latent means, decoded samples."""
    panels = 1 + (table is not None) + bool(options.get("image_shape") and document["model"] == "vae")
    figure, axes = plt.subplots(1, panels, figsize=(5 * panels, 4), squeeze=False)
    _trace(axes[0, 0], document, "training curve")
    panel = 1
    if table is not None:
        from vifit.documents import model_kind

        names, rows = _predicted(model_kind(document["model"], path), document, path, table)
        rows = np.asarray(rows, dtype=float)
        latent = [i for i, n in enumerate(names) if n.startswith(("z", "code", "mu"))]
        if len(latent) < 2:
            raise BadInput(f"{path}: the latent space has {len(latent)} dimension(s); a 2-D view needs 2")
        ax = axes[0, panel]
        _scatter(ax, rows[:, latent[0]], rows[:, latent[1]], _colour_values(table, options.get("color_by")))
        _labels(ax, names[latent[0]], names[latent[1]], "latent means")
        panel += 1
    if options.get("image_shape") and document["model"] == "vae":
        from vifit.documents import vae as model_file

        height, width = options["image_shape"]
        from vifit.documents.outputs import computed, require_finite

        columns, images = computed(model_file.sample, document, path, 16, np.random.default_rng(0), mean=True)
        require_finite(document, path, columns, images, "plot")
        if height * width != images.shape[1]:
            raise BadInput(f"--image-shape {height}x{width} does not match the model's {images.shape[1]} columns")
        grid = np.block([[images[4 * r + c].reshape(height, width) for c in range(4)] for r in range(4)])
        ax = axes[0, panel]
        ax.imshow(grid, cmap="gray_r")
        ax.set_axis_off()
        _labels(ax, title="decoded draws from the prior")
    figure.tight_layout()
    return figure


def draw_comparison(plt, document, path, table, options):
    from vifit.plot.choices import draw_comparison as draw

    return draw(plt, document, path, table, options)


# by the document's model; a comparison (vifit.compare/1) by its schema
DRAW = {"comparison": draw_comparison, "pca": draw_pca, "gmm": draw_gmm, "mixture": draw_mixture,
        "autoencoder": draw_network, "vae": draw_network}
