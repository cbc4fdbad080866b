"""The hyperspectral image container and the pixel-order convention used everywhere.

Convention: an image is ``Y`` of shape ``(bands, pixels)``; pixel ``n`` sits at row ``n // cols``,
column ``n % cols`` (row-major, numpy's C order). Files written by MATLAB store pixels
column-major; the loaders convert them once, on reading, with :func:`from_column_major`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .registry import DataError

__all__ = ["HSI", "check_finite", "from_column_major"]


def from_column_major(X: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Reorder ``X: (k, rows*cols)`` from MATLAB's column-major pixel order to row-major."""
    k = X.shape[0]
    return X.reshape(k, rows, cols, order="F").reshape(k, rows * cols)


def check_finite(array: np.ndarray, what: str) -> None:
    """Raise :class:`DataError` naming ``what`` when ``array`` holds NaN or Inf."""
    bad = ~np.isfinite(array)
    if bad.any():
        raise DataError(f"{what} contains {int(bad.sum())} NaN/Inf values; the file is damaged.")


@dataclass
class HSI:
    """A hyperspectral image with optional ground truth.

    Attributes:
        name: short dataset name.
        Y: ``(bands, pixels)`` float64 reflectance-like values, row-major pixel order.
        rows, cols: spatial size; ``rows * cols == pixels``.
        endmembers: ``(bands, p)`` ground-truth spectra, or None.
        abundances: ``(p, pixels)`` ground-truth fractions (same pixel order as ``Y``), or None.
        names: the ``p`` endmember names.
        wavelengths: ``(bands,)`` band centres in nm, or None.
        files: data files used, relative path -> sha256 (for provenance).
        notes: facts about the data a reader should know (scaling, nominal wavelengths ...).
    """

    name: str
    Y: np.ndarray
    rows: int
    cols: int
    endmembers: np.ndarray | None = None
    abundances: np.ndarray | None = None
    names: list[str] = field(default_factory=list)
    wavelengths: np.ndarray | None = None
    files: dict[str, str] = field(default_factory=dict)
    notes: str = ""

    def __post_init__(self) -> None:
        self.Y = np.asarray(self.Y, dtype=np.float64)
        if self.Y.ndim != 2 or self.Y.shape[1] != self.rows * self.cols:
            raise DataError(
                f"{self.name}: Y has shape {self.Y.shape}, expected (bands, {self.rows}*{self.cols})."
            )
        check_finite(self.Y, f"{self.name} image")
        if self.endmembers is not None:
            self.endmembers = np.asarray(self.endmembers, dtype=np.float64)
            if self.endmembers.shape[0] != self.bands:
                raise DataError(
                    f"{self.name}: endmembers have {self.endmembers.shape[0]} bands, "
                    f"the image has {self.bands}."
                )
            check_finite(self.endmembers, f"{self.name} endmembers")
        if self.abundances is not None:
            self.abundances = np.asarray(self.abundances, dtype=np.float64)
            if self.abundances.shape[1] != self.n_pixels:
                raise DataError(
                    f"{self.name}: abundances cover {self.abundances.shape[1]} pixels, "
                    f"the image has {self.n_pixels}."
                )
            check_finite(self.abundances, f"{self.name} abundances")
        if self.wavelengths is not None and len(self.wavelengths) != self.bands:
            raise DataError(f"{self.name}: {len(self.wavelengths)} wavelengths for {self.bands} bands.")

    @property
    def bands(self) -> int:
        return self.Y.shape[0]

    @property
    def n_pixels(self) -> int:
        return self.Y.shape[1]

    @property
    def p(self) -> int | None:
        """Number of ground-truth endmembers (None when there is no ground truth)."""
        if self.endmembers is not None:
            return self.endmembers.shape[1]
        return None if self.abundances is None else self.abundances.shape[0]

    def to_images(self, X: np.ndarray) -> np.ndarray:
        """Turn ``X: (k, pixels)`` (abundances, bands ...) into ``(k, rows, cols)`` images."""
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.n_pixels:
            raise ValueError(f"expected (k, {self.n_pixels}), got {X.shape}")
        return X.reshape(X.shape[0], self.rows, self.cols)

    def cube(self) -> np.ndarray:
        """The image as ``(rows, cols, bands)``."""
        return self.to_images(self.Y).transpose(1, 2, 0)
