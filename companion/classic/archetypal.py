"""Archetypal analysis (AA) for blind unmixing: endmembers that are convex combinations of pixels.

Cutler & Breiman (1994); the alternating algorithm of Chen, Mairal & Harchaoui (2014, SPAMS
``archetypalAnalysis``), which HySUPP (Rasti et al. 2024) calls as its ``AA`` method. With
``Y: (bands, N)``, find ``B: (N, p)`` and ``A: (p, N)``, every column of both on the probability
simplex, minimising

    RSS(A, B) = || Y - Y B A ||_F^2 ,        endmembers E = Y B  (bands, p).

The endmembers lie inside the data's convex hull (no pure pixel search, no start from another
method); with pure pixels present the optimum puts them on the pure pixels.

Because the columns of ``A`` and ``B`` sum to one, ``Y - Y B A = Yc - Yc B A`` with
``Yc = Y - mean`` (the pixel mean): the B-step works on the centred data, whose largest singular
value is far below that of ``Y`` (O: an exact rewriting, better conditioned).

Alternating minimisation, each step decreasing RSS:

- *A-step* (exact): with ``E`` fixed, every column of ``A`` is the exact FCLS solution
  (:func:`companion.classic.fcls`; C: SPAMS solves the same problem exactly by an active set).
- *B-step* (exact per archetype, C: as SPAMS): one pass over the archetypes, each replaced by
  the exact minimiser of RSS over its own column of ``B`` with the others fixed, i.e. the
  projection of a target spectrum on the data's convex hull, solved by an active-set method
  warm-started from the current column (:func:`_project_on_hull`). An archetype whose abundances
  vanish (``||A_l||^2 < 1e-7``) is moved to the pixel with the largest residual, as SPAMS does (C).

Stops when RSS decreased by less than ``tol`` (relative) over one outer iteration
(``converged``), else after ``max_iter`` outer iterations. One host read per outer iteration
(the convergence test; the exact A-step's round trip to numpy).

Defaults: ``max_iter=100`` (C: HySUPP's ``stepsAS=100``), ``init="first"`` (C: HySUPP's
``randominit=False``, i.e. SPAMS starts from the first ``p`` pixels, an order-dependent but
deterministic choice; ``"random"``: ``p`` distinct pixels drawn from ``seed``, SPAMS'
``randominit=True``) and ``tol=1e-6`` (O).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ._tensors import as_tensors, to_numpy
from .fcls import fcls

__all__ = ["AAResult", "AA_INITS", "archetypal_analysis", "aa_objective"]

AA_INITS = ("first", "random")


@dataclass
class AAResult:
    """``endmembers (bands, p) = Y @ weights``, ``abundances (p, pixels)``, ``weights (pixels, p)``
    (each archetype as a convex combination of pixels), ``objective (iterations,)``: RSS after
    each outer iteration, ``iterations`` and ``converged`` (relative RSS decrease below ``tol``)."""

    endmembers: np.ndarray
    abundances: np.ndarray
    weights: np.ndarray
    objective: np.ndarray
    iterations: int
    converged: bool


def aa_objective(Y: np.ndarray, B: np.ndarray, A: np.ndarray) -> float:
    """``||Y - Y B A||_F^2`` for ``Y: (bands, N)``, ``B: (N, p)``, ``A: (p, N)``."""
    Y = np.asarray(Y, dtype=np.float64)
    return float(np.sum((Y - (Y @ B) @ A) ** 2))


def _initial_pixels(N: int, p: int, seed: int, init: str) -> np.ndarray:
    if init == "first":
        return np.arange(p)
    return np.random.default_rng(seed).choice(N, size=p, replace=False)


def archetypal_analysis(Y, p: int, seed: int = 0, init: str = "first", max_iter: int = 100,
                        tol: float = 1e-6, device="auto") -> AAResult:
    """Archetypal analysis of ``Y: (bands, pixels)`` with ``p`` archetypes (module docstring).

    ``seed`` matters only for ``init="random"``. Runs in float64 on CPU, float32 on GPU.
    """
    Y = np.asarray(Y, dtype=np.float64)
    L, N = Y.shape
    if not 1 <= p <= N:
        raise ValueError(f"p must lie in [1, pixels] = [1, {N}], got {p}")
    if init not in AA_INITS:
        raise ValueError(f"init must be one of {AA_INITS}, got {init!r}")
    if max_iter < 1:
        raise ValueError(f"max_iter must be at least 1, got {max_iter}")
    dev, (Yt,) = as_tensors(Y, device=device)
    Yc = Yt - Yt.mean(1, keepdim=True)
    B = torch.zeros((N, p), dtype=Yt.dtype, device=dev)
    B[torch.as_tensor(_initial_pixels(N, p, seed, init), device=dev), torch.arange(p, device=dev)] = 1.0
    A = torch.as_tensor(fcls(Y, Y @ to_numpy(B), device=dev), dtype=Yt.dtype, device=dev)
    tol_kkt = 1e-9 * float((Yc**2).sum(0).max())
    history, converged = [], False
    for _ in range(max_iter):
        B = _b_step(Yc, A, B, tol_kkt)
        A = torch.as_tensor(fcls(Y, to_numpy(Yt @ B), device=dev), dtype=Yt.dtype, device=dev)
        history.append(float(((Yc - (Yc @ B) @ A) ** 2).sum()))        # one host read per iteration
        if len(history) > 1 and history[-2] - history[-1] <= tol * history[-2]:
            converged = True
            break
    return AAResult(to_numpy(Yt @ B), to_numpy(A), to_numpy(B), np.array(history), len(history),
                    converged)


def _b_step(Yc: torch.Tensor, A: torch.Tensor, B: torch.Tensor, tol_kkt: float) -> torch.Tensor:
    """One pass over the archetypes (as SPAMS): archetype ``j`` is replaced by the exact
    minimiser of RSS over its own column of ``B``, the others fixed. With the residual
    ``R = Yc - Yc B A``, that is the projection of ``v = Yc b_j + R a_j^T / ||a_j||^2`` on the
    data's convex hull; an archetype with ``||a_j||^2 < 1e-7`` goes to the worst-fitted pixel."""
    B = B.clone()
    Z = Yc @ B                                                          # (bands, p)
    R = Yc - Z @ A
    for j in range(B.shape[1]):
        a = A[j]
        norm2 = float(a @ a)
        if norm2 < 1e-7:
            beta = torch.zeros_like(B[:, j])
            beta[(R**2).sum(0).argmax()] = 1.0
        else:
            v = Z[:, j] + R @ a / norm2
            beta = _project_on_hull(Yc, v, B[:, j], tol_kkt)
        z = Yc @ beta
        R = R + torch.outer(Z[:, j] - z, a)
        Z[:, j], B[:, j] = z, beta
    return B


