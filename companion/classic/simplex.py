"""Euclidean projection onto the probability simplex, batched over columns (and runs)."""

from __future__ import annotations

import torch

__all__ = ["project_simplex"]


def project_simplex(X: torch.Tensor) -> torch.Tensor:
    """Project every column of ``X (..., p, pixels)`` onto ``{a >= 0, sum(a) = 1}``.

    Sort-based exact projection (Held et al. 1974; Duchi et al. 2008): with ``u`` the column
    sorted in decreasing order, ``rho`` the largest ``k`` with ``u_k > (sum_{j<=k} u_j - 1) / k``
    and ``tau = (sum_{j<=rho} u_j - 1) / rho``, the projection is ``max(x - tau, 0)``.
    """
    u = torch.sort(X, dim=-2, descending=True).values
    k = torch.arange(1, X.shape[-2] + 1, dtype=X.dtype, device=X.device).reshape(-1, 1)
    cumulative = u.cumsum(-2) - 1.0
    rho = ((u - cumulative / k) > 0).sum(-2, keepdim=True)          # >= 1 always
    tau = cumulative.gather(-2, rho - 1) / rho.to(X.dtype)
    return (X - tau).clamp(min=0.0)
