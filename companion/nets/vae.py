"""DeepGU's endmember VAEs (Borsoi et al., Tables I-II): P variational autoencoders as one model.

Every layer holds stacked weights with a leading endmember axis (``BatchedMLP``), so the P VAEs of
a scene train together in one loop while staying independent: the loss is a sum over VAEs, and
Adam's per-parameter updates make that identical to training each alone (tested).

Shapes: spectra ``(P, items, L)`` with values in [0, 1] (the decoder ends in a sigmoid); latent
codes ``(P, items, K)``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .batched_mlp import BatchedMLP

__all__ = ["EndmemberVAE", "hidden_sizes", "train_vaes"]


def hidden_sizes(L: int, K: int) -> list[int]:
    """Table I's three hidden widths, encoder order: ``[ceil(1.2L)+5, max(ceil(L/4),K+2)+3,
    max(ceil(L/10),K+1)]`` (Table II uses them reversed)."""
    return [math.ceil(1.2 * L) + 5, max(math.ceil(L / 4), K + 2) + 3, max(math.ceil(L / 10), K + 1)]


class EndmemberVAE(nn.Module):
    """P VAEs: encoder L -> hidden (ReLU) -> (mean, log-variance) in R^K; decoder K -> hidden
    (ReLU) -> L (sigmoid). VAE ``p`` draws its initial weights from ``generators[p]``."""

    def __init__(self, L: int, K: int, generators: list[torch.Generator], dtype=torch.float32):
        super().__init__()
        h = hidden_sizes(L, K)
        self.L, self.K = L, K
        self.encoder = BatchedMLP([L, *h, 2 * K], generators, dtype=dtype)
        self.decoder = BatchedMLP([K, *h[::-1], L], generators, dtype=dtype)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x (P, items, L) -> (mean, log_var)``, each ``(P, items, K)``."""
        out = self.encoder(x)
        return out[..., : self.K], out[..., self.K:]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """The generators G_p: ``z (P, items, K) -> spectra (P, items, L)`` in (0, 1)."""
        return torch.sigmoid(self.decoder(z))

    def loss(self, x: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Per-VAE mean over items of ``L * BCE + KL`` (the Keras VAE loss): ``(P,)``.

        ``noise (P, items, K)`` is the standard normal draw of the reparametrisation.
        """
        mean, log_var = self.encode(x)
        x_hat = self.decode(mean + torch.exp(0.5 * log_var) * noise)
        bce = nn.functional.binary_cross_entropy(x_hat, x, reduction="none").mean(-1)
        kl = -0.5 * (1 + log_var - mean**2 - log_var.exp()).sum(-1)
        return (self.L * bce + kl).mean(-1)


def _draws(generators: list[torch.Generator], n: int, batch: int, K: int, epochs: int,
           dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """Every epoch's shuffling and reparametrisation noise, drawn before training from each VAE's
    own (CPU) generator in the order training uses them (per epoch: the permutation, then one
    normal draw per minibatch): ``orders (epochs, P, n)``, ``noise (epochs, P, n, K)`` (the
    minibatches' draws side by side)."""
    orders, noise = [], []
    for _ in range(epochs):
        orders.append(torch.stack([torch.randperm(n, generator=g) for g in generators]))
        noise.append(torch.cat([torch.stack([torch.randn(min(batch, n - start), K, generator=g, dtype=dtype)
                                             for g in generators]) for start in range(0, n, batch)], dim=1))
    return torch.stack(orders), torch.stack(noise)


def train_vaes(bundles: torch.Tensor, seeds: list[int], K: int = 2, epochs: int = 50,
               lr: float = 1e-3, batch_fraction: float = 1 / 3) -> tuple[EndmemberVAE, list[float]]:
    """Train one VAE per bundle, all at once (Sec. VI: Adam, mini-batch a third of the bundle).

    ``bundles (P, n, L)`` in [0, 1], on the device to train on; VAE ``p`` uses ``seeds[p]`` for
    its initial weights, its shuffling and its reparametrisation noise, so its training does not
    depend on the others. The random draws come from CPU generators (the same numbers on every
    device) and cross to the device once, before the first epoch; the losses are read once, at
    the end. Returns the model (in eval mode) and the summed loss after every epoch.
    """
    P, n, L = bundles.shape
    if len(seeds) != P:
        raise ValueError(f"need one seed per bundle: {P} bundles, {len(seeds)} seeds")
    if bundles.min() < 0 or bundles.max() > 1:   # two host reads, before training
        raise ValueError("VAE training spectra must lie in [0, 1] (sigmoid output, BCE loss)")
    generators = [torch.Generator().manual_seed(s) for s in seeds]
    model = EndmemberVAE(L, K, generators, dtype=bundles.dtype).to(bundles.device)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    batch = max(1, math.ceil(n * batch_fraction))
    orders, noises = (t.to(bundles.device) for t in _draws(generators, n, batch, K, epochs, bundles.dtype))
    index = torch.arange(P, device=bundles.device).reshape(P, 1)
    history = []
    for order, noise in zip(orders, noises, strict=True):
        for start in range(0, n, batch):
            rows = order[:, start:start + batch]
            loss = model.loss(bundles[index, rows], noise[:, start:start + batch]).sum()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        history.append(loss.detach())
    return model.eval(), torch.stack(history).tolist() if history else []
