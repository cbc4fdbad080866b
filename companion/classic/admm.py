"""Plain ADMM for non-negative l1-regularised least squares, fixed penalty (Zhou et al., eqs. 4-6).

For each pixel ``y`` (a column of ``Y``) and endmembers ``A``::

    min_{x >= 0}  1/2 ||y - A x||^2 + lam ||x||_1

split as ``x = z`` with scaled dual ``d``, from ``z_0 = d_0 = 0``::

    x_{k+1} = (A^T A + mu I)^{-1} (A^T y + mu (z_k + d_k))
    z_{k+1} = max(soft(x_{k+1} - d_k, lam / mu), 0)
    d_{k+1} = d_k - (x_{k+1} - z_{k+1})

These are the iterations that U-ADMM-AENet unfolds (``companion.nets.admm_unfolding``): at its
ADMM start the network with ``K`` blocks equals ``K`` of them (``K + 1`` at the official code's
depth). Unlike :func:`companion.classic.sunsal.sunsal` the penalty ``mu`` stays fixed and there is
no sum-to-one constraint; plain NumPy float64, for checking the network.
"""

from __future__ import annotations

import numpy as np

__all__ = ["plain_admm"]


def plain_admm(Y: np.ndarray, A: np.ndarray, lam: float, mu: float, K: int) -> np.ndarray:
    """``z_K (p, pixels)`` after ``K`` iterations of eqs. 4-6 on ``Y (bands, pixels)`` with
    endmembers ``A (bands, p)``, l1 weight ``lam`` and penalty ``mu`` (both > 0 for mu)."""
    if mu <= 0:
        raise ValueError(f"mu must be > 0, got {mu}")
    p = A.shape[1]
    inv = np.linalg.inv(A.T @ A + mu * np.eye(p))
    z = np.zeros((p, Y.shape[1]))
    d = np.zeros_like(z)
    for _ in range(K):
        x = inv @ (A.T @ Y + mu * (z + d))
        v = x - d
        z = np.maximum(np.sign(v) * np.maximum(np.abs(v) - lam / mu, 0.0), 0.0)
        d = d - (x - z)
    return z
