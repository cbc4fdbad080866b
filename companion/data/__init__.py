"""Real hyperspectral datasets (checksummed), spectral libraries and synthetic generators."""

from .catalog import DATASETS, load
from .diagnostics import fit_endmember_scales
from .hsi import HSI, from_column_major
from .loaders import (
    ReferenceEndmembers,
    SpectralLibrary,
    aviris_wavelengths,
    cuprite_endmembers,
    deepgu_abundances,
    houston_endmembers,
    load_uadmm_synthetic,
    usgs_library,
)
from .registry import FILES, DataError, fetch
from .synthetic import add_noise, library_endmembers, patch_blur_abundances, patch_blur_image
from .user_images import MissingImage

__all__ = [
    "DATASETS",
    "FILES",
    "HSI",
    "MissingImage",
    "DataError",
    "ReferenceEndmembers",
    "SpectralLibrary",
    "add_noise",
    "aviris_wavelengths",
    "cuprite_endmembers",
    "deepgu_abundances",
    "fetch",
    "fit_endmember_scales",
    "from_column_major",
    "houston_endmembers",
    "library_endmembers",
    "load",
    "load_uadmm_synthetic",
    "patch_blur_abundances",
    "patch_blur_image",
    "usgs_library",
]
