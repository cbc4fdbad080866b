"""A multilayer perceptron with a leading runs axis: independent networks evaluated as one.

Layer ``k`` holds ``weight (runs, in, out)`` and ``bias (runs, 1, out)``; inputs are
``(runs, items, in)``. Hidden layers use ReLU, the output layer is linear.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["BatchedMLP"]


class BatchedMLP(nn.Module):
    """``runs`` MLPs with layer sizes ``sizes = [in, hidden..., out]``.

    Weights start uniform in ``+-sqrt(6 / (in + out))`` (Glorot), run ``r`` drawing from
    ``generators[r]`` (so a run's start does not depend on the other runs); biases start at zero;
    ``zero_last=True`` starts the output layer at zero, so the network outputs 0 at first.
    """

    def __init__(self, sizes: list[int], generators: list[torch.Generator], dtype=torch.float64,
                 zero_last: bool = False):
        super().__init__()
        if len(sizes) < 2 or min(sizes) < 1:
            raise ValueError(f"an MLP needs at least input and output sizes >= 1, got {sizes}")
        runs = len(generators)
        self.weights, self.biases = nn.ParameterList(), nn.ParameterList()
        for k, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            bound = 0.0 if zero_last and k == len(sizes) - 2 else math.sqrt(6.0 / (fan_in + fan_out))
            w = torch.stack([torch.rand(fan_in, fan_out, generator=g, dtype=dtype) for g in generators])
            self.weights.append(nn.Parameter((w * 2 - 1) * bound))
            self.biases.append(nn.Parameter(torch.zeros(runs, 1, fan_out, dtype=dtype)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x (runs, items, in) -> (runs, items, out)``."""
        last = len(self.weights) - 1
        for k, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            x = torch.baddbmm(b, x, w)
            if k < last:
                x = torch.relu(x)
        return x

    def weight_norm_sq(self) -> torch.Tensor:
        """Sum of squared weights (biases excluded) per run: ``(runs,)``."""
        return sum((w**2).sum((-2, -1)) for w in self.weights)
