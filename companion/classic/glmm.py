"""Generalised linear mixing model (GLMM, Imbiriba, Borsoi and Bermudez, IEEE TGRS 2018).

ELMM with one scaling per pixel, band *and* material, ``S_n ~ M0 * Psi_n`` with ``Psi_n (L, P)``
smooth in space; solved by the alternating solver of :func:`companion.classic.elmm.scaled_mixing`
(the reference code's ``GLMM_ADMM.m`` differs from ``ELMM_ADMM.m`` only in this scaling shape).
"""

from __future__ import annotations

from .elmm import ELMMResult, scaled_mixing

__all__ = ["glmm"]


def glmm(Y, M0, rows: int, cols: int, lam_m: float = 1.0, lam_a: float = 0.05, lam_psi: float = 1e3,
         A0=None, iterations: int = 20, tol: float = 1e-3, admm_iterations: int = 100,
         norm: str = "1,1", device="auto", admm_tol: float = 1e-5) -> ELMMResult:
    """GLMM from ``A0 (P, N)`` (default FCLS). ``Y (L, N)``, ``M0 (L, P)``; ``scalings (N, L, P)``.
    Defaults are the reference code's example 1 (``lambda_m`` 1, ``lambda_a`` 0.05,
    ``lambda_psi`` 1e3)."""
    return scaled_mixing(Y, M0, rows, cols, lam_m, lam_a, lam_psi, True, A0=A0, iterations=iterations,
                         tol=tol, admm_iterations=admm_iterations, norm=norm, device=device,
                         admm_tol=admm_tol)
