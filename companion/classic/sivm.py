"""SiVM endmember extraction as the U-ADMM official code uses it (Zhou et al.'s
``train_UADMMBUNet.py``, ``endmember_estimation_method='SiVM'``, after UnDIP's ``Endmember_extract``).

Two steps:

1. *Denoise*: the rank-``p`` truncated SVD of the image (no centring), clipped to ``[0, 1]``.
2. *Select* ``p`` pixels of the denoised image greedily (simplex volume maximisation): first the
   pixel of largest norm; then, given the selected pixels ``s_1..s_v`` with squared distances
   ``D (v, v)``, the pixel ``i`` maximising ``c_i^T M^-1 c_i`` with
   ``c_i = [d(i, s_1) .. d(i, s_v), 1]`` and ``M = [[D, 1], [1^T, 0]]`` (a Cayley-Menger
   criterion, ``d`` the squared Euclidean distance).

The endmembers are the *denoised, clipped* pixels at the selected indices. The official code then
reorders them against the true endmembers (nearest in Euclidean distance), a step that uses the
ground truth; we do not: our scores match endmembers by the Hungarian method anyway.
"""

from __future__ import annotations

import numpy as np

__all__ = ["sivm_denoise", "sivm_select", "sivm"]


def sivm_denoise(Y: np.ndarray, p: int) -> np.ndarray:
    """Rank-``p`` SVD approximation of ``Y: (bands, pixels)``, clipped to ``[0, 1]``."""
    U, s, Vt = np.linalg.svd(np.asarray(Y, dtype=np.float64), full_matrices=False)
    return np.clip((U[:, :p] * s[:p]) @ Vt[:p], 0.0, 1.0)


def sivm_select(X: np.ndarray, p: int) -> np.ndarray:
    """Indices ``(p,)`` of the pixels of ``X: (bands, pixels)`` chosen by the greedy
    Cayley-Menger volume criterion (module docstring)."""
    X = np.asarray(X, dtype=np.float64)
    norms = np.sum(X**2, axis=0)                                    # (N,)
    chosen = [int(np.argmax(norms))]
    dist = [norms - 2 * X[:, chosen[0]] @ X + norms[chosen[0]]]      # squared distances (N,)
    for v in range(1, p):
        C = np.vstack([*dist, np.ones(X.shape[1])])                  # (v + 1, N)
        D = C[:v, chosen]                                            # (v, v)
        M = np.block([[D, np.ones((v, 1))], [np.ones((1, v)), np.zeros((1, 1))]])
        volume = np.einsum("in,in->n", C, np.linalg.solve(M, C))     # c_i^T M^-1 c_i (M symmetric)
        chosen.append(int(np.argmax(volume)))
        dist.append(norms - 2 * X[:, chosen[-1]] @ X + norms[chosen[-1]])
    return np.array(chosen)


def sivm(Y: np.ndarray, p: int) -> tuple[np.ndarray, np.ndarray]:
    """SiVM endmembers of ``Y: (bands, pixels)``: ``(E (bands, p), indices (p,))``, ``E`` taken
    from the denoised, clipped image."""
    X = sivm_denoise(Y, p)
    idx = sivm_select(X, p)
    return X[:, idx], idx
