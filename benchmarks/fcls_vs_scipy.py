"""Batched exact FCLS against the straightforward per-pixel scipy NNLS loop, in one run.

Usage: ``HU_DATA_DIR=../shared/data python benchmarks/fcls_vs_scipy.py``. Prints, for Samson and
Jasper Ridge with their ground-truth endmembers, both wall times, the speed ratio and the
largest abundance difference. The reference is NNLS on the sum-to-one-augmented system.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from scipy.optimize import nnls

from companion.classic import fcls
from companion.data import load

DELTA = 1e5  # weight of the sum-to-one row in the augmented NNLS reference


def scipy_fcls_loop(Y: np.ndarray, M: np.ndarray) -> np.ndarray:
    """Per-pixel FCLS the usual way: NNLS on ``[M; delta 1^T] a = [y; delta]``."""
    M_aug = np.vstack([M, DELTA * np.ones((1, M.shape[1]))])
    return np.stack([nnls(M_aug, np.r_[y, DELTA])[0] for y in Y.T], axis=1)


def best_of(fn, args, repeats: int) -> tuple[float, np.ndarray]:
    """Shortest wall time of ``repeats`` calls of ``fn(*args)``, and its output."""
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn(*args)
        times.append(time.perf_counter() - start)
    return min(times), out


def main() -> None:
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'dataset':8} {'pixels':>7} {'p':>2} {'scipy loop (s)':>15} {'batched (s)':>12} "
          f"{'ratio':>7} {'max |dA|':>10}")
    for name in ["samson", "jasper"]:
        hsi = load(name)
        t_ref, A_ref = best_of(scipy_fcls_loop, (hsi.Y, hsi.endmembers), repeats=3)
        t_new, A_new = best_of(fcls, (hsi.Y, hsi.endmembers, "cpu"), repeats=10)
        diff = np.abs(A_ref - A_new).max()
        print(f"{name:8} {hsi.n_pixels:7d} {hsi.p:2d} {t_ref:15.3f} {t_new:12.4f} "
              f"{t_ref / t_new:6.0f}x {diff:10.2e}")


if __name__ == "__main__":
    main()
