"""Simplex identification via split augmented Lagrangian (SISAL; Bioucas-Dias, WHISPERS 2009).

Minimum-volume unmixing: the endmembers are the vertices of a small simplex that contains the
data, so no pure pixel is needed. The data ``Y: (bands, N)`` is first reduced to the affine set of
dimension ``p - 1`` that best fits it (mean plus the ``p - 1`` leading principal directions) and
written in an orthonormal basis ``U (bands, p)`` of its linear span: ``y = U^T Y_p (p, N)``. With
``M (p, p)`` the endmembers in those coordinates and ``Q = M^{-1}``, the abundances are ``Q y``
and SISAL solves

    min_Q  -log |det Q| + tau * sum_ij max(-(Q y)_ij, 0)    s.t.  1^T Q = q_m^T,

the first term the log-volume of the simplex, the second a soft ("hinge") positivity constraint
on the abundances (robust to noise and outliers), the constraint the sum-to-one of the
abundances (``q_m^T y = 1^T`` by least squares). Endmembers ``E = U Q^{-1}``.

Algorithm (P, the paper's): a sequence of ``mm_iters`` convex subproblems in which
``-log|det Q|`` is replaced by its linearisation at the current ``Q_k`` plus
``(lam / 2) ||Q - Q_k||^2``, each solved approximately by ADMM on the split ``Z = Q y``
(``al_iters`` iterations, 100 in the last subproblem), followed by halving the step towards
``Q_k`` until the true objective does not increase. The ADMM steps (ours, derived from the same
Lagrangian, not copied):

- ``Q``-step: ``Q F = R - 1 nu^T`` with ``F = lam I + mu y y^T``, ``R = lam Q_k + Q_k^{-T} +
  mu (Z + D) y^T`` and ``nu`` the multiplier of ``1^T Q = q_m^T``, solved in closed form;
- ``Z``-step: the proximal map of the hinge, ``v -> v + tau/mu`` below ``-tau/mu``, ``0`` on
  ``[-tau/mu, 0]``, ``v`` above;
- ``D <- D - (Q y - Z)``.

Stops when ten subproblems in a row lowered the objective by less than ``tol`` (relative) in
all (``converged``; single steps can be tiny while the ADMM variables warm up), else after
``mm_iters``; a subproblem whose step does not descend keeps ``Q_k`` (its ADMM variables go
on). One host read per subproblem (the line search).

Defaults: ``tau=1``, ``mu=1000 p / N``, ``mm_iters=80``, ``al_iters=4`` (P: the paper's
``sisal.m`` defaults); ``lam=1e-6`` (C: ``sisal.m``'s ``lam_quad``); no spherisation (C: HySUPP
found it worse in SAD; also O: simpler); start ``M0`` from VCA with ``seed`` (P) unless given;
``tol=1e-6`` (O). HySUPP's Python port uses ``tau=1e-6``, ``mu=1`` and 40 subproblems instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ._tensors import as_tensors, to_numpy
from .vca import vca

__all__ = ["SISALResult", "sisal", "sisal_objective", "affine_coordinates"]


@dataclass
class SISALResult:
    """``endmembers (bands, p)``, ``abundances (p, pixels)`` (``Q y``: sum to one, may be slightly
    negative where the hinge lets a pixel out), ``objective (iterations + 1,)`` from the start,
    ``iterations`` (subproblems) and ``converged``."""

    endmembers: np.ndarray
    abundances: np.ndarray
    objective: np.ndarray
    iterations: int
    converged: bool


def affine_coordinates(Y: np.ndarray, p: int) -> tuple[np.ndarray, np.ndarray]:
    """``(U (bands, p), y (p, N))``: the data projected on its best ``(p-1)``-dim affine set,
    in an orthonormal basis ``U`` of that set's linear span (``U y`` is the projected data)."""
    mean = Y.mean(axis=1, keepdims=True)
    Yc = Y - mean
    Up = np.linalg.svd(Yc @ Yc.T / Y.shape[1])[0][:, : p - 1]
    offset = mean - Up @ (Up.T @ mean)                                 # the mean off the subspace
    U = np.hstack([Up, offset / np.linalg.norm(offset)])
    return U, U.T @ (Up @ (Up.T @ Yc) + mean)


