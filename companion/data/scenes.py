"""One registry of the book's scenes: the real images and every synthetic scene a paper defines.

Real images come from :func:`companion.data.load`; the synthetic ones are built here, each by
the generator of the paper that defines it:

==========================  =================================================================
:func:`uadmm_scene`         Zhou et al. Sec. IV-B: 6 random USGS endmembers, patch-blur maps
:func:`uadmm_official_scene`  the U-ADMM repository's synthetic set with noise added
:func:`minerals_scene`      Xiong et al. Sec. 3.2: six USGS minerals, patch-blur maps
:func:`nonlinear_scene`     Mehrdad & Janani: linear, GBM or PPNM mixtures of USGS minerals
:func:`variability_scene`   Borsoi et al.: DC1 and DC2 with per-pixel endmember variability
==========================  =================================================================

:data:`SCENES` names the benchmark's scenes (real and synthetic, each drawn once with
:data:`SCENE_SEED`) and :func:`load_scene` builds one of them, once per process.
Shapes: ``Y (bands, pixels)``, pixels in row-major image order; per-pixel endmembers
``(pixels, bands, p)``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter

from .catalog import load
from .hsi import HSI
from .loaders import deepgu_abundances, usgs_library
from .nonlinear import nonlinear_image
from .synthetic import add_noise, library_endmembers, patch_blur_image

__all__ = ["DC1_C", "DC2_HALF_RANGE", "MINERALS", "PRUNE_DEG", "SCENES", "SCENE_SEED", "SPECTRA", "Scene",
           "SceneSpec", "borsoi_endmembers", "load_scene", "minerals_scene", "nonlinear_scene",
           "scene_family", "smooth_factors", "thouvenin_factors", "uadmm_official_scene", "uadmm_scene",
           "variability_scene"]

SCENE_SEED = 0   # every synthetic benchmark scene is drawn once (noise and abundances), with this seed

# ---------------------------------------------------------------- U-ADMM (Zhou et al.)
def uadmm_scene(snr_db: float, scene_seed: int, endmember_seed: int) -> HSI:
    """Sec. IV-B: 6 random USGS endmembers (valid channels), a = 10 (100 x 100), gamma = 0.8,
    (a+1) x (a+1) Gaussian blur of variance 2, white noise at ``snr_db`` (eq. 23)."""
    E, names, wavelengths = library_endmembers(usgs_library(), p=6, seed=endmember_seed)
    return patch_blur_image(E, z=10, beta=0.8, snr_db=snr_db, seed=scene_seed, names=names,
                            wavelengths=wavelengths)


def uadmm_official_scene(snr_db: float, seed: int) -> HSI:
    """The official repository's synthetic set (224 bands, 6 endmembers) with noise added."""
    hsi = load("uadmm_synthetic")
    hsi.Y = add_noise(hsi.Y, snr_db, seed=seed)
    return hsi


# ------------------------------------------------ USGS minerals (Mehrdad & Janani; Xiong et al.)
# Twelve USGS minerals with pairwise spectral angles of at least 5 degrees; P = 4 uses the first four.
MINERALS = ["Carnallite", "Ammonio-jarosite", "Almandine", "Brucite", "Axinite", "Chlorite",
            "Kaolinite", "Alunite", "Muscovite", "Calcite", "Hematite", "Buddingtonite"]


def nonlinear_scene(model: str, p: int, snr_db: float, z: int, scene_seed: int) -> HSI:
    """``model`` mixtures ("linear", "gbm", "ppnm") of the first ``p`` :data:`MINERALS`."""
    if not 2 <= p <= len(MINERALS):
        raise ValueError(f"p must be between 2 and {len(MINERALS)}, got {p}")
    E, names, wavelengths = library_endmembers(usgs_library(), names=MINERALS[:p])
    return nonlinear_image(model, E, snr_db, z=z, seed=scene_seed, names=names, wavelengths=wavelengths)


def minerals_scene(snr_db: float, scene_seed: int) -> HSI:
    """Sec. 3.2's image: z = 8, beta = 0.8, (z+1)x(z+1) blur, 64 x 64 pixels, noise at SNR."""
    E, names, wavelengths = library_endmembers(usgs_library(), names=MINERALS[:6])
    return patch_blur_image(E, z=8, beta=0.8, snr_db=snr_db, seed=scene_seed, names=names,
                            wavelengths=wavelengths)


