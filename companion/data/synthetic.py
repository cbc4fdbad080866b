"""Seeded synthetic data: patch-and-blur abundances, library endmembers, noise at a given SNR."""

from __future__ import annotations

import math

import numpy as np
import torch

from .hsi import HSI
from .loaders import SpectralLibrary

__all__ = ["add_noise", "library_endmembers", "patch_blur_abundances", "patch_blur_image"]


def _gaussian_kernel(size: int, sigma: float) -> np.ndarray:
    offsets = np.arange(size) - (size - 1) / 2.0
    g = np.exp(-(offsets**2) / (2.0 * sigma**2))
    kernel = np.outer(g, g)
    return kernel / kernel.sum()


def patch_blur_abundances(
    p: int, z: int, beta: float, sigma: float = math.sqrt(2.0), seed: int = 0
) -> tuple[np.ndarray, int, int]:
    """Abundances of the patch-and-blur generator (U-ADMM paper Sec. IV-B, NMF-SAE Sec. 3.2).

    A ``z^2 x z^2`` image is cut into ``z x z`` patches (``z^2`` of them). Each patch is filled
    with two distinct endmembers drawn at random, with fractions ``beta`` and ``1 - beta``. Every
    map is then blurred by a ``(z+1) x (z+1)`` Gaussian filter of standard deviation ``sigma``
    (variance 2 in the papers; zero padding) and each pixel is rescaled to sum to one.

    Returns ``(A (p, z^4), rows, cols)`` with ``rows = cols = z^2``, row-major pixel order.
    """
    if p < 2:
        raise ValueError(f"p must be at least 2 (two endmembers per patch), got {p}")
    if not 0.0 <= beta <= 1.0:
        raise ValueError(f"beta must lie in [0, 1], got {beta}")
    rng = np.random.default_rng(seed)
    side = z * z
    n_patches = z * z
    pairs = np.stack([rng.choice(p, size=2, replace=False) for _ in range(n_patches)])
    patch_maps = np.zeros((p, n_patches))
    patch_maps[pairs[:, 0], np.arange(n_patches)] = beta
    patch_maps[pairs[:, 1], np.arange(n_patches)] += 1.0 - beta
    # (p, z, z) patch grid -> (p, z^2, z^2) image: repeat each patch value over z x z pixels.
    maps = np.kron(patch_maps.reshape(p, z, z), np.ones((1, z, z)))
    kernel = torch.from_numpy(_gaussian_kernel(z + 1, sigma))[None, None]
    before, after = z // 2, z - z // 2          # "same" zero padding, also for an even kernel
    padded = torch.nn.functional.pad(torch.from_numpy(maps)[:, None], (before, after, before, after))
    blurred = torch.nn.functional.conv2d(padded, kernel)[:, 0].numpy()
    A = blurred.reshape(p, side * side)
    A = A / A.sum(axis=0, keepdims=True)
    return A, side, side


def add_noise(Y: np.ndarray, snr_db: float, seed: int = 0) -> np.ndarray:
    """Add white Gaussian noise at ``snr_db`` (U-ADMM paper eq. 23): ``Y: (bands, pixels)``.

    ``SNR = 10 log10(E[y^T y] / E[n^T n])`` with expectations over pixels, so the noise variance
    per entry is ``mean(||y||^2) / (bands * 10^(SNR/10))``. ``snr_db = inf`` returns ``Y``.
    """
    if math.isinf(snr_db) and snr_db > 0:
        return np.array(Y, dtype=np.float64, copy=True)
    bands = Y.shape[0]
    signal_power = np.mean(np.sum(Y**2, axis=0))
    sigma = math.sqrt(signal_power / (bands * 10.0 ** (snr_db / 10.0)))
    rng = np.random.default_rng(seed)
    return Y + sigma * rng.standard_normal(Y.shape)


def library_endmembers(
    library: SpectralLibrary,
    names: list[str] | None = None,
    p: int | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Endmembers from a spectral library on its valid channels.

    Pass ``names`` (each matched as a case-insensitive prefix, first match wins) or ``p`` for a
    random draw without replacement. Returns ``(E (valid_bands, p), names, wavelengths_nm)``.
    """
    if (names is None) == (p is None):
        raise ValueError("give exactly one of names= or p=")
    if names is not None:
        columns = [library.index(name) for name in names]
    else:
        columns = list(np.random.default_rng(seed).choice(len(library.names), size=p, replace=False))
    E = library.spectra[library.valid][:, columns]
    return E, [library.names[c] for c in columns], library.wavelengths[library.valid]


def patch_blur_image(
    E: np.ndarray,
    z: int,
    beta: float,
    snr_db: float,
    sigma: float = math.sqrt(2.0),
    seed: int = 0,
    names: list[str] | None = None,
    wavelengths: np.ndarray | None = None,
) -> HSI:
    """A full synthetic image ``Y = E A + noise`` from endmembers ``E: (bands, p)``."""
    A, rows, cols = patch_blur_abundances(E.shape[1], z, beta, sigma=sigma, seed=seed)
    Y = add_noise(E @ A, snr_db, seed=seed + 1)
    return HSI(
        name=f"patch_blur_z{z}_snr{snr_db:g}",
        Y=Y,
        rows=rows,
        cols=cols,
        endmembers=E,
        abundances=A,
        names=names or [f"em{i + 1}" for i in range(E.shape[1])],
        wavelengths=wavelengths,
        notes=f"patch-and-blur synthetic image: z={z}, beta={beta}, sigma={sigma:.3f}, "
        f"SNR={snr_db} dB, seed={seed}",
    )
