"""Real hyperspectral datasets (checksummed), spectral libraries and synthetic generators."""

from .diagnostics import fit_endmember_scales
from .hsi import HSI, from_column_major
from .loaders import (
    DATASETS,
    ReferenceEndmembers,
    SpectralLibrary,
    aviris_wavelengths,
    cuprite_endmembers,
    deepgu_abundances,
    houston_endmembers,
    load,
    load_uadmm_synthetic,
    usgs_library,
)
from .registry import FILES, DataError, fetch
from .synthetic import add_noise, library_endmembers, patch_blur_abundances, patch_blur_image

__all__ = [
    "HSI", "from_column_major", "fit_endmember_scales", "DATASETS", "ReferenceEndmembers", "SpectralLibrary",
    "aviris_wavelengths", "cuprite_endmembers", "deepgu_abundances", "houston_endmembers",
    "load", "load_uadmm_synthetic", "usgs_library", "FILES", "DataError", "fetch", "add_noise",
    "library_endmembers", "patch_blur_abundances", "patch_blur_image",
]
