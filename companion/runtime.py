"""Device selection, seeding and timing: the small runtime facts every chapter records."""

from __future__ import annotations

import contextlib
import platform
import time
from dataclasses import dataclass, field
from typing import Self

import torch

__all__ = ["NO_FLOAT64", "Timer", "classic_dtype", "device_name", "placed", "resolve_device", "torch_threads"]

# Device types without float64 arithmetic: the classical solvers, the metrics and the counter-based
# random streams (int64, float64) need it, so these are refused when a device is resolved.
NO_FLOAT64 = {"mps": "Apple's MPS backend has no float64"}


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Return a concrete torch device; ``"auto"`` means CUDA when present, else CPU.

    Asking for ``"cuda"`` on a machine without a GPU fails at once with a message saying so; a
    name torch does not know (``"gpu"``) and a device without float64 (``"mps"``,
    :data:`NO_FLOAT64`) raise ValueError, each with a one-line message.
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(
            f"device={device!r} is not a torch device; use 'auto', 'cpu', 'cuda' or 'cuda:N'."
        ) from None
    if resolved.type in NO_FLOAT64:
        raise ValueError(f"device={str(device)!r} is refused: {NO_FLOAT64[resolved.type]}, which the book's "
                         "solvers and metrics need; use 'cpu' or 'cuda'.")
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            f"device={device!r} was requested but no CUDA GPU is visible; "
            "use device='auto' or device='cpu'."
        )
    return resolved


def placed(device: str | torch.device) -> str:
    """Where a part ran, for the provenance: ``"CPU"`` or the device (``"cuda:0"``)."""
    resolved = resolve_device(device)
    return "CPU" if resolved.type == "cpu" else str(resolved)


def classic_dtype(device: torch.device) -> torch.dtype:
    """Precision for the classical solvers: float64 on CPU (exactness), float32 on GPU (speed)."""
    return torch.float64 if device.type == "cpu" else torch.float32


@contextlib.contextmanager
def torch_threads(n: int | None):
    """Run the block with ``n`` torch CPU threads (None: leave the setting), then restore it.

    A compute function that must give the same bits wherever it runs (the notebook, the command
    line, a Dask worker, :func:`companion.pipeline.verify`) fixes its thread count with this:
    CPU reductions split over another number of threads round differently."""
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


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
