"""Checks of a dataset's ground truth against its image."""

from __future__ import annotations

import numpy as np

__all__ = ["fit_endmember_scales"]


def fit_endmember_scales(Y: np.ndarray, M: np.ndarray, A: np.ndarray) -> tuple[np.ndarray, float]:
    """Least-squares scales ``s (p,)`` for ``Y ~ M diag(s) A`` and the relative residual.

    ``Y: (bands, pixels)``, ``M: (bands, p)``, ``A: (p, pixels)``. Solves the ``p x p`` normal
    equations ``((M^T M) * (A A^T)) s = diag(M^T Y A^T)``. Scales near 1 mean the ground-truth
    endmembers are on the image's scale; Samson's (normalised to max 1) are not.
    """
    G = (M.T @ M) * (A @ A.T)
    b = np.einsum("bk,bn,kn->k", M, Y, A)
    s = np.linalg.solve(G, b)
    residual = np.linalg.norm(Y - (M * s) @ A) / np.linalg.norm(Y)
    return s, float(residual)
