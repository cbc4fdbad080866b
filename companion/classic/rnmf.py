"""Robust NMF for nonlinear unmixing (Févotte & Dobigeon, IEEE TIP 2015), quadratic loss.

Model ``Y ~ M A + R``: the linear mixture plus a non-negative *outlier* term ``R (bands, pixels)``
that absorbs the nonlinear effects of a few pixels, made column-sparse by the group norm
``||R||_{2,1} = sum_n ||r_n||_2``. Objective (their eq. with beta = 2)::

    0.5 ||Y - M A - R||_F^2 + lam ||R||_{2,1},   M >= 0, A >= 0, 1^T A = 1^T, R >= 0.

Majorisation-minimisation gives multiplicative updates (``Yh = M A + R``, ``*``, ``/``
element-wise, ``D = diag(||r_n||_2)``)::

    R <- R * Y / (Yh + lam R D^-1)
    A <- A * (M^T Y + 1 1^T (M A * Yh)) / (M^T Yh + 1 1^T (M A * Y)),  then columns / their sum
    M <- M * (Y A^T) / (Yh A^T)

(the A update is the heuristic one of the paper for the sum-to-one constraint, obtained from the
change of variable ``a_n = u_n / ||u_n||_1``). Runs batch like ``nmf_l1``: ``M0 (runs, bands, p)``
and ``A0 (runs, p, pixels)``, and stop like it (O): a run stops when its objective fell by less
than ``tol`` (relative) over the last 10 iterations, tested every 10
(:func:`~companion.classic.convergence.descend`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ._tensors import as_tensors, to_numpy
from .convergence import descend

__all__ = ["RNMFResult", "rnmf", "rnmf_objective"]

_EPS = 1e-12


@dataclass
class RNMFResult:
    """``endmembers ([runs,] bands, p)``, ``abundances ([runs,] p, pixels)``, ``outliers ([runs,]
    bands, pixels)``, the objective after each iteration ``(iterations run[, runs])``, and per run
    ``iterations`` (updates applied) and ``converged`` (the stopping rule held), ``([runs])``."""

    endmembers: np.ndarray
    abundances: np.ndarray
    outliers: np.ndarray
    objective: np.ndarray
    iterations: np.ndarray
    converged: np.ndarray


def rnmf_objective(Y, M, A, R, lam: float):
    """``0.5 ||Y - M A - R||_F^2 + lam ||R||_{2,1}`` (tensors or arrays, leading runs axis kept)."""
    Y, M, A, R = (torch.as_tensor(np.asarray(x)) if not torch.is_tensor(x) else x for x in (Y, M, A, R))
    fit = 0.5 * ((Y - M @ A - R) ** 2).sum((-2, -1))
    return fit + lam * torch.linalg.vector_norm(R, dim=-2).sum(-1)


def rnmf(Y, M0, A0, lam: float, n_iter: int = 500, R0=None, device="auto", tol: float = 1e-6) -> RNMFResult:
    """At most ``n_iter`` rounds of the updates from ``M0, A0`` (e.g. VCA + FCLS) and ``R0``
    (default: 1 % of the mean of ``Y`` everywhere, a strictly positive start), stopping per run
    on the rule of the module docstring (``tol = 0``: exactly ``n_iter``). ``Y >= 0``."""
    Y = np.asarray(Y, dtype=np.float64)
    if (Y < 0).any():
        raise ValueError("rNMF needs non-negative data; clip Y first")
    if lam < 0:
        raise ValueError(f"lam must be non-negative, got {lam}")
    if R0 is None:
        R0 = np.full(np.shape(A0)[:-2] + Y.shape, 0.01 * Y.mean())
    _, (Yt, M, A, R) = as_tensors(Y, M0, A0, R0, device=device)
    if M.ndim != A.ndim or M.ndim not in (2, 3):
        raise ValueError(f"M0 and A0 must both be 2-D or both 3-D (runs first), got {M.ndim}, {A.ndim}")
    A = A.clamp(min=_EPS)
    ones = torch.ones(1, Yt.shape[0], dtype=Yt.dtype, device=Yt.device)

    def linear_plus(R, M, A):
        return torch.baddbmm(R, M, A) if M.ndim == 3 else torch.addmm(R, M, A)

    def step(state):
        M, A, R = state
        MA = M @ A
        norms = torch.linalg.vector_norm(R, dim=-2, keepdim=True) + _EPS
        R = R * Yt / (MA + R * (1.0 + lam / norms) + _EPS)
        Yh = MA + R
        up = M.mT @ Yt + ones @ (MA * Yh)
        down = M.mT @ Yh + ones @ (MA * Yt)
        A = A * up / (down + _EPS)
        A = A / A.sum(-2, keepdim=True)
        Yh = linear_plus(R, M, A)
        M = M * (Yt @ A.mT) / (Yh @ A.mT + _EPS)
        return M, A, R

    def objective(state):
        M, A, R = state
        residual = Yt - linear_plus(R, M, A)
        return 0.5 * (residual**2).sum((-2, -1)) + lam * torch.linalg.vector_norm(R, dim=-2).sum(-1)

    (M, A, R), history, iterations, converged = descend(step, (M, A, R), objective, n_iter, tol)
    return RNMFResult(to_numpy(M), to_numpy(A), to_numpy(R), to_numpy(history),
                      to_numpy(iterations).astype(int), to_numpy(converged).astype(bool))
