"""SUnSAL: sparse unmixing by variable splitting and augmented Lagrangian (Bioucas-Dias &
Figueiredo, 2010), batched over all pixels.

Solves ``min_A 0.5 ||M A - Y||_F^2 + lam ||A||_1`` with optional ``A >= 0`` and ``1^T A = 1^T``
by ADMM on the split ``A = Z``: a least-squares step (with the affine sum-to-one projection),
a soft-threshold (and positivity) step, and a dual update; ``mu`` is rebalanced every 10
iterations as in the reference implementation.
"""

from __future__ import annotations

import numpy as np
import torch

from ._tensors import as_tensors, check_shapes, to_numpy

__all__ = ["sunsal"]


def sunsal(
    Y,
    M,
    lam: float = 0.0,
    positivity: bool = True,
    sum_to_one: bool = False,
    mu: float = 0.01,
    max_iter: int = 1000,
    tol: float = 1e-4,
    device="auto",
) -> np.ndarray:
    """Abundances ``(p, pixels)``. ``Y: (bands, pixels)``, ``M: (bands, p)``.

    Stops when the primal and dual residuals (Frobenius, divided by ``sqrt(p * pixels)``) are
    both below ``tol``, or after ``max_iter`` iterations.
    """
    check_shapes(Y, M)
    if lam < 0 or mu <= 0:
        raise ValueError(f"need lam >= 0 and mu > 0, got lam={lam}, mu={mu}")
    _, (Yt, Mt) = as_tensors(Y, M, device=device)
    p, n = Mt.shape[1], Yt.shape[1]
    eye = torch.eye(p, dtype=Yt.dtype, device=Yt.device)
    MtY = Mt.T @ Yt
    MtM = Mt.T @ Mt
    scale = (p * n) ** 0.5

    def least_squares_step(rhs: torch.Tensor, inv: torch.Tensor) -> torch.Tensor:
        X = inv @ rhs
        if sum_to_one:
            g = inv.sum(1, keepdim=True)                          # inv 1
            X = X - g * ((X.sum(0, keepdim=True) - 1.0) / g.sum())
        return X

    inv = torch.linalg.inv(MtM + mu * eye)
    Z = least_squares_step(MtY, inv)
    D = torch.zeros_like(Z)
    for it in range(1, max_iter + 1):
        X = least_squares_step(MtY + mu * (Z + D), inv)
        Z_old = Z
        V = X - D
        Z = torch.sign(V) * (V.abs() - lam / mu).clamp_min(0.0)
        if positivity:
            Z = Z.clamp_min(0.0)
        D = D - (X - Z)
        primal = torch.linalg.norm(X - Z) / scale
        dual = mu * torch.linalg.norm(Z - Z_old) / scale
        if primal < tol and dual < tol:
            break
        if it % 10 == 0:
            if primal > 10 * dual:
                mu, D = mu * 2.0, D / 2.0
            elif dual > 10 * primal:
                mu, D = mu / 2.0, D * 2.0
            else:
                continue
            inv = torch.linalg.inv(MtM + mu * eye)
    return to_numpy(Z)
