"""Figures of the networks (autoencoder, vae): training and validation curves, the latent
means of DATA's rows (a histogram for a 1-D latent space), and a vae's decoded draws as a grid
of separate tiles.
"""

from __future__ import annotations

import numpy as np

from vifit.errors import BadInput
from vifit.plot.common import coloured_points, colour_column, labels, predicted, scores_histogram, suptitle, trace

GRID = 4  # the sample grid is GRID x GRID draws
GAP = 0.15  # white space between tiles, as a fraction of a tile's side


def tile_grid(ax, images: np.ndarray, height: int, width: int) -> None:
    """images (GRID², height * width) as GRID x GRID tiles, each its own image with a white gap
    around it (one image of abutting tiles reads as one blurred picture). One shared grey scale,
    so a darker tile is a darker draw."""
    low, high = float(images.min()), float(images.max())
    step_x, step_y = width * (1 + GAP), height * (1 + GAP)
    for index, image in enumerate(images[: GRID * GRID]):
        row, col = divmod(index, GRID)
        left, top = col * step_x, row * step_y
        ax.imshow(image.reshape(height, width), cmap="gray_r", vmin=low, vmax=high if high > low else low + 1,
                  extent=(left, left + width, top + height, top), interpolation="nearest")
    ax.set_xlim(-GAP * width, GRID * step_x)
    ax.set_ylim(GRID * step_y, -GAP * height)
    ax.set_aspect("equal")
    ax.set_axis_off()


def draw_network(plt, document, path, table, options):
    """autoencoder and vae: training/validation curves, latent means, decoded samples."""
    panels = 1 + (table is not None) + bool(options.get("image_shape") and document["model"] == "vae")
    figure, axes = plt.subplots(1, panels, figsize=(5 * panels, 4), squeeze=False)
    trace(axes[0, 0], document, "training curve")
    suptitle(figure, document)
    panel = 1
    if table is not None:
        from vifit.documents import model_kind

        names, rows = predicted(model_kind(document["model"], path), document, path, table)
        rows = np.asarray(rows, dtype=float)
        latent = [i for i, n in enumerate(names) if n.startswith(("z", "code", "mu"))]
        if not latent:
            raise BadInput(f"{path}: the model's predictions have no latent coordinates to draw")
        ax = axes[0, panel]
        colours_by = colour_column(table, options.get("color_by"))
        if len(latent) == 1:
            scores_histogram(plt, ax, rows[:, latent[0]], colours_by, options.get("color_by"))
            labels(ax, xlabel=names[latent[0]], title="latent means")
        else:
            coloured_points(plt, ax, rows[:, latent[0]], rows[:, latent[1]], colours_by, options.get("color_by"))
            labels(ax, names[latent[0]], names[latent[1]], "latent means")
        panel += 1
    if options.get("image_shape") and document["model"] == "vae":
        from vifit.documents import vae as model_file
        from vifit.documents.outputs import computed, require_finite

        height, width = options["image_shape"]
        columns, images = computed(model_file.sample, document, path, GRID * GRID, np.random.default_rng(0),
                                   mean=True)
        require_finite(document, path, columns, images, "plot")
        images = np.asarray(images, dtype=float)
        if height * width != images.shape[1]:
            raise BadInput(f"--image-shape {height}x{width} does not match the model's {images.shape[1]} columns")
        ax = axes[0, panel]
        tile_grid(ax, images, height, width)
        labels(ax, title="decoded draws from the prior")
    figure.tight_layout()
    return figure
