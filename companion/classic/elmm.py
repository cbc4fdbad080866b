"""Extended linear mixing model (ELMM, Drumetz et al., IEEE TIP 2016), scaling form.

Each pixel's endmembers are the reference ones scaled per material, ``M_n = M0 diag(psi_n)``::

    min_{A, Psi}  1/2 sum_n ||y_n - M0 diag(psi_n) a_n||^2 + lam_psi/2 sum_n ||psi_n - 1||^2
                  + lam_A (||H_h A||_{2,1} + ||H_v A||_{2,1}),   a_n on the simplex, psi_n >= 0.

This is Drumetz's model with the endmember matrix tied exactly to ``M0 diag(psi_n)`` (his
``lambda_S -> infinity``) and a Tikhonov prior pulling the scalings towards 1 in place of his
spatial smoothness on ``psi``. Alternating minimisation: the abundance step is
:func:`unmix_tv`; the scaling step is a closed-form P x P ridge solve for all pixels at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .fcls import fcls
from .tv_unmixing import unmix_tv

__all__ = ["ELMMResult", "elmm", "elmm_scalings"]


@dataclass
class ELMMResult:
    """``abundances (P, N)``, ``scalings (P, N)``, per-pixel ``endmembers (N, L, P)``, outer
    ``iterations`` run."""

    abundances: np.ndarray
    scalings: np.ndarray
    endmembers: np.ndarray
    iterations: int


def elmm_scalings(Y, M0, A, lam_psi: float) -> np.ndarray:
    """Scaling step: ``psi_n = argmin ||y_n - M0 diag(a_n) psi||^2 + lam_psi ||psi - 1||^2``,
    clipped at 0, for every pixel at once. ``Y (L, N)``, ``M0 (L, P)``, ``A (P, N)`` -> ``(P, N)``."""
    Y, M0, A = (torch.as_tensor(np.asarray(x), dtype=torch.float64) for x in (Y, M0, A))
    P = M0.shape[1]
    G = M0.T @ M0
    lhs = A.T[:, :, None] * G[None] * A.T[:, None, :] + lam_psi * torch.eye(P, dtype=torch.float64)
    rhs = A.T * (Y.T @ M0) + lam_psi
    return torch.linalg.solve(lhs, rhs).clamp(min=0.0).T.numpy()


def elmm(Y, M0, rows: int, cols: int, lam_psi: float = 1e-2, lam_A: float = 0.0, A0=None,
         iterations: int = 20, tol: float = 1e-3, admm_iterations: int = 100) -> ELMMResult:
    """ELMM by alternating minimisation from ``A0`` (default FCLS) and ``psi = 1``.

    ``Y (L, N)`` with pixels in row-major image order, ``M0 (L, P)``. Stops after ``iterations``
    outer steps or when the relative change of both A and psi is below ``tol``.
    """
    Y, M0 = np.asarray(Y, dtype=np.float64), np.asarray(M0, dtype=np.float64)
    A = fcls(Y, M0, device="cpu") if A0 is None else np.asarray(A0, dtype=np.float64)
    psi = np.ones_like(A)
    for it in range(1, iterations + 1):
        run = it
        psi_new = elmm_scalings(Y, M0, A, lam_psi)
        M = M0[None] * psi_new.T[:, None, :]
        A_new = unmix_tv(Y, M, rows, cols, lam_A, A0=A, iterations=admm_iterations)
        change = max(np.linalg.norm(A_new - A) / np.linalg.norm(A),
                     np.linalg.norm(psi_new - psi) / np.linalg.norm(psi))
        A, psi = A_new, psi_new
        if change < tol:
            break
    return ELMMResult(A, psi, M0[None] * psi.T[:, None, :], run)
