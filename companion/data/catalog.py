"""Every image of the book by name: the staged datasets and the user-supplied ones.

:func:`load` is the one entry point; staged images come from :mod:`companion.data.loaders`,
user-supplied ones (verified by content) from :mod:`companion.data.user_images`.
"""

from __future__ import annotations

from . import loaders, user_images
from .hsi import HSI

__all__ = ["DATASETS", "load"]

DATASETS = {
    "samson": loaders.load_samson,
    "jasper": loaders.load_jasper,
    "urban": user_images.load_urban,
    "urban_crop": loaders.load_urban_crop,
    "uadmm_synthetic": loaders.load_uadmm_synthetic,
    "cuprite": user_images.load_cuprite,
    "houston": user_images.load_houston,
    "deepgu_dc1": user_images.load_deepgu_dc1,
}


def load(name: str) -> HSI:
    """Load a dataset with its ground truth by name: one of :data:`DATASETS`.

    ``urban``, ``cuprite``, ``houston`` and ``deepgu_dc1`` are user-supplied images (see
    :mod:`companion.data.user_images`): they raise :class:`~companion.data.user_images.MissingImage`
    when the file is not in ``HU_DATA_DIR`` and :class:`~companion.data.registry.DataError` when it
    fails verification.
    """
    try:
        loader = DATASETS[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; choose one of {sorted(DATASETS)}") from None
    return loader()
