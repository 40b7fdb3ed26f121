"""vifit vae vs PyTorch (CPU): same architecture, data, batch, optimiser, threads.

    python benchmarks/bench_vae.py [--case mnist|digits|both] [--epochs 5] [--rows 60000] [--threads N]
    python benchmarks/bench_vae.py --case mnist --rows 15000 --epochs 2 --contend 1   # one busy neighbour

Cases (Bernoulli likelihood, relu hidden layers, latent head [mu | rho] with
sigma = softplus(rho) + 1e-6, one reparameterised draw per row, batch 128, Adam lr 1e-3,
float32, no validation split):

- ``mnist``:  784-400-[20]-400-784 on 60,000 synthetic binary-ish rows (a steep sigmoid of
  a rank-20 signal plus noise, values crowded near 0 and 1);
- ``digits``: 64-128-[8]-128-64 on sample_data/digits.csv divided by 16 (1,797 rows).

Each side runs in its own subprocess (so peak RSS is per side). Threads: without
``--threads``, each side chooses as it does for a user (vifit: its thread plan, vifit.threads,
as ``vifit vae`` does: BLAS on one thread; torch:
its default); ``--threads N`` gives both N (BLAS set through its API on vifit's side, the
variables and ``torch.set_num_threads`` on torch's). Without PyTorch only vifit's side runs. Time per epoch is the median epoch wall time. The final
-ELBO per row is measured after the same number of epochs on all rows, with one
draw per row plus the exact KL, in nats (identical formula on both sides); the
last epoch's mean training -ELBO is shown as well.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

CASES = {"mnist": (400, 20), "digits": (128, 8)}
ROOT = Path(__file__).resolve().parents[1]


def make_data(case: str, rows: int = 60000, seed: int = 0):
    import numpy as np

    if case == "digits":
        x = np.loadtxt(ROOT / "sample_data" / "digits.csv", delimiter=",", skiprows=1)
        return np.ascontiguousarray(x[:, :64] / 16.0, dtype=np.float32)
    rng = np.random.default_rng(seed)
    a = (rng.standard_normal((20, 784)) / np.sqrt(20) * 2.0).astype(np.float32)
    x = np.empty((rows, 784), dtype=np.float32)
    for lo in range(0, rows, 5000):  # in chunks: the peak RSS is the data, not its making
        block = x[lo:lo + 5000]
        np.matmul(rng.standard_normal((block.shape[0], 20), dtype=np.float32), a, out=block)
        block += 0.3 * rng.standard_normal(block.shape, dtype=np.float32)
        block *= -3.0
        np.exp(block, out=block)
        block += 1.0
        np.reciprocal(block, out=block)
    return x


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_vifit(args) -> dict:
    import numpy as np

    from vifit.inference.sgd import SGDConfig, train
    from vifit.models.vae import VAE, architecture
    from vifit.progress import Reporter

    from vifit import blas, threads

    hidden, latent = CASES[args.case]
    x = make_data(args.case, args.rows)
    rss_data = peak_rss_mb()
    thread_plan = threads.plan("networks", args.threads)
    net = VAE(architecture(x.shape[1], [hidden], None, latent, "relu", "bernoulli"), dtype=np.float32,
              rng=np.random.default_rng(1))
    times, train_elbo = [], []

    class Clock(Reporter):  # records the wall time and training ELBO of every epoch
        def update(self, step, value, **extra):
            times.append(time.perf_counter())
            train_elbo.append(extra["metric"])  # the loop's epoch_metric(): mean training ELBO per row

    config = SGDConfig(epochs=args.epochs, batch_size=128, lr=1e-3, validation_fraction=0.0,
                       patience=args.epochs + 1)
    with threads.running(thread_plan):
        used = blas.describe()
        start = time.perf_counter()
        train(net, x, None, config, np.random.default_rng(2), Clock("none"), task="bench")
    epochs = [b - a for a, b in zip([start] + times[:-1], times)]
    final = -float(net.elbo_rows(x, np.random.default_rng(3), samples=1).mean())
    return {"epoch_seconds": epochs, "final_neg_elbo": final, "train_neg_elbo": -train_elbo[-1],
            "peak_rss_mb": peak_rss_mb(), "data_rss_mb": rss_data, "threads": thread_plan.record(), "blas": used}


def run_torch(args) -> dict:
    import numpy as np
    import torch
    import torch.nn.functional as F

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    hidden, latent = CASES[args.case]
    x = torch.from_numpy(make_data(args.case, args.rows))
    rss_data = peak_rss_mb()
    d = x.shape[1]

    class VAE(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.enc, self.head = torch.nn.Linear(d, hidden), torch.nn.Linear(hidden, 2 * latent)
            self.dec1, self.dec2 = torch.nn.Linear(latent, hidden), torch.nn.Linear(hidden, d)

        def neg_elbo_sum(self, batch):
            mu, rho = self.head(F.relu(self.enc(batch))).chunk(2, dim=1)
            sigma = F.softplus(rho) + 1e-6
            z = mu + sigma * torch.randn_like(mu)
            logits = self.dec2(F.relu(self.dec1(z)))
            rec = F.binary_cross_entropy_with_logits(logits, batch, reduction="sum")
            kl = 0.5 * (mu * mu + sigma * sigma - 1 - 2 * torch.log(sigma)).sum()
            return rec + kl

    model = VAE()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = np.random.default_rng(2)
    n, epochs, train_loss = x.shape[0], [], None
    for _ in range(args.epochs):
        start, total = time.perf_counter(), 0.0
        order = torch.from_numpy(gen.permutation(n))
        for lo in range(0, n, 128):
            batch = x[order[lo:lo + 128]]
            opt.zero_grad(set_to_none=True)
            loss = model.neg_elbo_sum(batch) / len(batch)
            loss.backward()
            opt.step()
            total += loss.item() * len(batch)
        epochs.append(time.perf_counter() - start)
        train_loss = total / n
    with torch.no_grad():
        final = sum(model.neg_elbo_sum(x[lo:lo + 4096]).item() for lo in range(0, n, 4096)) / n
    return {"epoch_seconds": epochs, "final_neg_elbo": final, "train_neg_elbo": train_loss,
            "peak_rss_mb": peak_rss_mb(), "data_rss_mb": rss_data, "torch": torch.__version__,
            "threads": torch.get_num_threads()}


def side(name: str, case: str, args) -> dict | None:
    """One side's result in its own process; None for torch when PyTorch is not installed."""
    env = dict(os.environ)
    cmd = [sys.executable, __file__, "--side", name, "--case", case, "--epochs", str(args.epochs),
           "--rows", str(args.rows)]
    if args.threads:
        threads = str(args.threads)
        env.update(OMP_NUM_THREADS=threads, OPENBLAS_NUM_THREADS=threads, MKL_NUM_THREADS=threads)
        cmd += ["--threads", threads]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        if name == "torch" and "No module named 'torch'" in done.stderr:
            return None
        sys.exit(f"{name} side failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def report(case: str, args) -> None:
    hidden, latent = CASES[case]
    results = {name: side(name, case, args) for name in ("vifit", "torch")}
    torch_side = results.pop("torch")
    if torch_side is not None:
        results["torch"] = torch_side
    d, n = (784, args.rows) if case == "mnist" else (64, 1797)
    plan, used = results["vifit"]["threads"], results["vifit"]["blas"]
    peer = (f"torch {torch_side['torch']} on {torch_side['threads']} threads" if torch_side
            else "PyTorch not installed: vifit's side only")
    print(f"\nvae {d}-{hidden}-[{latent}]-{hidden}-{d} ({case}, {n:,} rows), Bernoulli, batch 128, Adam 1e-3, "
          f"float32, {args.epochs} epochs; vifit BLAS {used.get('name')} {used.get('version')} on "
          f"{used.get('threads')} thread(s) ({plan['source']}); {peer}")
    print(f"{'':8} {'s/epoch':>9} {'-ELBO/row':>10} {'train':>9} {'peak RSS MB':>12} {'(data)':>7}   epochs (s)")
    for name, r in results.items():
        print(f"{name:8} {statistics.median(r['epoch_seconds']):9.3f} {r['final_neg_elbo']:10.3f} "
              f"{r['train_neg_elbo']:9.3f} {r['peak_rss_mb']:12.0f} {r['data_rss_mb']:7.0f}   "
              + " ".join(f"{t:.2f}" for t in r["epoch_seconds"]))
    if torch_side is None:
        return
    ratio = statistics.median(results["vifit"]["epoch_seconds"]) / statistics.median(results["torch"]["epoch_seconds"])
    diff = results["vifit"]["final_neg_elbo"] / results["torch"]["final_neg_elbo"] - 1
    print(f"time per epoch ratio vifit/torch: {ratio:.2f}x   final -ELBO difference: {100 * diff:+.2f}%")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=["mnist", "digits", "both"], default="both")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--rows", type=int, default=60000, help="rows of the mnist case")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads of both sides (default: each side's own choice)")
    parser.add_argument("--side", choices=["vifit", "torch"], default=None)
    import contention  # benchmarks/contention.py: --contend N busy processes while measuring

    contention.add_option(parser)
    args = parser.parse_args()
    contention.start(args.contend)
    if args.side:
        result = run_vifit(args) if args.side == "vifit" else run_torch(args)
        print(json.dumps(result))
        return
    for case in (["mnist", "digits"] if args.case == "both" else [args.case]):
        report(case, args)


if __name__ == "__main__":
    main()
