"""Regenerate the shipped data sets.

iris, wine and digits are the copies scikit-learn ships (UCI data sets,
redistributable); mixture_1d is drawn from the notes' model:
mu_k ~ N(0, tau^2), c_i ~ Categorical(1/K), x_i ~ N(mu_{c_i}, 1), with K = 3,
tau = 5, N = 600 and seed 20261125. Run: python sample_data/make_sample_data.py
(needs scikit-learn).
"""

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn import datasets

HERE = Path(__file__).resolve().parent


def uci_tables():
    iris = datasets.load_iris(as_frame=True)
    frame = iris.data.copy()
    frame.columns = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    frame["species"] = [iris.target_names[t] for t in iris.target]
    frame.to_csv(HERE / "iris.csv", index=False)

    wine = datasets.load_wine(as_frame=True)
    frame = wine.data.copy()
    frame.columns = [c.replace("/", "_") for c in frame.columns]
    frame["cultivar"] = [wine.target_names[t] for t in wine.target]
    frame.to_csv(HERE / "wine.csv", index=False)

    digits = datasets.load_digits()
    frame = pd.DataFrame(digits.data.astype(int), columns=[f"p{i}" for i in range(64)])
    frame.to_csv(HERE / "digits.csv", index=False)


def mixture_1d(n=600, k=3, tau=5.0, seed=20261125):
    rng = np.random.default_rng(seed)
    means = rng.normal(0.0, tau, size=k)
    labels = rng.integers(0, k, size=n)
    x = rng.normal(means[labels], 1.0)
    frame = pd.DataFrame({"x": x, "component": [f"c{c + 1}" for c in labels]})
    frame.to_csv(HERE / "mixture_1d.csv", index=False, float_format="%.17g")
    return means


def clinic(n=600, seed=20261202, missing=0.1):
    """A mixed table of two groups of patients: age (gaussian), smoker (0/1), visits (counts),
    region (text), and 10% of those cells left empty at random; weight: a frequency column."""
    rng = np.random.default_rng(seed)
    group = rng.integers(0, 2, size=n)
    frame = pd.DataFrame({
        "age": np.round(rng.normal(np.where(group, 62.0, 34.0), 7.0), 1),
        "smoker": (rng.random(n) < np.where(group, 0.7, 0.15)).astype(int),
        "visits": rng.poisson(np.where(group, 8.0, 1.5)),
        "region": np.where(rng.random(n) < np.where(group, 0.75, 0.2), "north",
                           np.where(rng.random(n) < 0.5, "south", "east")),
    })
    holes = rng.random(frame.shape) < missing
    frame = frame.astype(object).mask(holes, "")
    frame["weight"] = rng.integers(1, 4, size=n)
    frame["group"] = [f"g{g + 1}" for g in group]
    frame.to_csv(HERE / "clinic.csv", index=False)


if __name__ == "__main__":
    uci_tables()
    clinic()
    means = mixture_1d()
    print("mixture_1d true means (c1, c2, c3):", ", ".join(repr(float(m)) for m in means))
