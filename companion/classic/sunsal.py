"""SUnSAL: sparse unmixing by variable splitting and augmented Lagrangian (Bioucas-Dias &
Figueiredo, 2010), batched over all pixels.

Solves ``min_A 0.5 ||M A - Y||_F^2 + lam ||A||_1`` with optional ``A >= 0`` and ``1^T A = 1^T``
by ADMM on the split ``A = Z``: a least-squares step (with the affine sum-to-one projection),
a soft-threshold (and positivity) step, and a dual update. Every :data:`CHECK_EVERY` (10)
iterations ``mu`` is doubled when the primal residual exceeds ten times the dual one, halved in
the opposite case, the scaled dual rescaled to match (C: the reference ``sunsal.m`` does this),
and the stopping rule is tested.

Stopping rule (O): the relative primal and dual residuals of Boyd et al. (2011, sec. 3.3.1),
``||X - Z|| <= tol max(||X||, ||Z||)`` and ``mu ||Z - Z_prev|| <= tol ||mu D||`` (Frobenius, over
all pixels; ``Z_prev`` the previous iterate). The reference code tests absolute residuals divided
by ``sqrt(p * pixels)`` against 1e-4; with a spectral library (p = 498 USGS spectra, condition
number ~4e8) most entries are zero, that test holds after ~150 iterations with the objective
still 3x its optimum. The relative rule with ``tol = 1e-5`` stops there after ~3,000 iterations
within 1e-4 of the optimum, and on a few well-separated endmembers after ~200 (measured on the
six-mineral scene; ``tests/test_classic_convergence.py``).
"""

from __future__ import annotations

import torch

from ._tensors import as_tensors, check_shapes, to_numpy
from .convergence import CHECK_EVERY, Convergence, report

__all__ = ["sunsal"]


def _sunsal(Y: torch.Tensor, M: torch.Tensor, lam: float, positivity: bool, sum_to_one: bool, mu: float,
            max_iter: int, tol: float) -> tuple[torch.Tensor, Convergence]:
    """The ADMM on tensors of one device: ``Y (bands, pixels)``, ``M (bands, p)`` -> ``(p, pixels)``.

    ``mu`` lives on the device and adapts there (no host read); the stopping rule reads one
    boolean every :data:`CHECK_EVERY` iterations, none when ``tol = 0``."""
    p = M.shape[1]
    eye = torch.eye(p, dtype=Y.dtype, device=Y.device)
    MtY = M.T @ Y
    MtM = M.T @ M
    mu = torch.tensor(mu, dtype=Y.dtype, device=Y.device)

    def least_squares_step(rhs: torch.Tensor, inv: torch.Tensor) -> torch.Tensor:
        X = inv @ rhs
        if sum_to_one:
            g = inv.sum(1, keepdim=True)                          # inv 1
            X = X - g * ((X.sum(0, keepdim=True) - 1.0) / g.sum())
        return X

    inv = torch.linalg.inv(MtM + mu * eye)
    Z = least_squares_step(MtY, inv)
    D = torch.zeros_like(Z)
    criterion = f"relative primal and dual residuals <= {tol:g}"
    for it in range(1, max_iter + 1):
        X = least_squares_step(MtY + mu * (Z + D), inv)
        Z_old = Z
        V = X - D
        Z = torch.sign(V) * (V.abs() - lam / mu).clamp_min(0.0)
        if positivity:
            Z = Z.clamp_min(0.0)
        D = D - (X - Z)
        if it % CHECK_EVERY:
            continue
        primal = torch.linalg.norm(X - Z)
        dual = mu * torch.linalg.norm(Z - Z_old)
        if tol > 0:
            small = (primal <= tol * torch.maximum(torch.linalg.norm(X), torch.linalg.norm(Z))) & (
                dual <= tol * mu * torch.linalg.norm(D))
            if bool(small):                                       # one host read per CHECK_EVERY
                return Z, Convergence(True, it, criterion)
        factor = 2.0 ** ((primal > 10 * dual).to(Y.dtype) - (dual > 10 * primal).to(Y.dtype))   # 2, 1 or 1/2
        mu, D = mu * factor, D / factor
        inv = torch.linalg.inv(MtM + mu * eye)
    return Z, Convergence(False, max_iter, criterion)


def sunsal(
    Y,
    M,
    lam: float = 0.0,
    positivity: bool = True,
    sum_to_one: bool = False,
    mu: float = 0.01,
    max_iter: int = 10000,
    tol: float = 1e-5,
    device="auto",
    return_convergence: bool = False,
):
    """Abundances ``(p, pixels)``. ``Y: (bands, pixels)``, ``M: (bands, p)``.

    Stops when the stopping rule of the module docstring holds (tested every 10 iterations) or
    after ``max_iter`` iterations; ``tol = 0`` runs exactly ``max_iter`` iterations. With
    ``return_convergence`` returns ``(A, Convergence)``; otherwise a run that stops on its budget
    emits a :class:`~companion.classic.convergence.ConvergenceWarning`. Defaults (O): ``tol``
    1e-5 and a budget of 10,000 iterations reach the optimum of library unmixing with the USGS
    library (the reference code's 1000 iterations and absolute 1e-4 do not).
    """
    check_shapes(Y, M)
    if lam < 0 or mu <= 0 or tol < 0:
        raise ValueError(f"need lam >= 0, mu > 0 and tol >= 0, got lam={lam}, mu={mu}, tol={tol}")
    _, (Yt, Mt) = as_tensors(Y, M, device=device)
    Z, convergence = _sunsal(Yt, Mt, lam, positivity, sum_to_one, mu, max_iter, tol)
    if return_convergence:
        return to_numpy(Z), convergence
    report("sunsal", convergence, tol)
    return to_numpy(Z)
