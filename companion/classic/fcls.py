"""Fully constrained least squares for all pixels at once, exact.

For each pixel ``min_a ||y - M a||^2`` subject to ``a >= 0`` and ``sum(a) = 1``. The optimum is
the equality-constrained least-squares solution on its own support, so solving that closed form
on every support and keeping the best feasible candidate per pixel is exact (to rounding). The
loop runs over the ``2^p - 1`` supports; each step is one batched solve over all pixels.
"""

from __future__ import annotations

import itertools

import numpy as np
import torch

from ._tensors import as_tensors, check_shapes, to_numpy

__all__ = ["MAX_EXACT_ENDMEMBERS", "fcls"]

MAX_EXACT_ENDMEMBERS = 12


def _supports(p: int):
    for k in range(1, p + 1):
        yield from itertools.combinations(range(p), k)


def fcls(Y, M, device="auto") -> np.ndarray:
    """Abundances ``(p, pixels)`` by exact FCLS. ``Y: (bands, pixels)``, ``M: (bands, p)``.

    Runs in float64 on CPU and float32 on GPU. For ``p > 12`` use
    :func:`companion.classic.sunsal` with ``sum_to_one=True`` (iterative, not exact).
    """
    check_shapes(Y, M)
    p = np.shape(M)[1]
    if p > MAX_EXACT_ENDMEMBERS:
        raise ValueError(
            f"exact FCLS enumerates 2^p supports; p={p} > {MAX_EXACT_ENDMEMBERS}. "
            "Use sunsal(Y, M, positivity=True, sum_to_one=True) instead."
        )
    _, (Yt, Mt) = as_tensors(Y, M, device=device)
    G = Mt.T @ Mt                       # (p, p)
    B = Mt.T @ Yt                       # (p, pixels)
    yy = (Yt * Yt).sum(0)               # (pixels,)
    n = Yt.shape[1]
    best_cost = torch.full((n,), torch.inf, dtype=Yt.dtype, device=Yt.device)
    best = torch.zeros((p, n), dtype=Yt.dtype, device=Yt.device)
    tol = 1e-10 if Yt.dtype == torch.float64 else 1e-6
    for support in _supports(p):
        idx = list(support)
        Ginv = torch.linalg.pinv(G[idx][:, idx])
        b = B[idx]
        g1 = Ginv.sum(1, keepdim=True)                       # G^-1 1, (k, 1)
        mu = (Ginv @ b).sum(0, keepdim=True) - 1.0           # 1^T G^-1 b - 1, (1, pixels)
        a = Ginv @ b - g1 * (mu / g1.sum())                  # (k, pixels)
        feasible = (a >= -tol).all(0)
        cost = yy - 2.0 * (a * b).sum(0) + (a * (G[idx][:, idx] @ a)).sum(0)
        better = feasible & (cost < best_cost)
        if better.any():
            best_cost = torch.where(better, cost, best_cost)
            full = torch.zeros_like(best)
            full[idx] = a.clamp_min(0.0)
            best = torch.where(better[None], full, best)
    return to_numpy(best)