def sisal_objective(Q, y, tau: float) -> float:
    """``-log|det Q| + tau * sum max(-(Q y), 0)`` for ``Q (p, p)``, ``y (p, N)``."""
    Q, y = np.asarray(Q, dtype=np.float64), np.asarray(y, dtype=np.float64)
    return float(-np.linalg.slogdet(Q)[1] + tau * np.maximum(-(Q @ y), 0).sum())


def sisal(Y, p: int, seed: int = 0, tau: float = 1.0, mu: float | None = None, mm_iters: int = 80,
          al_iters: int = 4, lam: float = 1e-6, tol: float = 1e-6, M0: np.ndarray | None = None,
          device="auto") -> SISALResult:
    """SISAL endmembers of ``Y: (bands, pixels)`` (module docstring). ``M0 (bands, p)``: a start
    (projected on the data's affine set); by default VCA with ``seed``."""
    Y = np.asarray(Y, dtype=np.float64)
    L, N = Y.shape
    if not 2 <= p <= min(L, N):
        raise ValueError(f"p must lie in [2, min(bands, pixels)] = [2, {min(L, N)}], got {p}")
    mu = 1000.0 * p / N if mu is None else mu
    U, y = affine_coordinates(Y, p)
    start = vca(Y, p, seed=seed)[0] if M0 is None else np.asarray(M0, dtype=np.float64)
    mean = Y.mean(axis=1, keepdims=True)
    Up = U[:, : p - 1]
    M = U.T @ (Up @ (Up.T @ (start - mean)) + mean)                     # start in the affine set
    q_m = np.linalg.lstsq(y.T, np.ones(N), rcond=None)[0]               # q_m^T y = 1^T
    dev, (yt, Qt, qt) = as_tensors(y, np.linalg.inv(M), q_m, device=device)
    ones = torch.ones(p, dtype=yt.dtype, device=dev)
    F = lam * torch.eye(p, dtype=yt.dtype, device=dev) + mu * (yt @ yt.T)
    F_inv = torch.linalg.inv(F)
    objective = lambda Q: -torch.linalg.slogdet(Q)[1] + tau * (-(Q @ yt)).clamp_min(0).sum()  # noqa: E731
    Z = Qt @ yt
    D = torch.zeros_like(Z)
    history = [float(objective(Qt))]
    converged = False
    for k in range(mm_iters):
        Qk, fk = Qt, history[-1]
        G = torch.linalg.inv(Qk).T                                      # minus the gradient of -log|det|
        for _ in range(100 if k == mm_iters - 1 else al_iters):
            R = lam * Qk + G + mu * (Z + D) @ yt.T
            nu = (ones @ R - qt @ F) / p
            Qt = (R - torch.outer(ones, nu)) @ F_inv
            V = Qt @ yt - D
            t = tau / mu
            Z = torch.where(V > 0, V, torch.where(V < -t, V + t, torch.zeros_like(V)))
            D = D - (Qt @ yt - Z)
        f = float(objective(Qt))
        for _ in range(60):                                             # halve towards Q_k
            if f <= fk:
                break
            Qt = (Qt + Qk) / 2
            f = float(objective(Qt))
        if not f <= fk:                                                 # keep Q_k; Z, D go on
            Qt, f = Qk, fk
        history.append(f)
        if len(history) > 10 and history[-11] - f <= tol * max(abs(history[-11]), 1.0):
            converged = True
            break
    M_hat = torch.linalg.inv(Qt)
    return SISALResult(U @ to_numpy(M_hat), to_numpy(Qt @ yt), np.array(history), len(history) - 1,
                       converged)
