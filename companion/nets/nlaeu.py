"""NLAEU: a nonlinear autoencoder unmixer with a linear-plus-nonlinear decoder (baseline).

The summary names "NLAEU" as a competitor without defining it; this is our definition, a
post-nonlinear autoencoder in the spirit of Wang et al. (GRSL 2019):

* encoder, per pixel ``y_n (L,)``: an MLP ``L -> hidden -> P`` followed by softmax, so the
  abundances ``a_n`` lie on the simplex;
* decoder: ``x_n = E a_n`` (``E (L, P) >= 0``, started at VCA, clipped after each step), plus a
  nonlinear correction of that linear mixture, ``y_n ~ x_n + h(x_n)`` with ``h`` an MLP
  ``L -> hidden_nl -> L`` whose output layer starts at zero.

Loss: mean squared reconstruction error over all pixels, full-batch Adam. Runs (VCA and weight
seeds) train together on a leading runs axis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..classic import vca
from ..runtime import resolve_device
from .batched_mlp import BatchedMLP

__all__ = ["NLAEU", "NLAEUFit", "fit"]


class NLAEU(nn.Module):
    """``runs`` autoencoders with decoder endmembers started at ``E0 (runs, L, P)``; ``seeds``
    (one per run) draw the weights."""

    def __init__(self, E0: torch.Tensor, hidden: int, hidden_nl: int, seeds: list[int]):
        super().__init__()
        _, L, P = E0.shape
        if len(seeds) != E0.shape[0]:
            raise ValueError(f"need one seed per run ({E0.shape[0]}), got {len(seeds)}")
        generators = [torch.Generator().manual_seed(seed) for seed in seeds]
        self.encoder = BatchedMLP([L, hidden, P], generators, E0.dtype)
        self.E = nn.Parameter(E0.clone())
        self.h = BatchedMLP([L, hidden_nl, L], generators, E0.dtype, zero_last=True)

    def abundances(self, Y: torch.Tensor) -> torch.Tensor:
        """``Y (L, N) -> A (runs, P, N)`` on the simplex."""
        pixels = Y.mT.expand(self.E.shape[0], -1, -1)
        return torch.softmax(self.encoder(pixels), dim=-1).mT

    def forward(self, Y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Reconstruction ``(runs, L, N)`` and abundances ``(runs, P, N)``."""
        A = self.abundances(Y)
        X = self.E @ A
        return X + self.h(X.mT).mT, A


@dataclass
class NLAEUFit:
    """``endmembers (runs, L, P)``, ``abundances (runs, P, N)``, loss per iteration ``(iterations, runs)``."""

    endmembers: np.ndarray
    abundances: np.ndarray
    loss: np.ndarray


def fit(Y: np.ndarray, p: int, seeds: list[int], iterations: int, lr: float = 1e-3, hidden: int = 64,
        hidden_nl: int = 32, device="auto") -> NLAEUFit:
    """Train one NLAEU per seed for ``iterations`` full-batch Adam steps of rate ``lr`` (float32)
    on ``device``; the losses are read once, at the end."""
    if iterations < 1:
        raise ValueError(f"iterations must be at least 1, got {iterations}")
    dev = resolve_device(device)
    dtype = torch.float32
    E0 = np.stack([vca(Y, p, seed=seed)[0] for seed in seeds])
    Yt = torch.as_tensor(Y, dtype=dtype, device=dev)
    model = NLAEU(torch.as_tensor(E0, dtype=dtype), hidden, hidden_nl, seeds=seeds).to(dev)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(iterations):
        optimiser.zero_grad()
        Y_hat, _ = model(Yt)
        loss = ((Y_hat - Yt) ** 2).mean((-2, -1))
        loss.sum().backward()
        optimiser.step()
        with torch.no_grad():
            model.E.clamp_(min=0.0)
        losses.append(loss.detach())                  # on the device until the end
    with torch.no_grad():
        A = model.abundances(Yt)
    to_np = lambda t: t.detach().cpu().double().numpy()  # noqa: E731
    return NLAEUFit(to_np(model.E), to_np(A), torch.stack(losses).cpu().numpy())
