"""Every error measure the five papers use, each under its own name, and endmember matching.

Shapes: endmembers ``E: (bands, p)``, abundances ``A: (p, pixels)``. Angles are in radians;
use :func:`degrees` only for display. All functions accept numpy arrays (or anything
``np.asarray`` takes) and are vectorised over pixels and endmembers.

Which paper uses what:

=============================  ==============================================================
``sad``                        all five (per endmember, after matching); ATE and U-ADMM mean it
``aad``, ``aid``               U-ADMM (Zhou): per pixel, averaged over pixels
``rmse_per_pixel_mean``        ATE/Ksiazek, U-ADMM, NMF-SAE: mean over pixels of per-pixel RMSE
``rmse_global``                DeepGU eq. 14: sqrt(mean squared error) over the whole array
``rmse_global_percent``        HySUPP: 100 * rmse_global
``relative_frobenius_error``   ||X - X*||_F / ||X*||_F (DeepGU-style normalised error)
``sre_db``                     signal-to-reconstruction error in dB (sparse unmixing papers)
``sam_pixelwise``              DeepGU eq. 15: spectral angle of per-pixel endmembers
=============================  ==============================================================

Matching: :func:`match_endmembers` (on SAD, the book's default) or :func:`match_abundances` (on
the abundance maps, HySUPP's); :func:`score_estimate` gives every metric above for one estimate
under either, named and in stated units.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy.optimize import linear_sum_assignment

__all__ = [
    "MATCHING_METHODS",
    "aad",
    "aid",
    "degrees",
    "finite_or_none",
    "MATCH_ON",
    "match_abundances",
    "match_endmembers",
    "relative_frobenius_error",
    "rmse_global",
    "rmse_global_percent",
    "rmse_per_pixel_mean",
    "sad",
    "sam_pixelwise",
    "sam_pixelwise_mean",
    "score_estimate",
    "score_runs",
    "sre_db",
]

_EPS = 1e-12


def _safe_norm(X: np.ndarray) -> np.ndarray:
    """Column norms ``(1, n)``, with 1 for all-zero columns (their angle is then pi/2)."""
    norms = np.linalg.norm(X, axis=0, keepdims=True)
    return np.where(norms > 0, norms, 1.0)


def _angle_between_columns(X: np.ndarray, Z: np.ndarray) -> np.ndarray:
    """Angle (rad) between matching columns of ``X`` and ``Z`` (same shape, ``(d, n)``).

    Computed as ``2 atan2(|u - v|, |u + v|)`` on the unit vectors, which equals
    ``arccos(u.v)`` but stays accurate for tiny angles (arccos loses half the digits there).
    """
    X = np.asarray(X, dtype=np.float64)
    Z = np.asarray(Z, dtype=np.float64)
    if X.shape != Z.shape:
        raise ValueError(f"shape mismatch: {X.shape} vs {Z.shape}")
    U = X / _safe_norm(X)
    V = Z / _safe_norm(Z)
    return 2.0 * np.arctan2(np.linalg.norm(U - V, axis=0), np.linalg.norm(U + V, axis=0))


def sad(E_true: np.ndarray, E_est: np.ndarray) -> np.ndarray:
    """Spectral angle distance per endmember, radians: ``arccos(<m, m*> / (|m| |m*|))``.

    ``E_true, E_est: (bands, p)``, columns already matched. Returns ``(p,)``. Scale-invariant.
    """
    return _angle_between_columns(E_true, E_est)


def aad(A_true: np.ndarray, A_est: np.ndarray) -> np.ndarray:
    """Abundance angle distance per pixel, radians (U-ADMM eq. 17). ``A: (p, pixels)``."""
    return _angle_between_columns(A_true, A_est)


def aid(A_true: np.ndarray, A_est: np.ndarray, eps: float = 1e-9) -> np.ndarray:
    """Abundance information divergence per pixel (U-ADMM eqs. 18-19), nats.

    Symmetric KL divergence ``KL(a|a*) + KL(a*|a)`` between the abundance vectors, each
    renormalised to sum to one; ``eps`` guards zero fractions. ``A: (p, pixels)`` -> ``(pixels,)``.
    """
    P = np.asarray(A_true, dtype=np.float64) + eps
    Q = np.asarray(A_est, dtype=np.float64) + eps
    P = P / P.sum(axis=0, keepdims=True)
    Q = Q / Q.sum(axis=0, keepdims=True)
    return np.sum((P - Q) * (np.log(P) - np.log(Q)), axis=0)


def rmse_per_pixel_mean(A_true: np.ndarray, A_est: np.ndarray) -> float:
    """Mean over pixels of the per-pixel RMSE: ``mean_n sqrt(mean_p (a_pn - a*_pn)^2)``.

    Used by ATE / Ksiazek et al., U-ADMM (Zhou, Sec. IV-A) and NMF-SAE. ``A: (p, pixels)``.
    """
    diff = np.asarray(A_true, dtype=np.float64) - np.asarray(A_est, dtype=np.float64)
    return float(np.mean(np.sqrt(np.mean(diff**2, axis=0))))


def rmse_global(X_true: np.ndarray, X_est: np.ndarray) -> float:
    """Global RMSE over every entry: ``sqrt(||X - X*||_F^2 / N)`` (DeepGU eq. 14)."""
    diff = np.asarray(X_true, dtype=np.float64) - np.asarray(X_est, dtype=np.float64)
    return float(np.sqrt(np.mean(diff**2)))


def rmse_global_percent(X_true: np.ndarray, X_est: np.ndarray) -> float:
    """Global RMSE in percent, ``100 * rmse_global`` (HySUPP's aRMSE/eRMSE convention)."""
    return 100.0 * rmse_global(X_true, X_est)


def relative_frobenius_error(X_true: np.ndarray, X_est: np.ndarray) -> float:
    """Relative Frobenius error ``||X - X*||_F / ||X*||_F`` (unitless)."""
    X_true = np.asarray(X_true, dtype=np.float64)
    return float(np.linalg.norm(X_true - np.asarray(X_est)) / np.linalg.norm(X_true))


def sre_db(X_true: np.ndarray, X_est: np.ndarray) -> float:
    """Signal-to-reconstruction error in dB: ``10 log10(||X*||_F^2 / ||X - X*||_F^2)``."""
    X_true = np.asarray(X_true, dtype=np.float64)
    err = np.sum((X_true - np.asarray(X_est)) ** 2)
    return float(10.0 * np.log10(np.sum(X_true**2) / max(err, _EPS**2)))


def sam_pixelwise(M_true: np.ndarray, M_est: np.ndarray) -> float:
    """DeepGU eq. 15: ``(1/N) sum_n sum_p angle(m_pn, m*_pn)``, radians.

    ``M_true, M_est: (pixels, bands, p)`` per-pixel endmember matrices. Note the sum, not the
    mean, over endmembers, exactly as the paper writes it.
    """
    M_true = np.asarray(M_true, dtype=np.float64)
    M_est = np.asarray(M_est, dtype=np.float64)
    if M_true.shape != M_est.shape or M_true.ndim != 3:
        raise ValueError(f"expected equal (pixels, bands, p) shapes, got {M_true.shape}, {M_est.shape}")
    cos = np.sum(M_true * M_est, axis=1) / (
        np.linalg.norm(M_true, axis=1) * np.linalg.norm(M_est, axis=1) + _EPS
    )
    return float(np.mean(np.sum(np.arccos(np.clip(cos, -1.0, 1.0)), axis=1)))


def sam_pixelwise_mean(M_true: np.ndarray, M_est: np.ndarray) -> float:
    """Mean per-pixel, per-endmember angle (rad): eq. 15 divided by P, as DeepGU's reference code
    computes it (``sum / (N P)``). ``M: (pixels, bands, p)``."""
    return sam_pixelwise(M_true, M_est) / np.shape(M_true)[2]


# ------------------------------------------------------------------------------ matching
def _pairwise_sad(E_true: np.ndarray, E_est: np.ndarray) -> np.ndarray:
    """``(p_true, p_est)`` matrix of spectral angles (rad) between all column pairs."""
    T = E_true / (np.linalg.norm(E_true, axis=0, keepdims=True) + _EPS)
    S = E_est / (np.linalg.norm(E_est, axis=0, keepdims=True) + _EPS)
    return np.arccos(np.clip(T.T @ S, -1.0, 1.0))


def _match_permutation(E_true: np.ndarray, E_est: np.ndarray) -> np.ndarray:
    """Exhaustive search: the permutation with the smallest mean SAD (p! candidates)."""
    p = E_true.shape[1]
    if p > 9:
        raise ValueError(f"exhaustive matching of p={p} endmembers is too slow; use 'hungarian'")
    cost = _pairwise_sad(E_true, E_est)
    perms = np.array(list(itertools.permutations(range(E_est.shape[1]), p)))
    totals = cost[np.arange(p), perms].sum(axis=1)
    return perms[int(np.argmin(totals))]


def _match_hungarian(E_true: np.ndarray, E_est: np.ndarray) -> np.ndarray:
    """Optimal assignment on spectral angle (scipy's ``linear_sum_assignment``)."""
    rows, cols = linear_sum_assignment(_pairwise_sad(E_true, E_est))
    return cols[np.argsort(rows)]


def _match_greedy_euclidean(E_true: np.ndarray, E_est: np.ndarray) -> np.ndarray:
    """Greedy by Euclidean distance, as the U-ADMM code does: repeatedly take the closest
    remaining (true, estimate) pair."""
    dist = np.linalg.norm(E_true[:, :, None] - E_est[:, None, :], axis=0)
    perm = np.full(E_true.shape[1], -1)
    for _ in range(E_true.shape[1]):
        i, j = np.unravel_index(np.argmin(dist), dist.shape)
        perm[i] = j
        dist[i, :] = np.inf
        dist[:, j] = np.inf
    return perm


MATCHING_METHODS = {
    "permutation": _match_permutation,
    "hungarian": _match_hungarian,
    "greedy_euclidean": _match_greedy_euclidean,
}


def match_endmembers(E_true: np.ndarray, E_est: np.ndarray, method: str = "hungarian") -> np.ndarray:
    """Permutation ``perm`` such that ``E_est[:, perm]`` is aligned with ``E_true``.

    ``E_true: (bands, p)``, ``E_est: (bands, q)`` with ``q >= p``. Methods:
    ``"permutation"`` (exhaustive, smallest mean SAD; small p), ``"hungarian"`` (optimal
    assignment on SAD), ``"greedy_euclidean"`` (U-ADMM code). Apply the same permutation to
    the estimated abundances' rows: ``A_est[perm]``.
    """
    try:
        matcher = MATCHING_METHODS[method]
    except KeyError:
        raise ValueError(f"method must be one of {sorted(MATCHING_METHODS)}, got {method!r}") from None
    E_true = np.asarray(E_true, dtype=np.float64)
    E_est = np.asarray(E_est, dtype=np.float64)
    if E_true.shape[0] != E_est.shape[0] or E_est.shape[1] < E_true.shape[1]:
        raise ValueError(f"cannot match {E_est.shape} estimates to {E_true.shape} references")
    return np.asarray(matcher(E_true, E_est), dtype=int)


def match_abundances(A_true: np.ndarray, A_est: np.ndarray) -> np.ndarray:
    """Permutation ``perm`` such that ``A_est[perm]`` is aligned with ``A_true``, matched on the
    abundance maps: optimal assignment on the mean squared error between rows (HySUPP's
    abundance aligner). ``A_true: (p, pixels)``, ``A_est: (q, pixels)`` with ``q >= p``. Apply
    the same permutation to the endmembers' columns: ``E_est[:, perm]``.
    """
    A_true = np.asarray(A_true, dtype=np.float64)
    A_est = np.asarray(A_est, dtype=np.float64)
    if A_true.shape[1] != A_est.shape[1] or A_est.shape[0] < A_true.shape[0]:
        raise ValueError(f"cannot match {A_est.shape} abundances to {A_true.shape} references")
    mse = np.mean((A_true[:, None, :] - A_est[None, :, :]) ** 2, axis=2)
    rows, cols = linear_sum_assignment(mse)
    return cols[np.argsort(rows)]


MATCH_ON = ("sad", "abundances")


def score_estimate(E_true: np.ndarray, A_true: np.ndarray | None, E_est: np.ndarray,
                   A_est: np.ndarray, match_on: str = "sad") -> dict:
    """Every metric users compare with, of one estimate, under one named matching.

    ``E: (bands, p)``, ``A: (p, pixels)``; ``A_true`` may be None (no reference abundances).
    ``match_on``: ``"sad"`` (optimal assignment on the spectral angle, the book's default) or
    ``"abundances"`` (on the abundance maps' MSE, HySUPP's; needs ``A_true``). Returns floats:
    ``sad_rad`` / ``sad_deg`` (per endmember, lists in the truth's order), ``sad_mean_rad``,
    ``sad_mean_deg``, and with ``A_true``: ``armse_percent`` (global aRMSE, %),
    ``rmse_per_pixel_mean`` (fractions), ``rmse_per_endmember`` (per abundance map, list) and
    ``sre_db`` (abundances, dB).
    """
    if match_on not in MATCH_ON:
        raise ValueError(f"match_on must be one of {MATCH_ON}, got {match_on!r}")
    if match_on == "abundances":
        if A_true is None:
            raise ValueError("match_on='abundances' needs reference abundances; use match_on='sad'")
        perm = match_abundances(A_true, A_est)
    else:
        perm = match_endmembers(E_true, E_est)
    E, A = np.asarray(E_est, dtype=np.float64)[:, perm], np.asarray(A_est, dtype=np.float64)[perm]
    angles = sad(E_true, E)
    scores = {"match_on": match_on, "sad_rad": angles.tolist(), "sad_deg": degrees(angles).tolist(),
              "sad_mean_rad": float(angles.mean()), "sad_mean_deg": float(degrees(angles.mean()))}
    if A_true is not None:
        A_true = np.asarray(A_true, dtype=np.float64)
        scores |= {"armse_percent": rmse_global_percent(A_true, A),
                   "rmse_per_pixel_mean": rmse_per_pixel_mean(A_true, A),
                   "rmse_per_endmember": np.sqrt(np.mean((A_true - A) ** 2, axis=1)).tolist(),
                   "sre_db": sre_db(A_true, A)}
    return scores


def degrees(radians):
    """Radians to degrees, for display only."""
    return np.degrees(radians)


# ------------------------------------------------------------------------------ runs
def finite_or_none(values) -> list:
    """A per-run array as a JSON-safe list of floats: non-finite entries become None."""
    return [float(v) if np.isfinite(v) else None for v in np.asarray(values, dtype=float)]


def score_runs(E_true: np.ndarray, A_true: np.ndarray | None, E_runs: np.ndarray, A_runs: np.ndarray,
               matching: str = "hungarian", sad_unit: str = "rad") -> dict:
    """Per-run scores of ``E_runs (runs, bands, p)`` and ``A_runs (runs, p, pixels)`` against the
    truth ``E_true (bands, p)``, ``A_true (p, pixels)``: the one run-scoring function of the book.

    Each run's endmembers are matched to the truth (:func:`match_endmembers`, ``matching``) and
    its abundances reordered alike. Returns lists over runs:

    * ``sad``: SAD per true endmember in ``sad_unit`` (``"rad"``, default, or ``"deg"``, as the
      U-ADMM paper's tables), in the truth's order (:func:`sad`);
    * ``sad_mean``: their mean, in the same unit;
    * ``rmse``: :func:`rmse_per_pixel_mean` of the matched abundances (abundance fractions,
      unitless); the whole list is None when ``A_true`` is None (a scene without reference
      abundances);
    * ``diverged``: True for a run with non-finite estimates, whose metrics are None.
    """
    if sad_unit not in ("rad", "deg"):
        raise ValueError(f"sad_unit must be 'rad' or 'deg', got {sad_unit!r}")
    sad_runs, rmse, diverged = [], [], []
    for E, A in zip(E_runs, A_runs, strict=True):
        bad = not (np.isfinite(E).all() and np.isfinite(A).all())
        diverged.append(bad)
        if bad:
            sad_runs.append(None)
            rmse.append(None)
            continue
        perm = match_endmembers(E_true, E, method=matching)
        angles = sad(E_true, E[:, perm])
        sad_runs.append((degrees(angles) if sad_unit == "deg" else angles).tolist())
        rmse.append(None if A_true is None else float(rmse_per_pixel_mean(A_true, A[perm])))
    return {"sad": sad_runs, "sad_mean": [None if s is None else float(np.mean(s)) for s in sad_runs],
            "rmse": None if A_true is None else rmse, "diverged": diverged}
