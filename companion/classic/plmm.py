"""Perturbed linear mixing model (PLMM, Thouvenin, Dobigeon and Tourneret, IEEE TSP 2016).

Each pixel's endmembers are a shared matrix plus a pixel-wise additive perturbation,
``M_n = M + dM_n``::

    min_{A, M, dM}  1/2 sum_n ||y_n - (M + dM_n) a_n||^2 + alpha/2 ||A H||_F^2
                    + beta/2 ||M - M0||_F^2 + gamma/2 sum_n ||dM_n||_F^2
    s.t.  a_n on the simplex,  M >= 0,  M + dM_n >= 0 for every n,

with ``||A H||^2`` Thouvenin's spatial smoothness: the squared differences of each pixel's
abundances with its left, right, upper and lower neighbours (no wrap-around), so every
neighbouring pair counts twice. ``beta`` weighs the 'DISTANCE' penalty to the references ``M0``
that the DeepGU reference code selects. Block coordinate descent over A, M and dM (the reference
code's order), stopped (C) when the objective changes by less than ``tol`` relative or after
``iterations`` sweeps, tested after every sweep (one host read per sweep; a sweep runs
``3 x inner`` steps, none of which reads anything back).

Each block is a convex quadratic over a simple convex set. The reference code solves each by an
ADMM; we solve them batched over pixels so that no block can raise the objective: A and M by
monotone accelerated projected gradient (MFISTA, Beck and Teboulle 2009) on a separable
majoriser, dM exactly (a bound-constrained P-variable problem per pixel and band). ``M + dM_n >= 0``
is a box constraint in either block: ``M >= max(0, max_n -dM_n)`` and ``dM_n >= -M``. Runs on the
requested device, float64 on the CPU (``runtime.classic_dtype``). Pixels are in row-major image
order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from ._tensors import as_tensors, to_numpy
from .fcls import fcls
from .simplex import project_simplex

__all__ = ["PLMMResult", "plmm", "plmm_objective"]


@dataclass
class PLMMResult:
    """``abundances (P, N)``, shared ``M (L, P)``, ``perturbations (N, L, P)``, per-pixel
    ``endmembers (N, L, P)`` = M + dM_n, ``iterations`` run, the ``objective`` after each and
    whether the stopping rule held (``converged``)."""

    abundances: np.ndarray
    M: np.ndarray
    perturbations: np.ndarray
    endmembers: np.ndarray
    iterations: int
    objective: list[float]
    converged: bool


def _neighbour_differences(img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Horizontal and vertical differences (no wrap) of maps ``img (P, rows, cols)``."""
    return img[:, :, 1:] - img[:, :, :-1], img[:, 1:, :] - img[:, :-1, :]


def _smoothness(A: torch.Tensor, rows: int, cols: int) -> torch.Tensor:
    """Thouvenin's ``||A H||_F^2`` (each neighbouring pair twice) of ``A (P, N)``."""
    dh, dv = _neighbour_differences(A.reshape(A.shape[0], rows, cols))
    return 2 * ((dh**2).sum() + (dv**2).sum())


def _smoothness_gradient(A: torch.Tensor, rows: int, cols: int) -> torch.Tensor:
    """Gradient of ``1/2 ||A H||^2`` with respect to ``A (P, N)``."""
    img = A.reshape(A.shape[0], rows, cols)
    dh, dv = _neighbour_differences(img)
    g = torch.zeros_like(img)
    g[:, :, 1:] += dh
    g[:, :, :-1] -= dh
    g[:, 1:, :] += dv
    g[:, :-1, :] -= dv
    return 2 * g.reshape(A.shape)


def plmm_objective(Y, A, M, dM, M0, rows: int, cols: int, alpha: float, beta: float, gamma: float) -> float:
    """The PLMM objective. ``Y (L, N)``, ``A (P, N)``, ``M, M0 (L, P)``, ``dM (N, L, P)``."""
    Y, A, M, dM, M0 = (torch.as_tensor(np.asarray(x), dtype=torch.float64) for x in (Y, A, M, dM, M0))
    return float(_objective(Y, A, M, dM, M0, rows, cols, alpha, beta, gamma))


def _objective(Y, A, M, dM, M0, rows, cols, alpha, beta, gamma) -> torch.Tensor:
    """:func:`plmm_objective` on tensors of one device, as a 0-dim tensor."""
    fit = ((Y.T - A.T @ M.T - torch.einsum("nlp,pn->nl", dM, A)) ** 2).sum()
    return (0.5 * fit + 0.5 * alpha * _smoothness(A, rows, cols) + 0.5 * beta * ((M - M0) ** 2).sum()
            + 0.5 * gamma * (dM**2).sum())


def _mfista(x: torch.Tensor, value: Callable, gradient: Callable, step: torch.Tensor, project: Callable,
            iterations: int) -> torch.Tensor:
    """Monotone FISTA from the feasible ``x``: ``value(x)`` the block objective summed over the
    batch, ``step`` (broadcastable to x) the inverse of a separable Lipschitz bound. The monotone
    choice is made on the device (no host read)."""
    best, best_value, y, t = x, value(x), x, 1.0
    for _ in range(iterations):
        z = project(y - step * gradient(y))
        z_value = value(z)
        t_next = (1 + (1 + 4 * t * t) ** 0.5) / 2
        improved = z_value <= best_value
        previous = best
        best, best_value = torch.where(improved, z, best), torch.where(improved, z_value, best_value)
        y = best + (t / t_next) * (z - best) + ((t - 1) / t_next) * (best - previous)
        t = t_next
    return best


