"""``vifit plot``: figures of a fitted model (matplotlib, the optional ``plot`` extra).

matplotlib is imported here only, with the headless Agg backend; figures are
saved with fixed metadata so the same inputs give the same file.
"""

from __future__ import annotations

import io

from vifit.errors import BadInput

FORMATS = ("png", "svg", "pdf")


def require_matplotlib():
    """Import matplotlib headless, or explain how to get it (exit 2)."""
    try:
        import matplotlib
    except ImportError:
        raise BadInput("vifit plot needs matplotlib, which is not installed: pip install 'vifit[plot]'") from None
    matplotlib.use("Agg", force=True)
    matplotlib.rcParams["svg.hashsalt"] = "vifit"
    matplotlib.rcParams["path.simplify"] = False
    import matplotlib.pyplot as plt

    return plt


def figure_format(output: str, fmt: str | None = None) -> str:
    """``--format`` when given, else the -o extension: a device, a FIFO or /dev/stdout has no
    image extension, so it needs --format."""
    if fmt is not None:
        return fmt
    ext = output.rsplit(".", 1)[-1].lower() if "." in output else ""
    if ext not in FORMATS:
        raise BadInput(f"{output}: plot output must end in .png, .svg or .pdf, or give --format png|svg|pdf")
    return ext


def render_figure(figure, fmt: str) -> bytes:
    """The figure as bytes, with no timestamps, so reruns are byte-identical."""
    metadata = {"png": {"Software": None}, "svg": {"Date": None}, "pdf": {"CreationDate": None, "ModDate": None}}
    buffer = io.BytesIO()
    figure.savefig(buffer, format=fmt, dpi=100, metadata=metadata[fmt])
    return buffer.getvalue()