def _project_on_hull(X: torch.Tensor, v: torch.Tensor, beta: torch.Tensor, tol_kkt: float,
                     max_steps: int = 1000) -> torch.Tensor:
    """``argmin ||v - X beta||^2`` over ``beta`` on the simplex (``X: (bands, N)``, ``v: (bands,)``),
    exact, by an active-set method warm-started from the feasible ``beta (N,)``.

    Optimality (KKT): with ``g = X^T (X beta - v)``, ``g_i = lambda`` on the support and
    ``g_i >= lambda`` off it. Each step solves the sum-to-one least squares on the support; when
    that leaves the simplex it moves to the boundary and drops the pixels that reach zero
    (Lawson-Hanson), else it adds the pixel with the most negative ``g_i - lambda``. Host reads
    each step (the support is data-dependent control flow): the support stays small."""
    support = torch.nonzero(beta > 0).squeeze(1)
    for _ in range(max_steps):
        Xs = X[:, support]
        k = support.numel()
        G = Xs.T @ Xs
        G = G + 1e-12 * (float(G.diagonal().mean()) + 1.0) * torch.eye(k, dtype=X.dtype, device=X.device)
        K = torch.zeros((k + 1, k + 1), dtype=X.dtype, device=X.device)
        K[:k, :k], K[:k, k], K[k, :k] = G, 1.0, 1.0
        rhs = torch.cat([Xs.T @ v, torch.ones(1, dtype=X.dtype, device=X.device)])
        z = torch.linalg.solve(K, rhs)[:k]
        current = beta[support]
        if bool((z <= 0).any()):                                     # move to the boundary, drop
            blocked = z <= 0
            alpha = (current[blocked] / (current[blocked] - z[blocked])).min()
            new = current + alpha * (z - current)
            keep = new > 1e-14 * float(new.max())
            beta = torch.zeros_like(beta)
            beta[support[keep]] = new[keep] / new[keep].sum()
            support = support[keep]
            continue
        beta = torch.zeros_like(beta)
        beta[support] = z
        g = X.T @ (X @ beta - v)                                        # (N,)
        lam = g[support].mean()
        g[support] = torch.inf
        j = int(g.argmin())
        if float(g[j] - lam) >= -tol_kkt:
            return beta
        support = torch.cat([support, torch.tensor([j], device=X.device)])
    return beta
