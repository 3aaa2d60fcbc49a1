"""Time one epoch of the hybrid's blending network: recsys's numba backprop against PyTorch.

Same network (``d_in -> 32 -> 16 -> 1``, tanh hidden units, linear output), same data (an
ML-100k-sized training set: 80,000 examples with as many inputs as the hybrid feeds on
ML-100k), same per-example SGD (batch 1) and mini-batches of 256, in the same run. PyTorch is
bench-only (``pip install torch==2.13.0``); the script skips it when absent.

Run by hand::

    python bench/bench_mlp.py [--n 80000] [--d 50] [--repeat 3] [--torch-batch1-n 8000]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from recsys.models.mlp import MLP


def numba_epoch_rate(X: np.ndarray, y: np.ndarray, batch: int, dtype: str, repeat: int) -> float:
    """Examples per second of one training epoch (best of ``repeat``; compiled beforehand)."""
    net = MLP(hidden=(32, 16), lr=0.001, batch_size=batch, n_epochs=1, dtype=dtype,
              random_state=0).fit(X[:512], y[:512])  # builds the weights, compiles the kernels
    Xc, yc = X.astype(dtype), y.astype(dtype)
    net.partial_fit_epoch(Xc[:1000], yc[:1000])
    best = np.inf
    for r in range(repeat):
        start = time.perf_counter()
        net.partial_fit_epoch(Xc, yc, random_state=r)
        best = min(best, time.perf_counter() - start)
    return len(X) / best


def torch_epoch_rate(X: np.ndarray, y: np.ndarray, batch: int, dtype: str, repeat: int,
                     limit: int | None) -> float | None:
    """The same epoch in PyTorch (nn.Linear + tanh, SGD, sum of squared errors / batch)."""
    try:
        import torch
    except ImportError:
        return None
    tdtype = getattr(torch, dtype)
    torch.manual_seed(0)
    d_in = X.shape[1]
    net = torch.nn.Sequential(
        torch.nn.Linear(d_in, 32), torch.nn.Tanh(), torch.nn.Linear(32, 16), torch.nn.Tanh(),
        torch.nn.Linear(16, 1),
    ).to(tdtype)
    opt = torch.optim.SGD(net.parameters(), lr=0.001)
    n = len(X) if limit is None else min(limit, len(X))
    Xt = torch.from_numpy(X[:n].astype(dtype))
    yt = torch.from_numpy(y[:n, None].astype(dtype))
    best = np.inf
    for r in range(repeat + 1):  # the first pass warms up
        order = torch.from_numpy(np.random.default_rng(r).permutation(n))
        start = time.perf_counter()
        for s in range(0, n, batch):
            rows = order[s:s + batch]
            xb, yb = Xt[rows], yt[rows]
            opt.zero_grad(set_to_none=True)
            loss = ((net(xb) - yb) ** 2).sum() / len(rows)
            loss.backward()
            opt.step()
        if r:
            best = min(best, time.perf_counter() - start)
    return n / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=80000, help="training examples")
    parser.add_argument("--d", type=int, default=50, help="inputs (the hybrid on ML-100k: ~50)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--torch-batch1-n", type=int, default=8000,
                        help="examples timed for PyTorch at batch 1 (it is slow)")
    parser.add_argument("--torch-threads", type=int, default=1,
                        help="PyTorch intra-op threads (the numba SGD loop uses one core)")
    args = parser.parse_args()
    try:
        import torch
        torch.set_num_threads(args.torch_threads)
    except ImportError:
        pass
    rng = np.random.default_rng(0)
    X = rng.normal(size=(args.n, args.d))
    y = np.tanh(X[:, :3].sum(1)) + 0.1 * rng.normal(size=args.n)
    try:
        import torch
        torch_info = f"torch {torch.__version__}, {torch.get_num_threads()} threads"
    except ImportError:
        torch_info = "torch not installed"
    print(f"one epoch, {args.n} examples x {args.d} inputs, network {args.d}-32-16-1; "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; {torch_info}")
    print("| batch | dtype | recsys (numba) ex/s | PyTorch ex/s | recsys / PyTorch |")
    print("| ---: | --- | ---: | ---: | ---: |")
    for batch in (1, 256):
        for dtype in ("float32", "float64"):
            ours = numba_epoch_rate(X, y, batch, dtype, args.repeat)
            limit = args.torch_batch1_n if batch == 1 else None
            theirs = torch_epoch_rate(X, y, batch, dtype, 1 if batch == 1 else args.repeat,
                                      limit)
            ratio = f"{ours / theirs:.2f}x" if theirs else "-"
            theirs_text = f"{theirs:,.0f}" if theirs else "-"
            print(f"| {batch} | {dtype} | {ours:,.0f} | {theirs_text} | {ratio} |", flush=True)


if __name__ == "__main__":
    main()
