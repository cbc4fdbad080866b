"""Moving arrays between numpy and torch for the classical solvers."""

from __future__ import annotations

import numpy as np
import torch

from ..runtime import classic_dtype, resolve_device


def as_tensors(*arrays, device="auto") -> tuple[torch.device, list[torch.Tensor]]:
    """Convert arrays to tensors on ``device`` in the classical precision (float64 on CPU)."""
    dev = resolve_device(device)
    dtype = classic_dtype(dev)
    return dev, [torch.as_tensor(np.asarray(a), dtype=dtype, device=dev) for a in arrays]


def to_numpy(tensor: torch.Tensor) -> np.ndarray:
    """Tensor to float64 numpy array on the CPU."""
    return tensor.detach().to("cpu", torch.float64).numpy()


def check_shapes(Y, M) -> None:
    """``Y: (bands, pixels)`` and ``M: (bands, p)`` must agree on bands."""
    if np.ndim(Y) != 2 or np.ndim(M) != 2 or np.shape(Y)[0] != np.shape(M)[0]:
        raise ValueError(
            f"expected Y (bands, pixels) and M (bands, p) with equal bands, "
            f"got {np.shape(Y)} and {np.shape(M)}"
        )
