"""SVI's default stopping rule on real files (benchmarks/README.md, "SVI default stopping rule on
real files"): for each file, K and seed, the default ``vifit gmm FILE --k K --method svi --seed S``,
the same with ``--epochs 200`` (where the estimate goes) and ``--method cavi`` (its optimum).

Needs scikit-learn, palmerpenguins and statsmodels (not vifit's dependencies); run by hand:
    python benchmarks/svi_stopping.py OUTDIR > runs.jsonl
It writes the CSVs into OUTDIR first. A 200,000-row sample: ``vifit gmm sample_data/iris.csv --k 3
--seed 1 -q -o gmm.json; vifit sample gmm.json -n 200000 --seed 2 | gzip > OUTDIR/big.csv.gz``
(measured with --columns 1-4, K 2-4, seeds 0-1)."""

import json
import sys

import pandas as pd
from click.testing import CliRunner

from vifit.cli import cli


def write_files(out: str) -> list[str]:
    import palmerpenguins
    import statsmodels.api as sm
    from sklearn import datasets

    names = []
    for name in ("iris", "wine", "breast_cancer", "digits"):
        bunch = getattr(datasets, "load_" + name)()
        frame = pd.DataFrame(bunch.data, columns=[f"x{j}" for j in range(bunch.data.shape[1])])
        frame.loc[:, frame.std() > 0].to_csv(f"{out}/{name}.csv", index=False)  # digits: no constant pixel
        names.append(name)
    penguins = palmerpenguins.load_penguins()
    penguins[["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]].to_csv(
        f"{out}/penguins.csv", index=False)
    sm.datasets.fair.load_pandas().data.to_csv(f"{out}/fair.csv", index=False)
    sm.datasets.randhie.load_pandas().data.to_csv(f"{out}/randhie.csv", index=False)
    macro = sm.datasets.macrodata.load_pandas().data
    macro[["realgdp", "realcons", "realinv", "realgovt", "cpi", "unemp", "infl"]].to_csv(
        f"{out}/macrodata.csv", index=False)
    return names + ["penguins", "macrodata", "fair", "randhie"]


def run(args):
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    return json.loads(result.stdout) if result.exit_code == 0 else None


def main(out: str) -> None:
    for name in write_files(out):
        ks, seeds = ((2, 4, 6), (0, 1)) if name == "digits" else ((2, 3, 4, 5, 6), (0, 1, 2))
        for k in ks:
            for seed in seeds:
                base = ["gmm", f"{out}/{name}.csv", "--k", k, "--seed", seed, "-q", "--progress", "none", "--dropna"]
                default = run(base + ["--method", "svi"])
                long = run(base + ["--method", "svi", "--epochs", "200"])
                cavi = run(base)
                if default is None:
                    continue
                fit = default["fit"]
                print(json.dumps({"file": name, "n": default["data"]["n_rows"], "k": k, "seed": seed,
                                  "status": fit["status"], "epochs": fit["epochs"], "trace": fit["trace"],
                                  "estimate_trace": fit["estimate_trace"], "long_trace": long["fit"]["trace"],
                                  "cavi": cavi["fit"]["elbo"]}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
