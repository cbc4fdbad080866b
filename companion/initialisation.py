"""Named endmember initialisations for the blind methods (NMF-SAE, U-ADMM-BUNet, MNN-BU).

=================  ==============================================================================
name               endmembers ``(bands, p)``
=================  ==============================================================================
``vca``            VCA, branch chosen by its SNR estimate (the reference code's rule), uniform
                   random directions as the reference code
``vca_projective`` VCA forced to the projective (high-SNR) branch
``vca_affine``     VCA forced to the affine (low-SNR) branch
``vca_normal``     VCA with the book's former normal directions (reproduces records made with it)
``aa``             archetypal analysis (no pixel search, no start; SPAMS' first-pixels start)
``edaa``           entropic descent archetypal analysis (50 restarts, kept without ground truth)
``sisal``          SISAL minimum-volume simplex (started from VCA with the seed)
``sivm``           SiVM as the U-ADMM official code (rank-p SVD denoise, clip, volume selection)
``truth``          the reference endmembers: an upper bound, not a method
=================  ==============================================================================

The VCA variants, ``edaa`` and ``sisal`` depend on a seed; ``aa``, ``sivm`` and ``truth`` are
deterministic. Each method runs with its module's defaults (see its docstring), on the CPU in
float64 so that a start does not depend on the machine.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .classic.archetypal import archetypal_analysis
from .classic.edaa import edaa
from .classic.sisal import sisal
from .classic.sivm import sivm
from .classic.vca import vca

__all__ = ["INITIALISATIONS", "DETERMINISTIC", "initial_endmembers", "initial_endmembers_runs"]

INITIALISATIONS = {
    "vca": "VCA (automatic branch)",
    "vca_projective": "VCA (projective branch)",
    "vca_affine": "VCA (affine branch)",
    "vca_normal": "VCA (former normal directions)",
    "aa": "archetypal analysis",
    "edaa": "EDAA",
    "sisal": "SISAL (from VCA)",
    "sivm": "SiVM (official U-ADMM code)",
    "truth": "ground truth (upper bound)",
}
DETERMINISTIC = frozenset({"aa", "sivm", "truth"})


def initial_endmembers(name: str, Y: np.ndarray, p: int, seed: int = 0,
                       truth: np.ndarray | None = None) -> np.ndarray:
    """Endmembers ``(bands, p)`` of ``Y: (bands, pixels)`` by the initialisation ``name``
    (a key of :data:`INITIALISATIONS`); ``truth (bands, p)`` is needed for ``"truth"``."""
    if name not in INITIALISATIONS:
        raise ValueError(f"unknown initialisation {name!r}; choose from {list(INITIALISATIONS)}")
    if name == "truth":
        if truth is None:
            raise ValueError("the 'truth' initialisation needs the reference endmembers")
        return np.array(truth, dtype=np.float64)
    if name == "sivm":
        return sivm(Y, p)[0]
    if name == "aa":
        return archetypal_analysis(Y, p, device="cpu").endmembers
    if name == "edaa":
        return edaa(Y, p, seed=seed, device="cpu").endmembers
    if name == "sisal":
        return sisal(Y, p, seed=seed, device="cpu").endmembers
    if name == "vca_normal":
        return vca(Y, p, seed=seed, directions="normal")[0]
    branch = "auto" if name == "vca" else name.removeprefix("vca_")
    return vca(Y, p, seed=seed, branch=branch)[0]


def initial_endmembers_runs(name: str, Y: np.ndarray, p: int, seeds: Sequence[int],
                            truth: np.ndarray | None = None) -> np.ndarray:
    """One start per seed, ``(runs, bands, p)``; a deterministic ``name`` is computed once."""
    if name in DETERMINISTIC:
        return np.repeat(initial_endmembers(name, Y, p, truth=truth)[None], len(seeds), axis=0)
    return np.stack([initial_endmembers(name, Y, p, seed=s, truth=truth) for s in seeds])
