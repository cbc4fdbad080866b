"""Entropic descent archetypal analysis (EDAA; Zouaoui, Rasti, Chanussot et al., IEEE TIP 2023).

The archetypal model of :mod:`companion.classic.archetypal`: ``Y: (bands, N)``, endmembers
``E = Y B`` with ``B: (N, p)`` and abundances ``A: (p, N)``, every column of both on the
probability simplex, minimising ``0.5 ||Y - Y B A||_F^2``. EDAA minimises it by *entropic
mirror descent*: a step multiplies each entry by ``exp(-eta * gradient)`` and renormalises the
column (a softmax of ``log X - eta * gradient``), which keeps the iterates strictly inside the
simplex without any projection.

One run: ``B0 = softmax_pixels(0.1 U)`` with ``U`` uniform on ``[0, 1]`` (every archetype close
to the mean pixel), ``A0 = 1 / p``; step sizes ``eta_A = c / sigma_max(Y B0)^2`` and
``eta_B = eta_A sqrt(p / N)`` with a random factor ``c = 2^k``, ``k`` uniform in ``{-3, ..., 3}``;
then ``outer`` times: ``k_a`` steps on ``A``, then ``k_b`` steps on ``B``.

``runs`` random restarts are computed together as one batch (a leading run axis), and one is
kept by a rule that uses no ground truth (C, HySUPP's ``EDAA``): among the runs whose l1
residual ``sum |Y - Y B A|`` lies within ``tolerance`` (relative) of the smallest, the run whose
endmembers have the smallest largest pairwise correlation (Pearson, across bands).

Defaults (C: HySUPP ``config/model/EDAA.yaml`` and its ``EDAA`` class, by the paper's authors;
the paper's own values not checked here): ``outer=100``, ``k_a=5``, ``k_b=5``, ``runs=50``,
``tolerance=0.05``; float64 on CPU (O; HySUPP computes in float32). Run ``m``
draws from ``numpy.random.default_rng((seed, m))`` (O: HySUPP seeds torch with ``m + seed``), so
a run's result does not depend on how many runs are computed beside it.

The per-step gradients reuse products fixed within a block (``(Y B)^T Y`` during the A-steps,
``Y^T Y A^T`` during the B-steps), so an A-step costs ``O(p^2 N)`` and a B-step two thin
products with ``Y``. No host read inside the iterations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ._tensors import as_tensors, to_numpy

__all__ = ["EDAAResult", "edaa"]


@dataclass
class EDAAResult:
    """The kept run: ``endmembers (bands, p) = Y @ weights``, ``abundances (p, pixels)``,
    ``weights (pixels, p)``; ``selected`` (its run index), and per run ``fit_l1 (runs,)``,
    ``max_correlation (runs,)``, ``step_factors (runs,)`` and ``objective (runs,)``
    (``0.5 ||Y - Y B A||_F^2`` at the end); ``iterations`` (outer), ``converged``: whether the
    kept run's objective changed by less than ``tol`` (relative) over its last outer iteration
    (a diagnostic: EDAA runs a fixed schedule)."""

    endmembers: np.ndarray
    abundances: np.ndarray
    weights: np.ndarray
    selected: int
    fit_l1: np.ndarray
    max_correlation: np.ndarray
    step_factors: np.ndarray
    objective: np.ndarray
    iterations: int
    converged: bool


def _starts(N: int, p: int, seed: int, runs: int) -> tuple[np.ndarray, np.ndarray]:
    """Per run ``m`` from ``default_rng((seed, m))``: the logits ``(runs, N, p)`` of ``B0``
    (``0.1 U``) and the step factor ``2^k`` (``runs,``)."""
    logits, factors = [], []
    for m in range(runs):
        rng = np.random.default_rng((seed, m))
        logits.append(0.1 * rng.random((N, p)))
        factors.append(2.0 ** int(rng.integers(-3, 4)))
    return np.stack(logits), np.array(factors)


def edaa(Y, p: int, seed: int = 0, runs: int = 50, outer: int = 100, k_a: int = 5, k_b: int = 5,
         tolerance: float = 0.05, tol: float = 1e-4, device="auto") -> EDAAResult:
    """EDAA on ``Y: (bands, pixels)`` with ``p`` endmembers (module docstring). Runs in float64
    on CPU, float32 on GPU."""
    Y = np.asarray(Y, dtype=np.float64)
    L, N = Y.shape
    if not 1 <= p <= N:
        raise ValueError(f"p must lie in [1, pixels] = [1, {N}], got {p}")
    if min(runs, outer, k_a, k_b) < 1:
        raise ValueError("runs, outer, k_a and k_b must be at least 1")
    logits, factors = _starts(N, p, seed, runs)
    dev, (Yt, logits_t, factors_t) = as_tensors(Y, logits, factors, device=device)
    # B is held transposed, (runs, p, N), so that every product with Y is one matrix product and
    # every softmax runs over contiguous pixels
    Bt = torch.softmax(logits_t.transpose(1, 2), dim=2)                # (runs, p, N)
    A = torch.full((runs, p, N), 1.0 / p, dtype=Yt.dtype, device=dev)
    eta_a = factors_t / torch.linalg.matrix_norm(_endmembers_t(Yt, Bt), ord=2) ** 2
    eta_b = (eta_a * (p / N) ** 0.5)[:, None, None]                     # (runs, 1, 1)
    eta_a = eta_a[:, None, None]
    previous = _objective(Yt, Bt, A)
    for it in range(outer):
        if it == outer - 1:
            previous = _objective(Yt, Bt, A)
        Et = _endmembers_t(Yt, Bt)                                      # (runs, p, bands) = (Y B)^T
        G = (Et.reshape(runs * p, L) @ Yt).reshape(runs, p, N)          # (Y B)^T Y
        H = Et @ Et.transpose(1, 2)                                     # (runs, p, p)
        for _ in range(k_a):
            A = torch.softmax(torch.log(A) + eta_a * (G - H @ A), dim=1)
        Pt = ((A.reshape(runs * p, N) @ Yt.T) @ Yt).reshape(runs, p, N)  # A Y^T Y
        C = A @ A.transpose(1, 2)                                       # (runs, p, p), symmetric
        for _ in range(k_b):
            CEt = (C @ _endmembers_t(Yt, Bt)).reshape(runs * p, L)      # (Y B C)^T
            grad = Pt - (CEt @ Yt).reshape(runs, p, N)                  # minus the gradient, (B-step)^T
            Bt = torch.softmax(torch.log(Bt) + eta_b * grad, dim=2)
    E = _endmembers_t(Yt, Bt).transpose(1, 2)                           # (runs, bands, p)
    fit_l1 = (Yt - E @ A).abs().sum((1, 2))
    Ec = E - E.mean(1, keepdim=True)
    Ec = Ec / torch.linalg.vector_norm(Ec, dim=1, keepdim=True)
    corr = Ec.transpose(1, 2) @ Ec - torch.eye(p, dtype=Yt.dtype, device=dev)
    max_corr = corr.amax((1, 2))
    fit_np, corr_np = to_numpy(fit_l1), to_numpy(max_corr)
    eligible = np.flatnonzero(np.abs(fit_np - fit_np.min()) / np.abs(fit_np) < tolerance)
    k = int(eligible[np.argmin(corr_np[eligible])])
    obj = to_numpy(_objective(Yt, Bt, A))
    change = abs(to_numpy(previous)[k] - obj[k]) / max(obj[k], 1e-300)
    return EDAAResult(to_numpy(E[k]), to_numpy(A[k]), to_numpy(Bt[k].T), k, fit_np, corr_np,
                      factors, obj, outer, bool(change < tol))


def _endmembers_t(Y: torch.Tensor, Bt: torch.Tensor) -> torch.Tensor:
    """``(Y B)^T`` for every run at once: ``Y: (bands, N)``, ``Bt: (runs, p, N)`` -> ``(runs, p, bands)``."""
    runs, p, N = Bt.shape
    return (Bt.reshape(runs * p, N) @ Y.T).reshape(runs, p, Y.shape[0])


def _objective(Y: torch.Tensor, Bt: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
    """``0.5 ||Y - Y B A||_F^2`` per run, ``(runs,)``; ``Bt: (runs, p, N)``, ``A: (runs, p, N)``."""
    E = _endmembers_t(Y, Bt).transpose(1, 2)                            # (runs, bands, p)
    return 0.5 * ((Y - E @ A) ** 2).sum((1, 2))