def _perturbation_step(R: torch.Tensor, A: torch.Tensor, M: torch.Tensor, gamma: float) -> torch.Tensor:
    """Exact dM block: for every pixel n and band l, the row ``d`` of ``dM_n`` minimises
    ``1/2 (r_nl - d.a_n)^2 + gamma/2 |d|^2`` subject to ``d >= -m_l`` (``R (N, L)`` the residuals of
    ``M A``). A strictly convex P-variable QP with bounds: for each of the 2^P sets of bounds held
    active, the free entries have the closed form ``(r - c) a_F / (gamma + |a_F|^2)`` (``c`` the
    active entries' contribution); the minimiser is the feasible candidate of least value.
    Returns ``(N, L, P)``."""
    N, L = R.shape
    P = A.shape[0]
    a = A.T[:, None, :]                                                      # (N, 1, P)
    lower = -M[None].expand(N, L, P)
    best, best_value = None, None
    # the 2^P active sets in itertools.product((False, True), repeat=P) order, built on the device
    bits = torch.arange(P - 1, -1, -1, device=R.device)
    for act in (torch.arange(2**P, device=R.device)[:, None] >> bits) & 1 == 1:
        a_free = torch.where(act, torch.zeros_like(a), a)
        c = (torch.where(act, lower, torch.zeros_like(lower)) * a).sum(-1, keepdim=True)      # (N, L, 1)
        free = (R[:, :, None] - c) * a_free / (gamma + (a_free**2).sum(-1, keepdim=True))
        d = torch.where(act, lower, free)
        value = 0.5 * (R - (d * a).sum(-1)) ** 2 + 0.5 * gamma * (d**2).sum(-1)               # (N, L)
        value = torch.where((d >= lower).all(-1), value, torch.full_like(value, torch.inf))
        if best is None:
            best, best_value = d, value
        else:
            better = value < best_value
            best = torch.where(better[:, :, None], d, best)
            best_value = torch.where(better, value, best_value)
    return best


def plmm(Y, M0, rows: int, cols: int, alpha: float = 0.01, beta: float = 1e-9, gamma: float = 0.01,
         A0=None, iterations: int = 20, tol: float = 1e-3, inner: int = 100, device="auto") -> PLMMResult:
    """PLMM from ``A0 (P, N)`` (default FCLS), ``M = M0`` and ``dM = 0``. ``Y (L, N)``,
    ``M0 (L, P)``. Defaults are the DeepGU reference code's example 1 (alpha 0.01, beta 1e-9,
    gamma 0.01; 20 sweeps, tolerance 1e-3, 100 inner steps per block). ``tol = 0`` runs every
    sweep and reads nothing back from the device."""
    if A0 is None:
        A0 = fcls(Y, M0, device=device)
    _, (Y, M0, A) = as_tensors(Y, M0, A0, device=device)
    L, N = Y.shape
    P = M0.shape[1]
    M, dM = M0.clone(), torch.zeros(N, L, P, dtype=Y.dtype, device=Y.device)
    Yt = Y.T                                                                 # (N, L)

    def objective():
        return _objective(Y, A, M, dM, M0, rows, cols, alpha, beta, gamma)

    history, previous, converged, run = [], objective(), False, 0
    for it in range(1, iterations + 1):
        run = it
        # A: per-pixel data terms plus the coupling smoothness (Hessian <= 16 alpha I)
        Mn = M[None] + dM                                                    # (N, L, P)
        gram = Mn.transpose(1, 2) @ Mn                                       # (N, P, P)
        MtY = torch.einsum("nlp,nl->pn", Mn, Yt)
        step_A = 1 / (torch.linalg.eigvalsh(gram)[:, -1] + 16 * alpha)        # (N,)

        def value_A(a, gram=gram, MtY=MtY):
            quad = 0.5 * torch.einsum("pn,npq,qn->", a, gram, a) - (a * MtY).sum()
            return quad + 0.5 * alpha * _smoothness(a, rows, cols)

        def grad_A(a, gram=gram, MtY=MtY):
            return torch.einsum("npq,qn->pn", gram, a) - MtY + alpha * _smoothness_gradient(a, rows, cols)

        A = _mfista(A, value_A, grad_A, step_A[None], project_simplex, inner)
        # M: shared quadratic, box M >= max(0, -dM_n)
        target = Yt - torch.einsum("nlp,pn->nl", dM, A)                      # (N, L)
        AAt, TAt = A @ A.T, target.T @ A.T                                   # (P, P), (L, P)
        lower = (-dM).amax(0).clamp(min=0.0)
        step_M = 1 / (torch.linalg.eigvalsh(AAt)[-1] + beta)

        def value_M(m, AAt=AAt, TAt=TAt):
            return 0.5 * (m @ AAt * m).sum() - (m * TAt).sum() + 0.5 * beta * ((m - M0) ** 2).sum()

        def grad_M(m, AAt=AAt, TAt=TAt):
            return m @ AAt - TAt + beta * (m - M0)

        M = _mfista(M, value_M, grad_M, step_M, lambda m, lower=lower: torch.maximum(m, lower), inner)
        dM = _perturbation_step(Yt - A.T @ M.T, A, M, gamma)
        current = objective()
        history.append(current)
        if tol > 0 and bool((previous - current).abs() <= tol * previous.abs()):   # one read per sweep
            converged = True
            break
        previous = current
    objective_history = to_numpy(torch.stack(history)).tolist() if history else []
    return PLMMResult(to_numpy(A), to_numpy(M), to_numpy(dM), to_numpy(M[None] + dM), run, objective_history,
                      converged)
