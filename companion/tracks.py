"""The benchmark's two non-blind tracks: abundance estimators given endmembers.

* **supervised**: the scene's true endmembers ``E (bands, p)`` are given; each estimator of
  :data:`SUPERVISED` returns abundances ``(p, pixels)`` (and, for ELMM, per-pixel endmembers).
* **library**: a spectral library ``L (bands, m)`` that contains the scene's endmembers is given
  (:func:`scene_library`: the USGS 1995 library, pruned so that no two spectra are closer than
  :data:`PRUNE_DEG`, the scene's spectra kept first); each estimator of :data:`LIBRARY` returns
  sparse abundances ``(m, pixels)`` over the whole library (sparse unmixing).

Every estimator is ``run(Y, M, rows, cols, settings, device) -> Estimate`` (``Y (bands, pixels)``, pixels in
row-major order); :mod:`companion.experiments.benchmark` scores them like the blind methods. A new
estimator is one entry of a registry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from .classic import elmm, fcls, sunsal, unmix_tv
from .data.loaders import usgs_library
from .data.scenes import scene_family
from .methods import Estimate

__all__ = ["LIBRARY", "LIBRARY_FAMILIES", "PRUNE_DEG", "SUPERVISED", "Estimator",
           "SceneLibrary", "scene_library"]

# Library pruning (P: Iordache et al. 2011 prune their library to 4.44 degrees; C: Borsoi's
# load_endmembers.m uses the same angle on this USGS 1995 library).
PRUNE_DEG = 4.44
# Scene families whose endmembers are USGS 1995 spectra, and the channels their images use
# (minerals, GBM: the library's valid channels; DC1, DC2: all 224 channels).
LIBRARY_FAMILIES = {"minerals": "valid", "gbm": "valid", "dc1": "all", "dc2": "all"}


@dataclass(frozen=True)
class Estimator:
    """An abundance estimator of a track: ``key``, display ``label``, stated ``settings`` and
    ``run(Y, M, rows, cols, settings, device) -> Estimate`` (``device``: a torch device name)."""

    key: str
    label: str
    settings: Mapping
    run: Callable[..., Estimate]

    def with_budget(self, iterations: int) -> dict:
        """The settings with the iteration cap ``max_iter`` set (for the iterative estimators)."""
        return {**self.settings, "max_iter": iterations} if "max_iter" in self.settings else dict(self.settings)

    def describe(self) -> str:
        """The settings as text (``max_iter``: the track's iteration parameter)."""
        return ", ".join(f"{k} {'<track>_iterations' if v is None else v}" for k, v in self.settings.items()) \
            or "no parameter"


def _linear(M: np.ndarray, A: np.ndarray) -> Estimate:
    return Estimate(M, A, M @ A)


def _fcls(Y, M, rows, cols, s, device) -> Estimate:
    return _linear(M, fcls(Y, M, device=device))


def _sunsal(Y, M, rows, cols, s, device) -> Estimate:
    return _linear(M, sunsal(Y, M, lam=s["lam"], positivity=True, sum_to_one=s["sum_to_one"],
                             max_iter=s["max_iter"], tol=s["tol"], device=device))


def _tv(Y, M, rows, cols, s, device) -> Estimate:
    return _linear(M, unmix_tv(Y, M, rows, cols, lam=s["lam"], iterations=s["max_iter"], tol=s["tol"],
                               device=device))


def _elmm(Y, M, rows, cols, s, device) -> Estimate:
    r = elmm(Y, M, rows, cols, A0=fcls(Y, M, device=device), iterations=s["iterations"], device=device)
    return Estimate(r.endmembers.mean(axis=0), r.abundances, np.einsum("nlp,pn->ln", r.endmembers, r.abundances))


# Settings (O unless stated): SUnSAL to a tolerance of 1e-7 (issue 28: ~20,000 iterations reach the
# optimum on the USGS library; the iteration cap ``max_iter`` is the chapter's parameter
# <track>_iterations, filled in by the benchmark); TV weight 1e-3, tolerance 1e-5; ELMM with the
# reference code's example-1 weights (C) and its 20 steps (C).
_ITER = {"max_iter": None, "tol": 1e-7}
SUPERVISED: dict[str, Estimator] = {e.key: e for e in [
    Estimator("fcls", "FCLS (exact)", {}, _fcls),
    Estimator("ncls", "NCLS (SUnSAL, lambda 0, no sum-to-one)", {"lam": 0.0, "sum_to_one": False, **_ITER},
              _sunsal),
    Estimator("sunsal_tv", "SUnSAL-TV (simplex + TV)", {"lam": 1e-3, "max_iter": None, "tol": 1e-5}, _tv),
    Estimator("elmm", "ELMM (true endmembers as reference)", {"iterations": 20}, _elmm),
]}
LIBRARY: dict[str, Estimator] = {e.key: e for e in [
    Estimator("ncls", "NCLS (SUnSAL, lambda 0)", {"lam": 0.0, "sum_to_one": False, **_ITER}, _sunsal),
    Estimator("sunsal", "SUnSAL (lambda 1e-3)", {"lam": 1e-3, "sum_to_one": False, **_ITER}, _sunsal),
    Estimator("sclsu", "SUnSAL + sum-to-one (lambda 0)", {"lam": 0.0, "sum_to_one": True, **_ITER}, _sunsal),
    Estimator("sunsal_tv", "SUnSAL-TV (simplex + TV)", {"lam": 1e-3, "max_iter": None, "tol": 1e-5}, _tv),
]}


@dataclass(frozen=True)
class SceneLibrary:
    """A scene's library: ``spectra (bands, m)``, ``names`` and ``truth`` (the column of each of
    the scene's endmembers, in the scene's order)."""

    spectra: np.ndarray
    names: list[str]
    truth: list[int]

    def abundances(self, A_true: np.ndarray) -> np.ndarray:
        """The scene's abundances ``(p, pixels)`` as library abundances ``(m, pixels)``."""
        X = np.zeros((self.spectra.shape[1], A_true.shape[1]))
        X[self.truth] = A_true
        return X


def scene_library(scene: str, endmember_names: list[str]) -> SceneLibrary:
    """The USGS 1995 library on ``scene``'s channels, pruned to :data:`PRUNE_DEG`: the scene's
    spectra (``endmember_names``, each the library entry it was drawn from) are kept first, then
    every other spectrum farther than PRUNE_DEG from all kept ones, in library order (O: so the
    scene's spectra are in the library, as a scene drawn from it)."""
    family = scene_family(scene)
    if family not in LIBRARY_FAMILIES:
        raise ValueError(f"scene {scene!r} is not drawn from the USGS library (families {sorted(LIBRARY_FAMILIES)})")
    library = usgs_library()
    rows = library.valid if LIBRARY_FAMILIES[family] == "valid" else slice(None)
    spectra = library.spectra[rows]
    truth = [library.index(name) for name in endmember_names]
    unit = spectra / np.linalg.norm(spectra, axis=0, keepdims=True)
    close = np.degrees(np.arccos(np.clip(unit.T @ unit, -1.0, 1.0))) < PRUNE_DEG
    removed = np.zeros(spectra.shape[1], dtype=bool)
    kept = []
    for i in [*truth, *range(spectra.shape[1])]:       # greedy, truth first (sequential by nature)
        if not removed[i]:
            kept.append(i)
            removed |= close[i]
    if kept[:len(truth)] != truth:
        raise ValueError(f"{scene}: two of its spectra are closer than {PRUNE_DEG} degrees")
    return SceneLibrary(spectra[:, kept], [library.names[i] for i in kept], list(range(len(truth))))
