"""Nonlinear mixing models for synthetic images: linear, GBM and PPNM.

``E (bands L, P)`` endmembers, ``A (P, pixels N)`` abundances on the simplex.

* linear mixing model (LMM): ``y_n = E a_n``;
* generalised bilinear model (GBM, Halimi et al. 2011):
  ``y_n = E a_n + sum_{i<j} gamma_{ij,n} a_{in} a_{jn} (e_i * e_j)``, ``gamma in [0, 1]``;
* polynomial post-nonlinear model (PPNM, Altmann et al. 2012):
  ``y_n = E a_n + b_n (E a_n) * (E a_n)``, ``b_n`` a scalar per pixel (``*``: element-wise).
"""

from __future__ import annotations

import numpy as np

from .hsi import HSI
from .synthetic import add_noise, patch_blur_abundances

__all__ = ["MODELS", "gbm", "ppnm", "mix", "nonlinear_image"]

MODELS = ("linear", "gbm", "ppnm")


def gbm(E: np.ndarray, A: np.ndarray, gamma: np.ndarray) -> np.ndarray:
    """GBM mixtures ``(L, N)``; ``gamma (P(P-1)/2, N)`` in pair order ``(0,1), (0,2), ... (P-2,P-1)``."""
    i, j = np.triu_indices(E.shape[1], k=1)
    if gamma.shape != (i.size, A.shape[1]):
        raise ValueError(f"gamma must be ({i.size}, {A.shape[1]}), got {gamma.shape}")
    return E @ A + (E[:, i] * E[:, j]) @ (gamma * A[i] * A[j])


def ppnm(E: np.ndarray, A: np.ndarray, b: np.ndarray) -> np.ndarray:
    """PPNM mixtures ``(L, N)``; ``b (N,)``."""
    X = E @ A
    return X + b * X * X


def mix(model: str, E: np.ndarray, A: np.ndarray, seed: int = 0, b_max: float = 0.3) -> np.ndarray:
    """Noise-free mixtures under ``model``: GBM with ``gamma ~ U[0, 1]``, PPNM with
    ``b ~ U[-b_max, b_max]`` (Altmann et al.'s range), drawn with ``seed``."""
    rng = np.random.default_rng(seed)
    P, N = A.shape
    if model == "linear":
        return E @ A
    if model == "gbm":
        return gbm(E, A, rng.uniform(0.0, 1.0, (P * (P - 1) // 2, N)))
    if model == "ppnm":
        return ppnm(E, A, rng.uniform(-b_max, b_max, N))
    raise ValueError(f"unknown mixing model {model!r}; valid: {list(MODELS)}")


def nonlinear_image(model: str, E: np.ndarray, snr_db: float, z: int = 7, beta: float = 0.8,
                    seed: int = 0, names: list[str] | None = None,
                    wavelengths: np.ndarray | None = None) -> HSI:
    """A ``z^2 x z^2`` image: patch-and-blur abundances (``z``, ``beta``), ``model`` mixing, white
    noise at ``snr_db``; all random draws from ``seed``."""
    A, rows, cols = patch_blur_abundances(E.shape[1], z, beta, seed=seed)
    Y = add_noise(mix(model, E, A, seed=seed + 1), snr_db, seed=seed + 2)
    return HSI(name=f"{model}_p{E.shape[1]}_snr{snr_db:g}", Y=Y, rows=rows, cols=cols,
               endmembers=E, abundances=A, names=names or [f"em{k + 1}" for k in range(E.shape[1])],
               wavelengths=wavelengths,
               notes=f"{model} mixtures of patch-and-blur abundances (z={z}, beta={beta}), "
                     f"SNR {snr_db} dB, seed {seed}")
