"""L1-regularised NMF by multiplicative updates (U-ADMM paper eqs. 8-9; Lee & Seung, Hoyer).

Minimises ``0.5 ||Y - A X||_F^2 + lam ||X||_1`` over ``A >= 0`` (bands, p) and ``X >= 0``
(p, pixels). Each update does not increase the objective. Independent runs go together: give
``A0 (runs, bands, p)`` and ``X0 (runs, p, pixels)`` and every result gains that leading axis.

Stopping rule (O): a run stops when its objective fell by less than ``tol`` (relative) over the
last 10 iterations, ``f_{k-10} - f_k <= tol f_k``, tested every 10 iterations
(:func:`~companion.classic.convergence.descend`); a stopped run is frozen while the others go on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._tensors import as_tensors, to_numpy
from .convergence import descend

__all__ = ["NMFResult", "nmf_l1", "nmf_l1_objective"]

_EPS = 1e-12


@dataclass
class NMFResult:
    """``endmembers ([runs,] bands, p)``, ``abundances ([runs,] p, pixels)``, the objective
    after each iteration ``(iterations run[, runs])`` (a stopped run's stays constant), and per
    run ``iterations`` (updates applied) and ``converged`` (the stopping rule held), ``([runs])``."""

    endmembers: np.ndarray
    abundances: np.ndarray
    objective: np.ndarray
    iterations: np.ndarray
    converged: np.ndarray


def nmf_l1_objective(Y, A, X, lam: float) -> float:
    """``0.5 ||Y - A X||_F^2 + lam ||X||_1``."""
    return float(0.5 * np.sum((Y - A @ X) ** 2) + lam * np.abs(X).sum())


def nmf_l1(
    Y,
    p: int | None = None,
    lam: float = 0.0,
    A0=None,
    X0=None,
    n_iter: int = 500,
    seed: int = 0,
    device="auto",
    tol: float = 1e-6,
) -> NMFResult:
    """At most ``n_iter`` multiplicative updates from ``A0, X0`` (random uniform when omitted),
    stopping per run on the rule of the module docstring (``tol = 0``: exactly ``n_iter``).

    ``Y: (bands, pixels)`` must be non-negative; ``p`` is needed only without ``A0``.
    """
    Y = np.asarray(Y, dtype=np.float64)
    if (Y < 0).any():
        raise ValueError("NMF needs non-negative data; clip or shift Y first")
    rng = np.random.default_rng(seed)
    if A0 is None:
        if p is None:
            raise ValueError("give p or A0")
        A0 = rng.uniform(0.0, 1.0, (Y.shape[0], p))
    if X0 is None:
        X0 = rng.uniform(0.0, 1.0, (np.shape(A0)[1], Y.shape[1]))
        X0 /= X0.sum(0, keepdims=True)
    _, (Yt, A, X) = as_tensors(Y, A0, X0, device=device)
    if A.ndim != X.ndim or A.ndim not in (2, 3):
        raise ValueError(f"A0 and X0 must both be 2-D or both 3-D (runs first), got {A.ndim}, {X.ndim}")

    def step(state):
        A, X = state
        X = X * (A.mT @ Yt) / (A.mT @ A @ X + lam + _EPS)
        A = A * (Yt @ X.mT) / (A @ (X @ X.mT) + _EPS)
        return A, X

    def objective(state):
        A, X = state
        return 0.5 * ((Yt - A @ X) ** 2).sum((-2, -1)) + lam * X.sum((-2, -1))

    (A, X), history, iterations, converged = descend(step, (A, X), objective, n_iter, tol)
    return NMFResult(to_numpy(A), to_numpy(X), to_numpy(history), to_numpy(iterations).astype(int),
                     to_numpy(converged).astype(bool))
