"""Loaders for the real datasets, spectral libraries and reference endmembers.

Every loader verifies its files (see :mod:`companion.data.registry`), checks shapes and values,
converts MATLAB's column-major pixel order to row-major once, and scales the image as the papers
use it: Samson as stored (already in [0, 1]); Jasper Ridge ``Y / maxValue``; Urban ``Y / 1000``.
Images that cannot be staged (full Urban, Cuprite, Houston, DeepGU's DC1) are loaded and verified
by content in :mod:`companion.data.user_images`; :mod:`companion.data.catalog` loads any of them by name.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.io

from .hsi import HSI, check_finite, from_column_major
from .registry import FILES, DataError, fetch

__all__ = [
    "ReferenceEndmembers",
    "SpectralLibrary",
    "aviris_wavelengths",
    "cuprite_endmembers",
    "deepgu_abundances",
    "houston_endmembers",
    "load_jasper",
    "load_samson",
    "load_uadmm_synthetic",
    "load_urban_crop",
    "usgs_library",
]

# Samson: 156 channels from 401 to 889 nm (nominal, not stored in the file).
SAMSON_WAVELENGTHS_NM = np.linspace(401.0, 889.0, 156)

URBAN_CROP_ROWS = slice(223, 257)  # where the staged 34 x 78 crop sits in full Urban (0-based, row-major)
URBAN_CROP_COLS = slice(149, 227)


def _read_mat(relative_path: str, required: dict[str, int]) -> tuple[dict, dict[str, str]]:
    """Fetch and read a .mat file; ``required`` maps variable name -> expected ndim.

    Returns the variables and ``{relative_path: sha256}`` for provenance.
    """
    path = fetch(relative_path)
    return _parse_mat(path, relative_path, required), {relative_path: FILES[relative_path].sha256}


def _parse_mat(path: Path, label: str, required: dict[str, int]) -> dict:
    try:
        variables = scipy.io.loadmat(path)
    except Exception as err:  # noqa: BLE001 (scipy raises many types for damaged files)
        raise DataError(f"{label} ({path}) cannot be read as a MATLAB file: {err}") from None
    for name, ndim in required.items():
        if name not in variables:
            raise DataError(f"{label} has no variable {name!r} (found {sorted(variables)}).")
        if np.ndim(variables[name]) != ndim:
            raise DataError(
                f"{label}: variable {name!r} has shape {np.shape(variables[name])}, "
                f"expected {ndim} dimensions."
            )
    return variables


def _names(cell: np.ndarray) -> list[str]:
    """Decode an rslab ``cood`` cell array such as ``['1-rock', '2-Tree']`` into names."""
    names = []
    for item in np.ravel(cell):
        text = str(np.ravel(item)[0]).strip()
        text = text.lstrip("#0123456789").lstrip("- ").strip()
        names.append(text.lower())
    return names


def _scalar(value) -> int:
    return int(np.ravel(value)[0])


def _expect_shape(array: np.ndarray, shape: tuple, what: str) -> None:
    if array.shape != shape:
        raise DataError(f"{what} has shape {array.shape}, expected {shape}.")


def load_samson() -> HSI:
    """Samson, 95 x 95 pixels, 156 bands (401-889 nm), 3 endmembers: soil, tree, water.

    The image is stored already divided by its global maximum. The ground-truth endmembers are
    each normalised to a maximum of 1, so they are NOT on the image's scale (see ``notes``).
    """
    image, files = _read_mat("samson/samson_1.mat", {"V": 2, "nRow": 2, "nCol": 2})
    truth, more = _read_mat("samson/end3.mat", {"M": 2, "A": 2, "cood": 2})
    rows, cols = _scalar(image["nRow"]), _scalar(image["nCol"])
    _expect_shape(image["V"], (156, rows * cols), "samson_1.mat V")
    _expect_shape(truth["A"], (3, rows * cols), "end3.mat A")
    names = ["soil" if n == "rock" else n for n in _names(truth["cood"])]
    return HSI(
        name="samson",
        Y=from_column_major(image["V"], rows, cols),
        rows=rows,
        cols=cols,
        endmembers=truth["M"],
        abundances=from_column_major(truth["A"], rows, cols),
        names=names,
        wavelengths=SAMSON_WAVELENGTHS_NM,
        files=files | more,
        notes="Image already divided by its global maximum. Ground-truth endmembers are each "
        "normalised to a maximum of 1 (not on the image's scale). Wavelengths are nominal "
        "(156 channels evenly spaced over 401-889 nm).",
    )


def load_jasper() -> HSI:
    """Jasper Ridge, 100 x 100 pixels, 198 AVIRIS bands, 4 endmembers: tree, water, soil, road.

    ``Y`` is the stored uint16 image divided by ``maxValue`` (5000), the scale of the ground-truth
    endmembers; a few pixels slightly exceed 1.
    """
    image, files = _read_mat(
        "jasper/jasperRidge2_R198.mat", {"Y": 2, "maxValue": 2, "SlectBands": 2, "nRow": 2}
    )
    truth, more = _read_mat("jasper/end4.mat", {"M": 2, "A": 2, "cood": 2})
    rows, cols = _scalar(image["nRow"]), _scalar(image["nCol"])
    _expect_shape(image["Y"], (198, rows * cols), "jasperRidge2_R198.mat Y")
    _expect_shape(truth["A"], (4, rows * cols), "end4.mat A")
    Y = image["Y"].astype(np.float64) / float(_scalar(image["maxValue"]))
    bands = np.ravel(image["SlectBands"]).astype(int) - 1
    wavelengths, wl_files = aviris_wavelengths()
    names = ["soil" if n == "dirt" else n for n in _names(truth["cood"])]
    return HSI(
        name="jasper",
        Y=from_column_major(Y, rows, cols),
        rows=rows,
        cols=cols,
        endmembers=truth["M"],
        abundances=from_column_major(truth["A"], rows, cols),
        names=names,
        wavelengths=wavelengths[bands],
        files=files | more | wl_files,
        notes="Y = raw DN / maxValue (5000). 198 of 224 AVIRIS bands (SlectBands) in the file's "
        "channel order; wavelengths from the AVIRIS calibration file of the DeepGU repository "
        "(they step back at two spectrometer joins).",
    )


def _urban_truth() -> tuple[dict, dict[str, str]]:
    truth, files = _read_mat("urban/end4_groundTruth.mat", {"M": 2, "A": 2, "cood": 2})
    _expect_shape(truth["A"], (4, 307 * 307), "end4_groundTruth.mat A")
    _expect_shape(truth["M"], (162, 4), "end4_groundTruth.mat M")
    return truth, files


URBAN_NOTE = (
    "No wavelengths: HYDICE's 210 channels over 400-2500 nm are unevenly spaced (finer in the "
    "visible and near infrared) and no band-centre table is staged; an even grid would put the "
    "vegetation red edge near 970 nm instead of 700 nm (it is at band index 53 of 162)."
)


def _urban_crop_cube() -> tuple[np.ndarray, dict[str, str]]:
    crop, files = _read_mat("urban/subimage_Urban_R162.mat", {"im": 3})
    _expect_shape(crop["im"], (34, 78, 162), "subimage_Urban_R162.mat im")
    return crop["im"].astype(np.float64), files


def load_urban_crop() -> HSI:
    """A 34 x 78 crop of Urban (162 bands) with the matching crop of the 4-endmember truth.

    The crop (Borsoi's demo file) sits at rows 223-256, columns 149-226 of the 307 x 307 scene;
    that location is verified in the tests by fitting the ground truth to it.
    """
    cube, files = _urban_crop_cube()
    truth, more = _urban_truth()
    maps = from_column_major(truth["A"], 307, 307).reshape(4, 307, 307)
    maps = maps[:, URBAN_CROP_ROWS, URBAN_CROP_COLS]
    rows, cols = maps.shape[1:]
    return HSI(
        name="urban_crop",
        Y=cube.reshape(rows * cols, 162).T,
        rows=rows,
        cols=cols,
        endmembers=truth["M"],
        abundances=maps.reshape(4, rows * cols),
        names=_names(truth["cood"]),
        files=files | more,
        notes="34 x 78 crop of Urban_R162 (already scaled as Y/1000), rows 223-256 and columns "
        "149-226 of the scene. " + URBAN_NOTE,
    )


# ----------------------------------------------------------------------------- libraries
@dataclass
class SpectralLibrary:
    """A spectral library: ``spectra (bands, n)``, rows sorted by wavelength (nm).

    ``valid`` flags the channels the library marks as usable (208 of 224 for USGS 1995).
    """

    spectra: np.ndarray
    names: list[str]
    wavelengths: np.ndarray
    valid: np.ndarray
    files: dict[str, str] = field(default_factory=dict)

    def index(self, name: str) -> int:
        """Column of the first entry whose name starts with ``name`` (case-insensitive)."""
        wanted = name.lower()
        for i, entry in enumerate(self.names):
            if entry.lower().startswith(wanted):
                return i
        raise KeyError(f"no library entry starts with {name!r}")


def usgs_library() -> SpectralLibrary:
    """The USGS 1995 library (AVIRIS-convolved, 224 channels, 498 spectra).

    The stored matrix's first three columns are wavelength (um), resolution and channel number
    (with a sentinel on invalid channels); they are removed here, names are decoded, and the rows
    are sorted by wavelength (the stored AVIRIS channel order overlaps at two spectrometer joins).
    """
    lib, files = _read_mat("usgs/USGS_1995_Library.mat", {"datalib": 2, "names": 2})
    data = lib["datalib"]
    _expect_shape(data, (224, 501), "USGS_1995_Library.mat datalib")
    names = ["".join(map(chr, row)).strip() for row in lib["names"]][3:]
    order = np.argsort(data[:, 0], kind="stable")
    valid = data[:, 2] > 0
    spectra = data[order, 3:]
    check_finite(spectra, "USGS library spectra")
    return SpectralLibrary(
        spectra=spectra,
        names=names,
        wavelengths=data[order, 0] * 1000.0,
        valid=valid[order],
        files=files,
    )


@dataclass
class ReferenceEndmembers:
    """Reference endmember spectra without an image: ``M (bands, p)``."""

    M: np.ndarray
    names: list[str]
    wavelengths: np.ndarray | None
    files: dict[str, str]


def cuprite_endmembers(source: str = "rslab") -> ReferenceEndmembers:
    """Cuprite reference endmembers on the 188-band version of the scene.

    ``source="rslab"``: the 12 named USGS spectra of the rslab ground truth (wavelengths known).
    ``source="borsoi"``: Borsoi's 14 unnamed reference endmembers for his Cuprite crop.
    """
    if source == "rslab":
        gt, files = _read_mat(
            "cuprite/groundTruth_Cuprite_nEnd12.mat", {"M": 2, "slctBnds": 2, "waveLength": 2}
        )
        keep = np.ravel(gt["slctBnds"]).astype(int) - 1
        return ReferenceEndmembers(
            M=gt["M"][keep], names=_names(gt["cood"]),
            wavelengths=np.ravel(gt["waveLength"])[keep] * 1000.0, files=files,
        )
    if source == "borsoi":
        ref, files = _read_mat("cuprite/endmembers_cuprite.mat", {"M0": 2})
        p = ref["M0"].shape[1]
        return ReferenceEndmembers(
            M=ref["M0"], names=[f"em{i + 1}" for i in range(p)], wavelengths=None, files=files
        )
    raise ValueError(f"source must be 'rslab' or 'borsoi', got {source!r}")


def houston_endmembers() -> ReferenceEndmembers:
    """Drumetz's 4 reference endmembers for the DFC-2013 Houston crop (144 bands, [0,1] data)."""
    ref, files = _read_mat("houston/endmembers_houston.mat", {"S0": 2})
    _expect_shape(ref["S0"], (144, 4), "endmembers_houston.mat S0")
    return ReferenceEndmembers(
        M=ref["S0"], names=["vegetation", "red roofs", "concrete", "asphalt"],
        wavelengths=None, files=files,
    )


def aviris_wavelengths() -> tuple[np.ndarray, dict[str, str]]:
    """The 224 AVIRIS band centres in nm (DeepGU repository's calibration) and file checksums."""
    wl, files = _read_mat("deepgu/AVIRIS_wavelengths.mat", {"AVIRIS_wavlen": 2})
    values = np.ravel(wl["AVIRIS_wavlen"]).astype(np.float64)
    if values.shape != (224,):
        raise DataError(f"AVIRIS_wavelengths.mat holds {values.shape}, expected (224,).")
    return values, files


def deepgu_abundances(kind: str) -> tuple[np.ndarray, int, int, dict[str, str]]:
    """DeepGU's synthetic abundance maps as ``(A (3, pixels), rows, cols, files)``.

    ``kind="squares"``: 70 x 70 piecewise-constant squares (DC1); ``"spatial"``: 50 x 50 smooth
    spatially correlated maps (DC2). Both sum to one at every pixel.
    """
    files_by_kind = {
        "squares": "deepgu/abundance_squares_3em.mat",
        "spatial": "deepgu/abundance_spatial_3em.mat",
    }
    if kind not in files_by_kind:
        raise ValueError(f"kind must be one of {sorted(files_by_kind)}, got {kind!r}")
    maps, files = _read_mat(files_by_kind[kind], {"A_cube": 3})
    cube = maps["A_cube"].astype(np.float64)
    check_finite(cube, files_by_kind[kind])
    rows, cols, p = cube.shape
    return cube.reshape(rows * cols, p).T, rows, cols, files


# ----------------------------------------------------------------------------- U-ADMM set
_ALLOWED_PICKLE_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"): ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"): ("numpy", "ndarray"),
    ("numpy", "dtype"): ("numpy", "dtype"),
}


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that reconstructs plain numpy arrays and refuses every other global."""

    def find_class(self, module: str, name: str):
        target = _ALLOWED_PICKLE_GLOBALS.get((module, name))
        if target is None:
            raise DataError(
                f"refusing to unpickle {module}.{name}: only plain numpy arrays are allowed."
            )
        return super().find_class(*target)


def _read_pickled_array(relative_path: str) -> tuple[np.ndarray, dict[str, str]]:
    path = fetch(relative_path)
    try:
        with open(path, "rb") as handle:
            array = _NumpyOnlyUnpickler(handle, encoding="latin1").load()
    except DataError:
        raise
    except Exception as err:  # noqa: BLE001 (any unpickling failure means a bad file)
        raise DataError(f"{relative_path} ({path}) cannot be unpickled: {err}") from None
    if not isinstance(array, np.ndarray):
        raise DataError(f"{relative_path} holds {type(array).__name__}, expected a numpy array.")
    check_finite(array, relative_path)
    return array.astype(np.float64), {relative_path: FILES[relative_path].sha256}


def load_uadmm_synthetic() -> HSI:
    """The U-ADMM-Net synthetic set: 6 endmembers (224 bands), 100 x 100 abundances, noiseless.

    Only the endmembers and abundances are published, so ``Y = E A`` is rebuilt without noise;
    add noise with :func:`companion.data.synthetic.add_noise`. The pixel order of the published
    ``(pixels, 6)`` array is taken as row-major (it was written from numpy).
    """
    E, files = _read_pickled_array("uadmmnet/endm_sigs_Sigma1.414.pkl")
    A, more = _read_pickled_array("uadmmnet/abundance_Sigma1.414.pkl")
    _expect_shape(E, (224, 6), "endm_sigs_Sigma1.414.pkl")
    _expect_shape(A, (10000, 6), "abundance_Sigma1.414.pkl")
    return HSI(
        name="uadmm_synthetic",
        Y=E @ A.T,
        rows=100,
        cols=100,
        endmembers=E,
        abundances=A.T,
        names=[f"em{i + 1}" for i in range(6)],
        files=files | more,
        notes="Noiseless Y = E A rebuilt from the published endmembers and abundances "
        "(the published noisy cube is not available).",
    )
