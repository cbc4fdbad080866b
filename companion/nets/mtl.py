"""Two-branch multi-task network for nonlinear unmixing (our reading of Mehrdad & Janani 2024).

``Y (bands L, pixels N)``; endmembers ``E (L, P)`` are the latent variables of the rows of Y,
abundances ``A (P, N)`` those of its columns. Three reconstructions share E and A:

* row branch, each band ``y^i (N,)`` from the row ``e^i (P,)`` of E:
  ``y^i ~ W1^T e^i + f(e^i)``, i.e. ``Y_row = E W1 + f(E)`` with ``W1 (P, N)`` and
  ``f: R^P -> R^N`` an MLP (hidden sizes ``hidden_rows``, paper [100, 250]);
* column branch, each pixel ``y_n (L,)`` from its abundances ``a_n (P,)``:
  ``y_n ~ W2 a_n + g(a_n)``, i.e. ``Y_col = W2 A + g(A)`` with ``W2 (L, P)`` and
  ``g: R^P -> R^L`` an MLP (hidden sizes ``hidden_cols``, paper [25, 50]);
* auxiliary task ``Y ~ E A`` (NMF), weight ``alpha``.

Loss per run, with every squared Frobenius norm divided by ``L N``::

    ||Y - Y_row||^2 + ||Y - Y_col||^2 + alpha ||Y - E A||^2
      + beta (||E||^2 + ||A||^2 + ||W1||^2 + ||W2||^2 + sum of squared MLP weights)

Constraints by parametrisation: ``E = exp(V)`` (positive) and ``a_n = softmax(z_n)`` (on the
simplex), with ``V``, ``Z`` the free parameters. iRprop+ only uses gradient signs, which these
maps preserve, so saturation does not slow it down; a step ``d`` on ``V`` scales an endmember
entry by ``exp(+-d)``. (Projecting after each step instead fails with Rprop: the steps of entries
pushed against a bound keep growing, and the projection then spreads them over the others.)
Start: ``E`` from VCA, ``A`` the simplex projection of ``pinv(E) Y``, both floored at
``FLOOR`` before taking logarithms;
``W1 = A``, ``W2 = E`` and the MLPs' output layers at zero, so both branches start as the
linear mixing model of the start. Optimiser: full-batch iRprop+ (:mod:`companion.optim`).

All parameters carry a leading runs axis: runs (different VCA / initialisation seeds) train
together as one batched model, and iRprop+ tests the error per run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from ..classic import vca
from ..classic.simplex import project_simplex
from ..optim import IRpropPlus
from ..runtime import resolve_device
from .batched_mlp import BatchedMLP

__all__ = ["FLOOR", "MTLUnmixing", "MTLFit", "initial_factors", "fit"]

FLOOR = 1e-4


class MTLUnmixing(nn.Module):
    """The two-branch network for ``runs`` runs on one image ``Y (L, N)``.

    ``E0 (runs, L, P)``, ``A0 (runs, P, N)``: starting factors; ``seeds`` (one per run) draw the
    MLP weights.
    """

    def __init__(self, Y: torch.Tensor, E0: torch.Tensor, A0: torch.Tensor, hidden_rows: list[int],
                 hidden_cols: list[int], alpha: float, beta: float, seeds: list[int]):
        super().__init__()
        if E0.ndim != 3 or A0.ndim != 3 or E0.shape[0] != A0.shape[0] or E0.shape[2] != A0.shape[1]:
            raise ValueError(f"expected E0 (runs, L, P), A0 (runs, P, N); got {tuple(E0.shape)}, "
                             f"{tuple(A0.shape)}")
        if tuple(Y.shape) != (E0.shape[1], A0.shape[2]):
            raise ValueError(f"Y {tuple(Y.shape)} does not match E0 {tuple(E0.shape)}, A0 {tuple(A0.shape)}")
        if alpha < 0 or beta < 0:
            raise ValueError(f"alpha and beta must be non-negative, got {alpha}, {beta}")
        runs, L, P = E0.shape
        N = Y.shape[1]
        if len(seeds) != runs:
            raise ValueError(f"need one seed per run ({runs}), got {len(seeds)}")
        generators = [torch.Generator().manual_seed(seed) for seed in seeds]
        self.alpha, self.beta = alpha, beta
        self.register_buffer("Y", Y)
        self.V = nn.Parameter(torch.log(E0.clamp(min=FLOOR)))
        A0 = A0.clamp(min=FLOOR)
        self.Z = nn.Parameter(torch.log(A0 / A0.sum(-2, keepdim=True)))
        self.W1 = nn.Parameter(A0.clone())
        self.W2 = nn.Parameter(E0.clone())
        self.f = BatchedMLP([P, *hidden_rows, N], generators, Y.dtype, zero_last=True)
        self.g = BatchedMLP([P, *hidden_cols, L], generators, Y.dtype, zero_last=True)

    @property
    def E(self) -> torch.Tensor:
        """Endmembers ``exp(V)``: ``(runs, L, P)``."""
        return torch.exp(self.V)

    @property
    def A(self) -> torch.Tensor:
        """Abundances ``softmax(Z)`` over endmembers: ``(runs, P, N)``."""
        return torch.softmax(self.Z, dim=-2)

    def rows(self) -> torch.Tensor:
        """Row-branch reconstruction ``E W1 + f(E)``: ``(runs, L, N)``."""
        return self.E @ self.W1 + self.f(self.E)

    def columns(self) -> torch.Tensor:
        """Column-branch reconstruction ``W2 A + g(A)``: ``(runs, L, N)``."""
        return self.W2 @ self.A + self.g(self.A.mT).mT

    def losses(self) -> dict[str, torch.Tensor]:
        """The loss terms per run, each ``(runs,)``, and their weighted ``total``."""
        scale = self.Y.numel()
        E, A = self.E, self.A
        sq = lambda X: (X**2).sum((-2, -1)) / scale  # noqa: E731
        terms = {"rows": sq(self.Y - self.rows()), "columns": sq(self.Y - self.columns()),
                 "nmf": sq(self.Y - E @ A)}
        terms["penalty"] = (sq(E) + sq(A) + sq(self.W1) + sq(self.W2)
                            + (self.f.weight_norm_sq() + self.g.weight_norm_sq()) / scale)
        terms["total"] = (terms["rows"] + terms["columns"] + self.alpha * terms["nmf"]
                          + self.beta * terms["penalty"])
        return terms


@dataclass
class MTLFit:
    """``endmembers (runs, L, P)``, ``abundances (runs, P, N)``, the starting endmembers
    ``initial_endmembers (runs, L, P)`` and the loss terms before each iteration,
    ``{term: (iterations, runs)}``."""

    endmembers: np.ndarray
    abundances: np.ndarray
    initial_endmembers: np.ndarray
    history: dict[str, np.ndarray]


def initial_factors(Y: np.ndarray, p: int, seeds: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """VCA endmembers per seed and ``A = project_simplex(pinv(E) Y)``: ``(runs, L, P)``, ``(runs, P, N)``."""
    E = np.stack([vca(Y, p, seed=seed)[0] for seed in seeds])
    A = project_simplex(torch.as_tensor(np.linalg.pinv(E) @ Y)).numpy()
    return E, A


def fit(Y: np.ndarray, p: int, seeds: list[int], iterations: int, alpha: float, beta: float,
        hidden_rows: list[int], hidden_cols: list[int], lr: float = 0.0125, device="auto",
        progress: bool = False, start: tuple[np.ndarray, np.ndarray] | None = None) -> MTLFit:
    """Train one run per seed (VCA seed and MLP seed) with ``iterations`` full-batch iRprop+
    steps of initial step ``lr``, in float32 (deterministic on CPU). ``start`` replaces the
    VCA start by given ``(E0, A0)`` with a runs axis. The loss terms of every iteration stay on
    ``device`` until the end (no host read per iteration)."""
    if iterations < 1:
        raise ValueError(f"iterations must be at least 1, got {iterations}")
    dev = resolve_device(device)
    dtype = torch.float32
    E0, A0 = start if start is not None else initial_factors(Y, p, seeds)
    as_t = lambda a: torch.as_tensor(np.asarray(a), dtype=dtype, device=dev)  # noqa: E731
    model = MTLUnmixing(as_t(Y), as_t(E0), as_t(A0), hidden_rows, hidden_cols, alpha, beta,
                        seeds=seeds).to(dev)
    optimiser = IRpropPlus(model.parameters(), lr=lr)
    history = {k: [] for k in ("total", "rows", "columns", "nmf", "penalty")}

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        terms = model.losses()
        terms["total"].sum().backward()
        for key in history:
            history[key].append(terms[key].detach())   # on the device until the end
        return terms["total"]

    for _ in tqdm(range(iterations), desc="MTL", disable=not progress, mininterval=5.0):
        optimiser.step(closure)
    terms = torch.stack([torch.stack(v) for v in history.values()]).cpu().numpy()   # one host read
    to_np = lambda t: t.detach().cpu().double().numpy()  # noqa: E731
    with torch.no_grad():
        return MTLFit(to_np(model.E), to_np(model.A), np.asarray(E0), dict(zip(history, terms, strict=True)))
