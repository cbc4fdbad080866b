"""Vertex component analysis (Nascimento & Bioucas-Dias, IEEE TGRS 2005).

Projects the data on its signal subspace (projective projection at high SNR, affine projection
plus a constant coordinate at low SNR), then picks ``p`` extreme pixels by repeatedly projecting
onto a random direction orthogonal to the endmembers found so far.

``branch`` chooses the projection: ``"auto"`` (the reference code: projective when the estimated
SNR exceeds ``15 + 10 log10 p`` dB, else affine), or ``"projective"`` / ``"affine"`` forced. The
projective branch divides each pixel by its projection on the mean direction, which inflates
dark pixels (Jasper Ridge's water): there it never selects the road, the affine branch does.

``directions`` chooses how the random directions are drawn:

- ``"uniform"`` (default; C: the reference MATLAB code ``VCA.m`` draws ``w = rand(p, 1)`` and
  HySUPP's Python translation ``generator.random((p, 1))``): each direction uniform on
  ``[0, 1]^p``. A uniform draw is not symmetric, so the picks depend on the sign of each
  subspace basis vector; as in the reference codes the basis is the left singular vectors of
  the (centred or not) covariance ``Y Y^T / N`` from the LAPACK SVD, signs as it returns them.
  With the same seed the picks equal HySUPP's ``VCA.extract_endmembers`` (20 of 20 seeds on
  Samson and Jasper).
- ``"normal"`` (the book's draw before issue 28, O): standard normal directions, and the basis
  from a symmetric eigendecomposition (signs as ``numpy.linalg.eigh`` returns them); kept so that
  records computed with it can be reproduced exactly. Its picks differ from the reference code's
  for the same seed (the set of extreme pixels it can reach is the same).

Flipping a basis vector's sign is the same as flipping that coordinate of the drawn direction, so
the two options differ only in which directions a seed produces.
"""

from __future__ import annotations

import numpy as np

__all__ = ["VCA_BRANCHES", "VCA_DIRECTIONS", "estimate_snr_db", "vca"]

VCA_BRANCHES = ("auto", "projective", "affine")
VCA_DIRECTIONS = ("uniform", "normal")


def _top_eigenvectors(C: np.ndarray, k: int, directions: str = "uniform") -> np.ndarray:
    """The ``k`` leading eigenvectors ``(bands, k)`` of the symmetric PSD ``C``; the signs follow
    the reference code (SVD) for ``"uniform"``, ``eigh`` for ``"normal"`` (module docstring)."""
    if directions == "uniform":
        return np.linalg.svd(C)[0][:, :k]
    values, vectors = np.linalg.eigh(C)
    return vectors[:, np.argsort(values)[::-1][:k]]


def estimate_snr_db(Y: np.ndarray, p: int) -> float:
    """VCA's SNR estimate (dB) from the power captured by the ``p``-dim signal subspace."""
    L, N = Y.shape
    mean = Y.mean(axis=1, keepdims=True)
    Yc = Y - mean
    Ud = _top_eigenvectors(Yc @ Yc.T / N, p)
    x = Ud.T @ Yc
    p_y = np.sum(Y**2) / N
    p_x = np.sum(x**2) / N + float(np.sum(mean**2))
    if p_y - p_x <= 0:
        return np.inf
    return float(10 * np.log10(max(p_x - p / L * p_y, 1e-300) / (p_y - p_x)))


def vca(Y, p: int, seed: int = 0, snr_db: float | None = None, branch: str = "auto",
        directions: str = "uniform") -> tuple[np.ndarray, np.ndarray]:
    """Extract ``p`` endmembers. ``Y: (bands, pixels)``.

    ``snr_db`` replaces the SNR estimate of the ``"auto"`` branch choice; ``branch`` forces one
    projection; ``directions`` is ``"uniform"`` (the reference code, default) or ``"normal"``
    (the book's former draw); see the module docstring.

    Returns ``(E (bands, p), indices (p,))``: the chosen pixels, taken (as in the reference
    implementation) from the data projected on the estimated signal subspace.
    """
    Y = np.asarray(Y, dtype=np.float64)
    L, N = Y.shape
    if not 1 <= p <= min(L, N):
        raise ValueError(f"p must lie in [1, min(bands, pixels)] = [1, {min(L, N)}], got {p}")
    if branch not in VCA_BRANCHES:
        raise ValueError(f"branch must be one of {VCA_BRANCHES}, got {branch!r}")
    if directions not in VCA_DIRECTIONS:
        raise ValueError(f"directions must be one of {VCA_DIRECTIONS}, got {directions!r}")
    rng = np.random.default_rng(seed)
    if branch == "auto":
        snr = estimate_snr_db(Y, p) if snr_db is None else snr_db
        branch = "affine" if snr < 15 + 10 * np.log10(p) else "projective"
    if branch == "affine":
        d = p - 1
        mean = Y.mean(axis=1, keepdims=True)
        Ud = _top_eigenvectors((Y - mean) @ (Y - mean).T / N, d, directions)
        x = Ud.T @ (Y - mean)
        projected = Ud @ x + mean
        c = np.sqrt(np.max(np.sum(x**2, axis=0)))
        y = np.vstack([x, np.full((1, N), c)])
    else:
        Ud = _top_eigenvectors(Y @ Y.T / N, p, directions)
        x = Ud.T @ Y
        projected = Ud @ x
        u = x.mean(axis=1, keepdims=True)
        y = x / (u.T @ x)
    A = np.zeros((p, p))
    A[-1, 0] = 1.0
    indices = np.zeros(p, dtype=int)
    for i in range(p):
        w = rng.random(p) if directions == "uniform" else rng.standard_normal(p)
        f = w - A @ np.linalg.pinv(A) @ w
        f /= np.linalg.norm(f)
        indices[i] = int(np.argmax(np.abs(f @ y)))
        A[:, i] = y[:, indices[i]]
    return projected[:, indices], indices