# ---------------------------------------------------------------- DC1 and DC2 (Borsoi et al.)
# Library handling of Borsoi's ``load_endmembers.m`` (code): USGS 1995 rows sorted by wavelength,
# all 224 bands, the library pruned so that no two kept spectra are closer than 4.44 degrees, the
# kept spectra sorted by their smallest angle to another, columns 2..P+1 (1-based) taken and
# ordered by increasing energy. For P = 3 this gives SPECTRA (checked in the tests).
PRUNE_DEG = 4.44
SPECTRA = ["Anorthite HS349.3B", "Jarosite GDS101 Na,Sy 200", "Calcite WS272"]
# Variability amplitudes, calibrated on FCLS only, never on DeepGU's numbers: the amplitude whose
# mean eq. 14 RMSE_Y of FCLS (seed std <= 6e-4) is closest to Table III's FCLS RMSE_Y (0.0253 DC1,
# 0.0255 DC2; an absolute RMSE, see the chapter), checked against FCLS's relative RMSE_A (0.1161,
# 0.0591), which agrees within its seed spread (see the chapter's calibration table).
# DC1: Thouvenin's coefficient c (node values uniform in [1 - c/2, 1 + c/2]).
DC1_C = 0.07
# DC2: the smooth band-dependent scalings span [1 - h, 1 + h].
DC2_HALF_RANGE = 0.05


@dataclass
class Scene:
    """A synthetic image with per-pixel true endmembers ``M_true (N, L, P)``; ``hsi.endmembers``
    holds their pixel mean."""

    hsi: HSI
    M_true: np.ndarray


def _angles_deg(E: np.ndarray) -> np.ndarray:
    """Pairwise spectral angles (degrees) between the columns of ``E (L, m)``: ``(m, m)``."""
    En = E / np.linalg.norm(E, axis=0, keepdims=True)
    return np.degrees(np.arccos(np.clip(En.T @ En, -1.0, 1.0)))


def borsoi_endmembers(library, P: int = 3) -> tuple[np.ndarray, list[str]]:
    """The P spectra ``load_endmembers.m`` draws from the wavelength-sorted USGS 1995 library
    (see PRUNE_DEG): ``(E (224, P), names)``, columns by increasing energy."""
    angles = _angles_deg(library.spectra)
    removed = np.zeros(len(library.names), dtype=bool)
    kept = []
    for i in range(len(library.names)):                  # greedy, in library order (sequential)
        if not removed[i]:
            kept.append(i)
            removed |= angles[i] < PRUNE_DEG
    kept = np.array(kept)
    nearest = (_angles_deg(library.spectra[:, kept]) + 1e10 * np.eye(len(kept))).min(0)
    chosen = kept[np.argsort(nearest, kind="stable")[1:P + 1]]
    chosen = chosen[np.argsort((library.spectra[:, chosen] ** 2).sum(0), kind="stable")]
    return library.spectra[:, chosen], [library.names[c] for c in chosen]


def thouvenin_factors(rng, n: int, L: int, P: int, c: float) -> np.ndarray:
    """DC1 (ref. [9]'s generator): for each pixel and endmember a two-segment piecewise-linear
    factor over the bands, break at ``floor(L/2 + floor(u L/3))`` (u uniform), node values
    uniform in ``[1 - c/2, 1 + c/2]``: from node 2 at band 1 to node 1 at the break, then from
    node 1 to node 3 at band L. Returns ``(n, L, P)``."""
    nodes = rng.uniform(1 - c / 2, 1 + c / 2, size=(3, n, P))
    brk = np.floor(L / 2 + np.floor(rng.uniform(size=(n, P)) * L / 3)).astype(int)    # (n, P)
    band = np.arange(L)[None, :, None]                                                   # (1, L, 1)
    b = brk[:, None, :]
    first = nodes[1][:, None] + (nodes[0] - nodes[1])[:, None] * band / np.maximum(b - 1, 1)
    second = nodes[0][:, None] + (nodes[2] - nodes[0])[:, None] * (band - b) / np.maximum(L - b - 1, 1)
    return np.where(band < b, first, second)


def smooth_factors(rng, rows: int, cols: int, L: int, P: int, half_range: float) -> np.ndarray:
    """DC2 (GLMM-style, ours): band-dependent scalings smooth in space and spectrum: white noise
    blurred by a Gaussian (std rows/6 pixels in space, L/10 bands in spectrum, periodic), rescaled
    per endmember to fill ``[1 - half_range, 1 + half_range]``. Returns ``(rows*cols, L, P)``."""
    field = gaussian_filter(rng.standard_normal((P, rows, cols, L)), (0, rows / 6, cols / 6, L / 10),
                            mode="wrap")
    low, high = field.min((1, 2, 3), keepdims=True), field.max((1, 2, 3), keepdims=True)
    field = 1 - half_range + 2 * half_range * (field - low) / (high - low)
    return field.reshape(P, rows * cols, L).transpose(1, 2, 0)


