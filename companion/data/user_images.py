"""Images the project cannot stage, supplied by the user and verified by their content.

Every public copy of these files is too large for the project's sources and none has a checksum
we could pin, so they are never downloaded. A user who places one in ``HU_DATA_DIR`` (same layout
as ``shared/data``) gets it loaded and *verified by content* against the staged, checksummed
ground truth; a file that fails raises :class:`DataError` naming the check, and an absent file
raises :class:`MissingImage` (a :class:`DataError`) saying where to put it.

=========================  =====================================================================
file                       content check (tolerances are ours, O)
=========================  =====================================================================
urban/Urban_R162.mat       ``Y (162, 307*307)``, finite; ``Y / 1000`` contains the staged 34 x 78
                           crop at rows 223-256, columns 149-226 with max abs difference <= 1e-6;
                           and over the *whole* image every pixel follows the staged 4-endmember
                           ground truth (``M``, ``A`` cover all 307 x 307 pixels): the spectral
                           angle between a pixel and its reconstruction ``M a`` has a median
                           <= 0.15 rad and exceeds 0.5 rad on at most 5 % of the pixels (the
                           genuine crop: median 0.039, largest 0.42; random data: median 0.73).
cuprite/CupriteS1_R188.mat ``Y (188, 250*190)``; each of the 12 rslab ground-truth spectra (188
                           bands) within 0.25 rad of some pixel.
houston/real_data_1.mat    cube ``(rows, cols, 144)`` (``data`` in Drumetz's file, ``r_cube`` in
                           DeepGU's); each of Drumetz's 4 endmembers within 0.15 rad of a pixel
                           of the image rescaled to [0, 1].
deepgu/data_ex1.mat        DeepGU's DC1: ``r_cube (70, 70, 224)``; ``alphas_cube`` equal to the
                           staged ``abundance_squares_3em.mat`` within 1e-6.
=========================  =====================================================================

What the checks can and cannot tell. The DC1 check identifies the file (it compares every
abundance map with checksummed maps). The Urban check identifies the 2.8 % of the pixels that
the staged crop covers, bit for bit, and checks the other 97.2 % only for consistency with the
published ground truth: it refuses a file that is another image, shifted, scaled, transposed,
damaged (NaN) or filled with anything that does not mix the four ground-truth spectra, but it
cannot tell the original from a synthetic image built from the ground truth itself. The
Cuprite and Houston checks are plausibility checks only: no staged pixel of either scene exists,
and reference spectra sit within a few tenths of a radian of the pixels of many scenes (the 12
Cuprite minerals lie within 0.19 rad of some Jasper Ridge pixel); they catch wrong shapes, band
counts and grossly misaligned bands, not every foreign file.

Each loader records the file's sha256 (:func:`registry.note_loaded`), so provenance boxes list
it and resumable studies recompute when the file changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .hsi import HSI, from_column_major
from .loaders import (
    URBAN_CROP_COLS,
    URBAN_CROP_ROWS,
    URBAN_NOTE,
    _names,
    _parse_mat,
    _urban_crop_cube,
    _urban_truth,
    cuprite_endmembers,
    deepgu_abundances,
    houston_endmembers,
)
from .registry import DATA_DIR_ENV, DataError, data_dir, note_loaded, sha256_of

__all__ = [
    "CUPRITE",
    "DEEPGU_DC1",
    "HOUSTON",
    "URBAN",
    "USER_IMAGES",
    "MissingImage",
    "UserImage",
    "available",
    "load_cuprite",
    "load_deepgu_dc1",
    "load_houston",
    "load_urban",
    "nearest_pixel_angles",
]


class MissingImage(DataError):
    """A user-supplied image is not in ``HU_DATA_DIR``: the chapter reports it as not attempted."""


@dataclass(frozen=True)
class UserImage:
    """A file the user supplies: ``path`` relative to ``HU_DATA_DIR``, what it is, where a copy
    is known to exist (``url``, not verified by us)."""

    path: str
    description: str
    url: str
    instead: str = ""


_BORSOI_USV = ("https://github.com/ricardoborsoi/unmixing_spectral_variability/raw/"
               "d069df8ef6f0e5641f9fcf346121931e0c23bc21/methods/DeepGUn/data")
URBAN = UserImage("urban/Urban_R162.mat", "the full Urban image (HYDICE, 307 x 307, 162 bands)",
                  "https://github.com/ricardoborsoi/MUA_SparseUnmixing/raw/"
                  "089f5d61162807a5304759e293b132ed9d0d6ab4/real_data/Urban_R162.mat",
                  "; or use load('urban_crop'), the staged 34 x 78 crop with its ground truth")
CUPRITE = UserImage("cuprite/CupriteS1_R188.mat", "the rslab Cuprite scene (250 x 190, 188 bands)",
                    "https://github.com/Alex-CruzG/NEBEAE (CupriteS1_R188.mat)")
HOUSTON = UserImage("houston/real_data_1.mat", "Drumetz's DFC-2013 Houston crop (144 bands)",
                    "https://github.com/ldrumetz/ELMM_hyperspectral_Unmixing_code (real_data_1.mat)")
DEEPGU_DC1 = UserImage("deepgu/data_ex1.mat", "DeepGU's synthetic data cube DC1 (70 x 70, 224 bands)",
                       f"{_BORSOI_USV}/data_ex1.mat")
USER_IMAGES = (URBAN, CUPRITE, HOUSTON, DEEPGU_DC1)

URBAN_CROP_ATOL = 1e-6
# Whole-image consistency with the staged ground truth: angle (rad) between each pixel and M a.
URBAN_TRUTH_MEDIAN_ANGLE = 0.15
URBAN_TRUTH_FAR_ANGLE, URBAN_TRUTH_FAR_SHARE = 0.5, 0.05
CUPRITE_SHAPE = (250, 190)
CUPRITE_MAX_ANGLE = 0.25  # rad
HOUSTON_MAX_ANGLE = 0.15  # rad
DC1_ABUNDANCE_ATOL = 1e-6


def _path(image: UserImage) -> Path | None:
    root = data_dir()
    return None if root is None else root / image.path


def available(image: UserImage) -> bool:
    """Whether the file of ``image`` is present in ``HU_DATA_DIR`` (not yet verified)."""
    path = _path(image)
    return path is not None and path.is_file()


def _locate(image: UserImage) -> Path:
    path = _path(image)
    if path is None or not path.is_file():
        where = f"{DATA_DIR_ENV} is not set" if path is None else f"looked for {path}"
        raise MissingImage(
            f"{image.path} ({image.description}) is not available ({where}). It is not staged "
            "with hu-book and has no pinned checksum, so it is never downloaded; it is verified "
            f"by its content instead.\nFix: put the file at $HU_DATA_DIR/{image.path} (a copy: "
            f"{image.url}){image.instead}."
        )
    return path


def _read(image: UserImage, required: dict[str, int]) -> tuple[dict, dict[str, str]]:
    """Read and check the variables of a located user file; return them and ``{path: sha256}``."""

    path = _locate(image)
    variables = _parse_mat(path, image.path, required)
    digest = sha256_of(path)
    note_loaded(image.path, digest)
    return variables, {image.path: digest}


def _fail(image: UserImage, problem: str) -> DataError:
    return DataError(
        f"{image.path} is not {image.description}: {problem}.\nFix: replace it with the original "
        f"file (a copy: {image.url})."
    )


def nearest_pixel_angles(Y: np.ndarray, M: np.ndarray) -> np.ndarray:
    """Spectral angle (rad) from each column of ``M (bands, p)`` to its closest pixel of
    ``Y (bands, pixels)``: ``(p,)``."""
    Yn = Y / np.maximum(np.linalg.norm(Y, axis=0, keepdims=True), 1e-300)
    Mn = M / np.maximum(np.linalg.norm(M, axis=0, keepdims=True), 1e-300)
    return np.arccos(np.clip((Mn.T @ Yn).max(axis=1), -1.0, 1.0))


def pixel_angles(Y: np.ndarray, R: np.ndarray) -> np.ndarray:
    """Spectral angle (rad) between matching columns of ``Y`` and ``R`` (``(bands, pixels)``);
    a zero pixel is pi/2 from anything."""
    norms = np.linalg.norm(Y, axis=0) * np.linalg.norm(R, axis=0)
    cos = np.einsum("bp,bp->p", Y, R) / np.maximum(norms, 1e-300)
    return np.arccos(np.clip(cos, -1.0, 1.0))


def _check_near_pixels(image: UserImage, Y: np.ndarray, M: np.ndarray, names, limit: float) -> None:
    angles = nearest_pixel_angles(Y, M)
    far = [f"{n} {a:.3f} rad" for n, a in zip(names, angles, strict=True) if a > limit]
    if far:
        raise _fail(image, f"reference endmembers lie farther than {limit} rad from every pixel "
                           f"({', '.join(far)})")


def load_urban() -> HSI:
    """Urban (HYDICE), 307 x 307 pixels, 162 bands, 4 endmembers: asphalt, grass, tree, roof.

    ``Y`` is the stored image divided by 1000 (the ground truth's scale), verified against the
    checksummed 34 x 78 crop at its known location.
    """

    image, files = _read(URBAN, {"Y": 2})
    if image["Y"].shape != (162, 307 * 307):
        raise _fail(URBAN, f"Y has shape {image['Y'].shape}, expected (162, {307 * 307})")
    bad = int(np.size(image["Y"]) - np.isfinite(image["Y"]).sum())
    if bad:
        raise _fail(URBAN, f"Y has {bad} non-finite values (NaN or inf); the original has none")
    Y = from_column_major(image["Y"].astype(np.float64) / 1000.0, 307, 307)
    crop, crop_files = _urban_crop_cube()
    inside = Y.reshape(162, 307, 307)[:, URBAN_CROP_ROWS, URBAN_CROP_COLS].transpose(1, 2, 0)
    gap = float(np.abs(inside - crop).max())
    if not gap <= URBAN_CROP_ATOL:
        raise _fail(URBAN, f"Y / 1000 differs from the checksummed 34 x 78 crop at rows 223-256, "
                           f"columns 149-226 by up to {gap:.3g} (tolerance {URBAN_CROP_ATOL:g}); it is "
                           "another image, shifted, or scaled differently")
    truth, more = _urban_truth()
    abundances = from_column_major(truth["A"], 307, 307)
    angles = pixel_angles(Y, truth["M"] @ abundances)
    median, far = float(np.median(angles)), float(np.mean(angles > URBAN_TRUTH_FAR_ANGLE))
    if median > URBAN_TRUTH_MEDIAN_ANGLE or far > URBAN_TRUTH_FAR_SHARE:
        raise _fail(URBAN, f"its pixels do not follow the staged 4-endmember ground truth: the angle between "
                           f"a pixel and its reconstruction M a has median {median:.3f} rad (at most "
                           f"{URBAN_TRUTH_MEDIAN_ANGLE}) and exceeds {URBAN_TRUTH_FAR_ANGLE} rad on "
                           f"{100 * far:.1f} % of the pixels (at most {100 * URBAN_TRUTH_FAR_SHARE:g} %); "
                           "the crop matches, the rest of the image does not")
    return HSI(name="urban", Y=Y, rows=307, cols=307, endmembers=truth["M"],
               abundances=abundances, names=_names(truth["cood"]),
               files=files | crop_files | more,
               notes="Y = raw DN / 1000, verified against the staged crop. " + URBAN_NOTE)


def load_cuprite() -> HSI:
    """Cuprite (AVIRIS), 250 x 190 pixels, 188 bands, with the 12 rslab reference spectra.

    There are no reference abundances (``abundances`` is None): score endmembers only. ``Y`` is
    the stored image divided by its global maximum (as public scripts using this file do; C).
    """

    image, files = _read(CUPRITE, {"Y": 2})
    rows = int(np.ravel(image["nRow"])[0]) if "nRow" in image else CUPRITE_SHAPE[0]
    cols = int(np.ravel(image["nCol"])[0]) if "nCol" in image else CUPRITE_SHAPE[1]
    if (rows, cols) != CUPRITE_SHAPE or image["Y"].shape != (188, rows * cols):
        raise _fail(CUPRITE, f"Y has shape {image['Y'].shape} for {rows} x {cols} pixels, expected "
                             f"(188, {CUPRITE_SHAPE[0] * CUPRITE_SHAPE[1]}) for 250 x 190")
    Y = image["Y"].astype(np.float64)
    Y = from_column_major(Y / Y.max(), rows, cols)
    reference = cuprite_endmembers("rslab")
    _check_near_pixels(CUPRITE, Y, reference.M, reference.names, CUPRITE_MAX_ANGLE)
    return HSI(name="cuprite", Y=Y, rows=rows, cols=cols, endmembers=reference.M,
               names=reference.names, wavelengths=reference.wavelengths,
               files=files | reference.files,
               notes="Y divided by its global maximum; no reference abundances (endmembers only); "
                     "the reference spectra are USGS library spectra, not image pixels.")


def load_houston() -> HSI:
    """Drumetz's Houston crop (DFC 2013), 144 bands, with his 4 reference endmembers (vegetation,
    red roofs, concrete, asphalt). ``Y`` is rescaled to [0, 1] (global min and max), as in his
    demo (C); no reference abundances."""

    image, files = _read(HOUSTON, {})
    key = next((k for k in ("data", "r_cube") if k in image), None)
    if key is None or np.ndim(image[key]) != 3 or np.shape(image[key])[2] != 144:
        found = {k: np.shape(v) for k, v in image.items() if not k.startswith("__")}
        raise _fail(HOUSTON, f"no (rows, cols, 144) cube named 'data' or 'r_cube' (found {found})")
    cube = image[key].astype(np.float64)
    cube = (cube - cube.min()) / (cube.max() - cube.min())
    rows, cols, bands = cube.shape
    Y = cube.reshape(rows * cols, bands).T
    reference = houston_endmembers()
    _check_near_pixels(HOUSTON, Y, reference.M, reference.names, HOUSTON_MAX_ANGLE)
    return HSI(name="houston", Y=Y, rows=rows, cols=cols, endmembers=reference.M,
               names=reference.names, files=files | reference.files,
               notes="Rescaled to [0, 1] with the global minimum and maximum (Drumetz's demo); "
                     "no reference abundances.")


def load_deepgu_dc1() -> HSI:
    """DeepGU's DC1 (``data_ex1.mat``): 70 x 70 pixels, 224 bands, 3 endmembers with spectral
    variability; ``endmembers`` are the file's reference ``M``, ``abundances`` its ``alphas_cube``
    (verified equal to the staged ``abundance_squares_3em.mat``)."""

    image, files = _read(DEEPGU_DC1, {"r_cube": 3, "alphas_cube": 3, "M": 2})
    cube, alphas = image["r_cube"].astype(np.float64), image["alphas_cube"].astype(np.float64)
    if cube.shape != (70, 70, 224) or alphas.shape != (70, 70, 3) or image["M"].shape != (224, 3):
        raise _fail(DEEPGU_DC1, f"r_cube {cube.shape}, alphas_cube {alphas.shape}, M "
                                f"{image['M'].shape}; expected (70, 70, 224), (70, 70, 3), (224, 3)")
    A, rows, cols, more = deepgu_abundances("squares")
    staged = A.T.reshape(rows, cols, 3)
    gap = float(np.abs(alphas - staged).max())
    if not gap <= DC1_ABUNDANCE_ATOL:
        raise _fail(DEEPGU_DC1, f"alphas_cube differs from the checksummed abundance_squares_3em.mat "
                                f"by up to {gap:.3g} (tolerance {DC1_ABUNDANCE_ATOL:g})")
    return HSI(name="deepgu_dc1", Y=cube.reshape(70 * 70, 224).T, rows=70, cols=70,
               endmembers=image["M"], abundances=alphas.reshape(70 * 70, 3).T,
               names=["em1", "em2", "em3"], files=files | more,
               notes="DeepGU's DC1 as published (noisy, with spectral variability); abundances "
                     "verified against the staged squares maps.")
