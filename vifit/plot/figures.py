"""One figure per model kind, drawn from a model document (and optionally its data).

Each ``draw_<model>(plt, document, path, table, options) -> Figure`` reads only the document's
fields and its model kind's answers (:mod:`vifit.documents`); no mathematics is redone here.
:func:`figure_of` picks the one for a document: the command saves what it returns, tests read
its artists. Mixtures are drawn in :mod:`vifit.plot.mixtures`, networks in
:mod:`vifit.plot.networks`, choices among candidates in :mod:`vifit.plot.choices`.
"""

from __future__ import annotations

import numpy as np

from vifit.output import array_of
from vifit.plot.common import colour_column, coloured_points, labels, predicted, scores_histogram, suptitle


def draw_pca(plt, document, path, table, options):
    """The scree plot; with DATA, the rows on pc1 and pc2 (a histogram of pc1 for --k 1)."""
    explained = array_of(document, path, "params", "summary", "explained_variance_ratio", ndim=1)
    panels = 2 if table is not None else 1
    figure, axes = plt.subplots(1, panels, figsize=(5 * panels, 4), squeeze=False)
    ax = axes[0, 0]
    positions = np.arange(1, explained.size + 1)
    ax.bar(positions, explained, label="explained variance ratio")
    ax.plot(positions, np.cumsum(explained), color="black", marker="o", label="cumulative")
    ax.set_xticks(positions)
    ax.set_ylim(0, 1.25)  # fractions end at 1: the band above holds the legend, clear of bars and line
    labels(ax, xlabel="component", ylabel="fraction of variance", title="scree plot")
    ax.set_yticks(np.linspace(0, 1, 6))
    ax.legend(loc="upper center", ncol=2, fontsize="small")
    suptitle(figure, document)
    if table is not None:
        from vifit.documents import pca as model_file

        names, rows = predicted(model_file, document, path, table)
        rows = np.asarray(rows, dtype=float)
        ax = axes[0, 1]
        colours_by = colour_column(table, options.get("color_by"))
        if explained.size == 1:
            scores_histogram(plt, ax, rows[:, 0], colours_by, options.get("color_by"))
            labels(ax, xlabel="pc1 score", title="projection on the one component")
        else:
            coloured_points(plt, ax, rows[:, 0], rows[:, 1], colours_by, options.get("color_by"))
            labels(ax, "pc1", "pc2", "projection")
    figure.tight_layout()
    return figure


def draw_comparison(plt, document, path, table, options):
    from vifit.plot.choices import draw_comparison as draw

    return draw(plt, document, path, table, options)


def draw_gmm(plt, document, path, table, options):
    from vifit.plot.mixtures import draw_gmm as draw

    return draw(plt, document, path, table, options)


def draw_mixture(plt, document, path, table, options):
    from vifit.plot.mixtures import draw_mixture as draw

    return draw(plt, document, path, table, options)


def draw_network(plt, document, path, table, options):
    from vifit.plot.networks import draw_network as draw

    return draw(plt, document, path, table, options)


# by the document's model; a comparison (vifit.compare/1) by its schema
DRAW = {"comparison": draw_comparison, "pca": draw_pca, "gmm": draw_gmm, "mixture": draw_mixture,
        "autoencoder": draw_network, "vae": draw_network}


def figure_of(plt, document, path, table=None, options=None):
    """The matplotlib Figure ``vifit plot`` saves for a document (``model`` 'comparison' for a
    vifit.compare/1 ranking), DATA's table (or None) and the figure options (dims, color_by,
    image_shape). The caller closes it."""
    return DRAW[document["model"]](plt, document, path, table, dict(options or {}))
