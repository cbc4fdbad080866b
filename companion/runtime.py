"""Device selection, seeding and timing: the small runtime facts every chapter records."""

from __future__ import annotations

import platform
import random
import time
from dataclasses import dataclass, field
from typing import Self

import numpy as np
import torch

__all__ = ["Timer", "classic_dtype", "device_name", "resolve_device", "seed_everything"]


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Return a concrete torch device; ``"auto"`` means CUDA when present, else CPU.

    Asking for ``"cuda"`` on a machine without a GPU fails at once with a message saying so; a
    name torch does not know (``"gpu"``) raises ValueError.
    """
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(
            f"device={device!r} is not a torch device; use 'auto', 'cpu', 'cuda' or 'cuda:N'."
        ) from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            f"device={device!r} was requested but no CUDA GPU is visible; "
            "use device='auto' or device='cpu'."
        )
    return resolved


def classic_dtype(device: torch.device) -> torch.dtype:
    """Precision for the classical solvers: float64 on CPU (exactness), float32 on GPU (speed)."""
    return torch.float64 if device.type == "cpu" else torch.float32


def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch (CPU and CUDA); return a CPU ``torch.Generator`` with that seed.

    Library code takes explicit generators; this exists for notebooks that call third-party code.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def device_name(device: torch.device) -> str:
    """Human-readable name of the hardware behind ``device`` (GPU model or CPU model)."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"CPU: {cpu} ({torch.get_num_threads()} threads)"


@dataclass
class Timer:
    """Wall-clock timer usable as a context manager; ``seconds`` holds the elapsed time."""

    seconds: float = 0.0
    _start: float = field(default=0.0, repr=False)

    def __enter__(self) -> Self:
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self._start