def variability_scene(name: str, seed: int, snr_db: float = 30.0, amplitude: float | None = None) -> Scene:
    """DC1 (70 x 70 squares, Thouvenin's piecewise-linear factors with ``c = amplitude``, default
    DC1_C) or DC2 (50 x 50 smooth maps, smooth band-dependent scalings of half-range
    ``amplitude``, default DC2_HALF_RANGE) on Borsoi's three spectra, white noise at ``snr_db``."""
    kinds = {"dc1": "squares", "dc2": "spatial"}
    if name not in kinds:
        raise ValueError(f"synthetic scene must be one of {sorted(kinds)}, got {name!r}")
    A, rows, cols, files = deepgu_abundances(kinds[name])
    library = usgs_library()
    E, names = borsoi_endmembers(library, A.shape[0])
    L, P = E.shape
    rng = np.random.default_rng(seed)
    if name == "dc1":
        factors = thouvenin_factors(rng, rows * cols, L, P, DC1_C if amplitude is None else amplitude)
    else:
        factors = smooth_factors(rng, rows, cols, L, P, DC2_HALF_RANGE if amplitude is None else amplitude)
    M_true = E[None] * factors
    Y = add_noise(np.einsum("nlp,pn->ln", M_true, A), snr_db, seed=seed + 1)
    hsi = HSI(name.upper(), Y, rows, cols, endmembers=M_true.mean(0), abundances=A, names=names,
              wavelengths=library.wavelengths, files=files | library.files)
    return Scene(hsi, M_true)


# ---------------------------------------------------------------- the benchmark's scenes
@dataclass(frozen=True)
class SceneSpec:
    """A benchmark scene: ``label``, its ``source`` (chapter / data), ``kind`` ("real" or
    "synthetic") and the ``snr_db`` of its noise (None for real images)."""

    label: str
    source: str
    kind: str
    snr_db: float | None = None


def _synthetic(family: str, snr: float) -> dict[str, SceneSpec]:
    labels = {"dc1": "DC1", "dc2": "DC2", "uadmm": "U-ADMM set", "gbm": "GBM", "minerals": "Minerals"}
    sources = {"dc1": "DeepGU DC1 (Thouvenin variability, 70 x 70)",
               "dc2": "DeepGU DC2 (smooth variability, 50 x 50)",
               "uadmm": "U-ADMM official synthetic set (100 x 100, 6 endmembers)",
               "gbm": "GBM mixtures of 4 USGS minerals (MTL chapter, 49 x 49)",
               "minerals": "NMF-SAE six-mineral scene (64 x 64)"}
    label = f"{labels[family]} {snr:g} dB"
    return {f"{family}_snr{snr:g}": SceneSpec(label, sources[family], "synthetic", snr)}


SCENES: dict[str, SceneSpec] = {
    "samson": SceneSpec("Samson", "Samson (95 x 95, 3 endmembers)", "real"),
    "jasper": SceneSpec("Jasper", "Jasper Ridge (100 x 100, 4 endmembers)", "real"),
    "urban_crop": SceneSpec("Urban crop", "Urban 34 x 78 crop (4 endmembers)", "real"),
    "urban": SceneSpec("Urban", "full Urban 307 x 307 (user-supplied)", "real"),
    **{k: v for family in ("dc1", "dc2", "uadmm", "gbm", "minerals") for snr in (30.0, 20.0)
       for k, v in _synthetic(family, snr).items()},
}


@functools.cache
def load_scene(name: str) -> HSI:
    """The scene ``name`` (a key of :data:`SCENES`), built once per process; raises
    :class:`MissingImage` for an absent user-supplied image."""
    spec = SCENES[name]
    if spec.kind == "real":
        return load(name)
    family = scene_family(name)
    if family in ("dc1", "dc2"):
        return variability_scene(family, SCENE_SEED, spec.snr_db).hsi
    if family == "uadmm":
        return uadmm_official_scene(spec.snr_db, SCENE_SEED)
    if family == "gbm":
        return nonlinear_scene("gbm", 4, spec.snr_db, 7, SCENE_SEED)
    return minerals_scene(spec.snr_db, SCENE_SEED)


def scene_family(scene: str) -> str:
    """``dc1_snr30`` -> ``dc1``; a real scene is its own family."""
    return scene.split("_snr")[0]


