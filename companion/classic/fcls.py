"""Fully constrained least squares for all pixels at once, exact.

For each pixel ``min_a ||y - M a||^2`` subject to ``a >= 0`` and ``sum(a) = 1``. The optimum is
the equality-constrained least-squares solution on its own support, so solving that closed form
on every support and keeping the best feasible candidate per pixel is exact (to rounding).

All ``2^p - 1`` supports are solved together as one batched computation over
``(supports, p, pixels)`` (in chunks of supports when that array would be large). Candidates are
compared by ``(a - a_ls)^T G (a - a_ls)``, which equals ``||y - M a||^2`` up to a per-pixel
constant and avoids the cancellation of expanding the residual.
"""

from __future__ import annotations

import itertools

import numpy as np
import torch

from ._tensors import as_tensors, check_shapes, to_numpy

__all__ = ["fcls", "MAX_EXACT_ENDMEMBERS"]

MAX_EXACT_ENDMEMBERS = 12
_CHUNK_ELEMENTS = 2**24  # largest (supports x p x pixels) block held at once


def _support_masks(p: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``(2^p - 1, p)`` 0/1 masks of every non-empty support."""
    rows = [
        [1.0 if i in subset else 0.0 for i in range(p)]
        for k in range(1, p + 1)
        for subset in itertools.combinations(range(p), k)
    ]
    return torch.tensor(rows, dtype=dtype, device=device)


def _restricted_inverses(G: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """``(s, p, p)``: the pseudo-inverse of ``G`` restricted to each support, zero elsewhere."""
    outer = masks[:, :, None] * masks[:, None, :]
    padded = G * outer + torch.diag_embed(1.0 - masks)   # identity off the support
    return torch.linalg.pinv(padded) * outer


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
    G = Mt.T @ Mt                                    # (p, p)
    B = Mt.T @ Yt                                    # (p, pixels)
    masks = _support_masks(p, Yt.dtype, Yt.device)   # the full support comes last
    inverses = _restricted_inverses(G, masks)        # (s, p, p)
    tol = 1e-10 if Yt.dtype == torch.float64 else 1e-6
    # Most pixels are usually interior: solve the full support first, enumerate only the rest.
    full = _candidates(inverses[-1:], B)[0]
    interior = (full >= -tol).all(0)
    A = torch.where(interior[None], full, 0.0)
    rest = (~interior).nonzero().squeeze(1)
    if rest.numel():
        A[:, rest] = _best_on_boundary(G, B[:, rest], inverses[:-1], tol)
    return to_numpy(A.clamp_min(0.0))


def _candidates(P: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """Sum-to-one least squares on each support: ``(c, p, pixels)`` from ``P: (c, p, p)``."""
    g = P.sum(-1)                                    # P 1, (c, p)
    PB = P @ B                                       # (c, p, pixels)
    mu = (PB.sum(1) - 1.0) / g.sum(-1, keepdim=True)  # Lagrange multiplier, (c, pixels)
    return PB - g[:, :, None] * mu[:, None, :]


def _best_on_boundary(G: torch.Tensor, B: torch.Tensor, inverses: torch.Tensor, tol: float):
    """Best feasible candidate over the given supports, for every pixel (column of ``B``)."""
    p, n = B.shape
    a_ls = torch.linalg.pinv(G) @ B                  # unconstrained least squares
    best_cost = torch.full((n,), torch.inf, dtype=B.dtype, device=B.device)
    best = torch.zeros((p, n), dtype=B.dtype, device=B.device)
    chunk = max(1, _CHUNK_ELEMENTS // (p * n))
    for start in range(0, inverses.shape[0], chunk):
        a = _candidates(inverses[start : start + chunk], B)
        d = a - a_ls
        cost = (d * (G @ d)).sum(1)                  # ||y - M a||^2 minus a per-pixel constant
        cost = torch.where((a >= -tol).all(1), cost, torch.inf)
        chunk_cost, winner = cost.min(0)
        better = chunk_cost < best_cost
        best_cost = torch.where(better, chunk_cost, best_cost)
        chosen = a.gather(0, winner.expand(p, n)[None]).squeeze(0)
        best = torch.where(better[None], chosen, best)
    return best
