"""Where every data file comes from, and how it is fetched and verified.

A file is looked up, in order, in the directory named by ``HU_DATA_DIR`` (same layout as
``shared/data``: ``samson/samson_1.mat`` ...), then in the pooch download cache, downloading it
from its commit-pinned URL when absent. Every file is verified against its sha256 before use;
nothing is ever substituted for a missing or corrupt file.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "FILES",
    "DataError",
    "DataFile",
    "cache_dir",
    "current_sha256",
    "data_dir",
    "fetch",
    "loaded_files",
    "note_loaded",
    "sha256_of",
    "tracking_loads",
]

DATA_DIR_ENV = "HU_DATA_DIR"
CACHE_DIR_ENV = "HU_CACHE_DIR"


class DataError(RuntimeError):
    """A data file is missing, corrupt, or does not have the expected content."""


@dataclass(frozen=True)
class DataFile:
    """One staged file: its path relative to the data root, sha256 and commit-pinned URL."""

    path: str
    sha256: str
    url: str
    size: int


_GH = "https://github.com"
_MUA = f"{_GH}/ricardoborsoi/MUA_SparseUnmixing/raw/089f5d61162807a5304759e293b132ed9d0d6ab4"
_MAXVOL = f"{_GH}/mabdolali/MaxVol_Dual/raw/2ceb4f74f119163163a1851e24a4c7d71d1015f7"
_NEBEAE = f"{_GH}/Alex-CruzG/NEBEAE/raw/b64034da343151002f21a3bcb263e83505f10170"
_MSK = f"{_GH}/ricardoborsoi/MultiscaleKernelSURelease/raw/6cd4f83faa98bd6d3c7a49d9781f420befa13db2"
_USV = f"{_GH}/ricardoborsoi/unmixing_spectral_variability/raw/d069df8ef6f0e5641f9fcf346121931e0c23bc21"
_ELMM = f"{_GH}/ldrumetz/ELMM_hyperspectral_Unmixing_code/raw/a73814d3f454c77aac03a2a853779286dd9a7a43"
_DDSU = f"{_GH}/ricardoborsoi/DataDependentSUvarRelease/raw/f00144d990e8269a0b24cdbeae380c56d9fcac4f"
_UADMM = f"{_GH}/ChaoEdisonZhouUCL/UADMMNet/raw/47bb34df9bb426d4ff9e6c7625616f6a9fdaaaee"

FILES: dict[str, DataFile] = {
    f.path: f
    for f in [
        DataFile("samson/samson_1.mat",
                 "1ebacaf7cd32bfc31c0ee3fd56c63a7f29a434893a8b45705fb59cd8a0c8beb6",
                 f"{_MUA}/real_data/samson_1.mat", 3604014),
        DataFile("samson/end3.mat",
                 "ce768182ce5292390180f827ff5769112cf3d299f4e64ab43e950a310b7ec9fa",
                 f"{_MAXVOL}/data/Samson/end3.mat", 134259),
        DataFile("jasper/jasperRidge2_R198.mat",
                 "0e4118a6452f6044978a8ca3762fb0f791115467904936d463c4e111e56e682e",
                 f"{_MUA}/real_data/jasperRidge2_R198.mat", 2987224),
        DataFile("jasper/end4.mat",
                 "92f5697b43705802b904fd13ba99b6ce65a3d203682864abc3fbec922beec374",
                 f"{_MAXVOL}/data/jasper/end4.mat", 178271),
        DataFile("urban/end4_groundTruth.mat",
                 "23460f3d4fd4523e2221c8f1895b0bedf0814e88a5a50b1fc6e8e4a0e6b2b2d2",
                 f"{_NEBEAE}/end4_groundTruth.mat", 1948588),
        DataFile("urban/subimage_Urban_R162.mat",
                 "a5da8beb6593c630ebe9baa12a61e9e86001f0ea36023e71331ef528f3a62469",
                 f"{_MSK}/DATA/subimage_Urban_R162.mat", 819810),
        DataFile("usgs/USGS_1995_Library.mat",
                 "fe2be84e4da2abf6ab00091b36f30a1a8dd247d18a78146f61235c8b5229da63",
                 f"{_MUA}/USGS_1995_Library.mat", 438954),
        DataFile("deepgu/abundance_squares_3em.mat",
                 "633d2558c2a2461d04945f30e9c771a9415c8a05f4758bcb7d66d7d5d42ddaef",
                 f"{_USV}/synthetic_data_generation/abundance_squares_3em.mat", 1506),
        DataFile("deepgu/abundance_spatial_3em.mat",
                 "b7792120f39a7b20173e3868cb94e399a1ba979d5b81b941d2f79417e94cb035",
                 f"{_USV}/synthetic_data_generation/abundance_spatial_3em.mat", 56910),
        DataFile("deepgu/AVIRIS_wavelengths.mat",
                 "4b583286733d38f6f788cda39b70a7af139c9e89d4e945aa24d8e526c7a48d1b",
                 f"{_USV}/synthetic_data_generation/AVIRIS_wavelengths.mat", 1108),
        DataFile("deepgu/training_EM_data.mat",
                 "0e9d78a2b763889ae6a251e2e3ff55b7c973666a598daa3eefc9cb609553f4c3",
                 f"{_USV}/methods/DeepGUn/python/training_EM_data.mat", 166407),
        DataFile("houston/endmembers_houston.mat",
                 "0f05fdf871a445eed76c2459e7bd15e004a8776b41c56c52be100df406eecba1",
                 f"{_ELMM}/endmembers_houston.mat", 4569),
        DataFile("cuprite/groundTruth_Cuprite_nEnd12.mat",
                 "011be17bb753b7d608745d5130fbb1bf326a6cb984421207ef72091fc7a33503",
                 f"{_NEBEAE}/groundTruth_Cuprite_nEnd12.mat", 22673),
        DataFile("cuprite/endmembers_cuprite.mat",
                 "0117c8008563a55ca2a2556ef5df8fb39c1093689c3d92b600848916c69115d0",
                 f"{_DDSU}/DATA/endmembers_cuprite.mat", 19997),
        DataFile("uadmmnet/endm_sigs_Sigma1.414.pkl",
                 "b1b9c3b2dbfdb1eac83bde2eb55e583a2e075d8860d8ead506a7b893f2738cbd",
                 f"{_UADMM}/Data/endm_sigs_Sigma1.414.pkl", 10910),
        DataFile("uadmmnet/abundance_Sigma1.414.pkl",
                 "9dc32151590d5663f80e606712a1c3d9e1ee9b28b33cb6f71963dfca9f46efde",
                 f"{_UADMM}/Data/abundance_Sigma1.414.pkl", 480159),
    ]
}


def data_dir() -> Path | None:
    """The local data root from ``HU_DATA_DIR``, or None when the variable is unset."""
    value = os.environ.get(DATA_DIR_ENV)
    return Path(value).expanduser() if value else None


def cache_dir() -> Path:
    """The download cache: ``HU_CACHE_DIR`` if set, else the OS user cache (``hu-book``)."""
    import pooch

    value = os.environ.get(CACHE_DIR_ENV)
    return Path(value).expanduser() if value else Path(pooch.os_cache("hu-book"))


_DIGESTS: dict[tuple[str, int, int], str] = {}


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in chunks (cached per path, size and modification time)."""
    stat = Path(path).stat()
    key = (str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _DIGESTS:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        _DIGESTS[key] = digest.hexdigest()
    return _DIGESTS[key]


# ----------------------------------------------------------------------------- load tracking
# Every data file used in this process (relative path -> sha256), so that resumable studies
# can tie each record to the exact data it was computed from (see companion.study).
_LOADED: dict[str, str] = {}
_TRACKERS: list[dict[str, str]] = []


def note_loaded(relative_path: str, sha256: str) -> None:
    """Record that ``relative_path`` with content ``sha256`` was used (called by the loaders)."""
    _LOADED[relative_path] = sha256
    for tracker in _TRACKERS:
        tracker[relative_path] = sha256


def loaded_files() -> dict[str, str]:
    """Every data file used so far in this process: relative path -> sha256."""
    return dict(_LOADED)


@contextlib.contextmanager
def tracking_loads() -> Iterator[dict[str, str]]:
    """Context manager yielding a dict that fills with the data files used inside the block."""
    tracker: dict[str, str] = {}
    _TRACKERS.append(tracker)
    try:
        yield tracker
    finally:
        _TRACKERS.remove(tracker)


def current_sha256(relative_path: str) -> str | None:
    """The sha256 that ``relative_path`` would have if loaded now, or None if it is absent.

    Registered files can only load with their pinned checksum; any other file (a user-supplied
    image) is looked up in ``HU_DATA_DIR`` and hashed.
    """
    if relative_path in FILES:
        return FILES[relative_path].sha256
    root = data_dir()
    path = None if root is None else root / relative_path
    return sha256_of(path) if path is not None and path.is_file() else None


def _verify(path: Path, entry: DataFile) -> Path:
    actual = sha256_of(path)
    if actual != entry.sha256:
        size = path.stat().st_size
        if data_dir() is None:  # a damaged file in the download cache
            fix = f"delete {path}; the next run downloads it again from {entry.url}."
        else:
            fix = (f"replace it with the original from {entry.url} (or unset {DATA_DIR_ENV} to "
                   "let the download cache fetch it).")
        raise DataError(
            f"{path} is corrupt or not the expected file: sha256 {actual[:16]}... "
            f"({size} bytes) but {entry.path} must have sha256 {entry.sha256[:16]}... "
            f"({entry.size} bytes).\nFix: {fix}"
        )
    note_loaded(entry.path, entry.sha256)
    return path


def fetch(relative_path: str) -> Path:
    """Return a verified local path for a registered data file.

    Looks in ``HU_DATA_DIR`` first; when that is unset downloads into the cache with pooch.
    Raises :class:`DataError` naming the file, URL and fix when it is missing or corrupt.
    """
    try:
        entry = FILES[relative_path]
    except KeyError:
        raise DataError(
            f"{relative_path!r} is not a registered data file; known files: {sorted(FILES)}"
        ) from None
    root = data_dir()
    if root is not None:
        local = root / entry.path
        if not local.is_file():
            raise DataError(
                f"{entry.path} not found in {DATA_DIR_ENV}={root} (looked for {local}).\n"
                f"Fix: download it from {entry.url} to {local}, point {DATA_DIR_ENV} at a "
                "directory laid out like shared/data, or unset it to download automatically."
            )
        return _verify(local, entry)
    return _download(entry)


def _download(entry: DataFile) -> Path:
    import pooch

    target = cache_dir() / entry.path
    if target.is_file():
        return _verify(target, entry)
    try:
        pooch.retrieve(
            entry.url,
            known_hash=f"sha256:{entry.sha256}",
            fname=Path(entry.path).name,
            path=target.parent,
            progressbar=False,
        )
    except ValueError as err:  # pooch's hash mismatch
        raise DataError(
            f"Downloaded {entry.path} from {entry.url} but its checksum is wrong ({err}).\n"
            "Fix: retry; if it persists, obtain the file by other means and set "
            f"{DATA_DIR_ENV}."
        ) from None
    except Exception as err:  # noqa: BLE001 (network failure: say what to do)
        raise DataError(
            f"Could not download {entry.path} from {entry.url}: {err}.\n"
            f"Fix: download it by hand into a directory laid out like shared/data and set "
            f"{DATA_DIR_ENV} to that directory."
        ) from None
    return _verify(target, entry)
