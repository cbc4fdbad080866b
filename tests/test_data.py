"""Real datasets: checksums, shapes, scaling and, above all, pixel order proven against truth."""

import pickle
import shutil

import numpy as np
import pytest
import scipy.io

from companion import data
from companion.classic import fcls
from companion.data import DataError, fit_endmember_scales, from_column_major
from companion.data.loaders import _NumpyOnlyUnpickler
from companion.data.registry import FILES
from companion.metrics import rmse_per_pixel_mean


def transposed_grid(hsi, A):
    """The abundances as they would read if the spatial grid were transposed."""
    return hsi.to_images(A).transpose(0, 2, 1).reshape(A.shape[0], -1)


@pytest.fixture(scope="module")
def jasper():
    return data.load("jasper")


@pytest.fixture(scope="module")
def samson():
    return data.load("samson")


@pytest.fixture(scope="module")
def urban_crop():
    return data.load("urban_crop")


def test_jasper_pixel_order_is_proven_by_fcls_with_true_endmembers(jasper):
    # Seen: 0.0607 in the chosen (row-major, converted from MATLAB's column-major) order,
    # 0.4525 with the grid transposed.
    A = fcls(jasper.Y, jasper.endmembers)
    right = rmse_per_pixel_mean(jasper.abundances, A)
    wrong = rmse_per_pixel_mean(transposed_grid(jasper, jasper.abundances), A)
    assert right == pytest.approx(0.0607, abs=0.003)
    assert wrong > 0.4


def test_urban_crop_pixel_order_and_location_against_urban_maps(urban_crop, staged_data_dir):
    # Seen: 0.102 at rows 223-256 / cols 149-226 read column-major; 0.305 with the 307x307
    # ground-truth grid read in the wrong (row-major) order.
    A = fcls(urban_crop.Y, urban_crop.endmembers)
    right = rmse_per_pixel_mean(urban_crop.abundances, A)
    truth = scipy.io.loadmat(staged_data_dir / "urban/end4_groundTruth.mat")["A"]
    wrong_order = truth.reshape(4, 307, 307)[:, 223:257, 149:227].reshape(4, -1)
    shifted = from_column_major(truth, 307, 307).reshape(4, 307, 307)[:, 228:262, 149:227]
    assert right < 0.12
    assert rmse_per_pixel_mean(wrong_order, A) > 0.25
    assert rmse_per_pixel_mean(shifted.reshape(4, -1), A) > right + 0.05


def test_samson_truth_is_not_on_image_scale_but_order_still_discriminates(samson):
    # Samson's ground-truth endmembers are each normalised to max 1: FCLS with them is poor
    # in either order (0.376 vs 0.430). Fitting one scale per endmember restores a sharp test.
    assert np.allclose(samson.endmembers.max(axis=0), 1.0, atol=1e-3)
    scales, residual = fit_endmember_scales(samson.Y, samson.endmembers, samson.abundances)
    _, residual_t = fit_endmember_scales(
        samson.Y, samson.endmembers, transposed_grid(samson, samson.abundances)
    )
    assert np.all(scales < 0.6)           # seen: 0.44, 0.52, 0.033
    assert residual < 0.35 and residual_t > 0.5  # seen: 0.31 vs 0.56
    A = fcls(samson.Y, samson.endmembers * scales)
    right = rmse_per_pixel_mean(samson.abundances, A)
    wrong = rmse_per_pixel_mean(transposed_grid(samson, samson.abundances), A)
    assert right < 0.13 and wrong > 0.3   # seen: 0.108 vs 0.339


def test_jasper_truth_is_on_image_scale(jasper):
    scales, residual = fit_endmember_scales(jasper.Y, jasper.endmembers, jasper.abundances)
    assert np.all((scales > 0.8) & (scales < 1.2))
    assert residual < 0.2


@pytest.mark.parametrize(
    "name, shape, rows, cols, names, y_max",
    [
        ("samson", (156, 9025), 95, 95, ["soil", "tree", "water"], 1.0),
        ("jasper", (198, 10000), 100, 100, ["tree", "water", "soil", "road"], 1.0874),
        ("urban_crop", (162, 2652), 34, 78, ["asphalt road", "grass", "tree", "roof"], 0.635),
    ],
)
def test_dataset_shapes_scaling_and_truth(name, shape, rows, cols, names, y_max):
    hsi = data.load(name)
    assert hsi.Y.shape == shape and hsi.Y.dtype == np.float64
    assert (hsi.rows, hsi.cols) == (rows, cols)
    assert hsi.names == names
    assert hsi.Y.max() == pytest.approx(y_max, rel=1e-4)
    assert hsi.abundances.shape == (len(names), rows * cols)
    np.testing.assert_allclose(hsi.abundances.sum(axis=0), 1.0, atol=1e-6)
    if name == "urban_crop":  # HYDICE band centres are uneven and not staged: none given
        assert hsi.wavelengths is None and "red edge" in hsi.notes
    else:
        assert hsi.wavelengths.shape == (shape[0],)
        # AVIRIS (Jasper) band centres step back at its two spectrometer joins.
        assert np.sum(np.diff(hsi.wavelengths) <= 0) == (2 if name == "jasper" else 0)
    assert set(hsi.files) and all(len(v) == 64 for v in hsi.files.values())
    assert hsi.to_images(hsi.abundances).shape == (len(names), rows, cols)


def test_to_images_is_row_major_and_checks_shape(jasper):
    X = np.arange(jasper.n_pixels, dtype=float)[None]
    img = jasper.to_images(X)[0]
    assert img[0, 1] == 1 and img[1, 0] == jasper.cols
    with pytest.raises(ValueError, match="expected"):
        jasper.to_images(X[:, :-1])


def test_urban_image_missing_names_file_url_and_fix():
    with pytest.raises(DataError) as err:
        data.load("urban")
    message = str(err.value)
    assert "Urban_R162.mat" in message and "https://" in message and "HU_DATA_DIR" in message
    assert "urban_crop" in message


def test_unknown_dataset_lists_valid_names():
    with pytest.raises(ValueError, match="jasper"):
        data.load("jaspr")


def test_usgs_library_layout():
    lib = data.usgs_library()
    assert lib.spectra.shape == (224, 498)
    assert lib.names[0] == "Acmite NMNH133746"
    assert np.all(np.diff(lib.wavelengths) >= 0)
    assert lib.valid.sum() == 208
    assert lib.wavelengths[~lib.valid].min() > 2350  # the flagged channels are the last ones
    assert lib.names[lib.index("brucite")] == "Brucite HS247.3B"


def test_reference_endmembers_and_deepgu_maps():
    cuprite = data.cuprite_endmembers()
    assert cuprite.M.shape == (188, 12) and cuprite.names[0] == "alunite"
    assert data.cuprite_endmembers("borsoi").M.shape == (188, 14)
    assert data.houston_endmembers().M.shape == (144, 4)
    for kind, side in [("squares", 70), ("spatial", 50)]:
        A, rows, cols, _ = data.deepgu_abundances(kind)
        assert (rows, cols) == (side, side) and A.shape == (3, side * side)
        # the stored squares use 4-digit fractions (e.g. 0.3333), so sums are 0.9999 there
        np.testing.assert_allclose(A.sum(axis=0), 1.0, atol=2e-4)
    wavelengths, _ = data.aviris_wavelengths()
    assert wavelengths.shape == (224,) and 369 < wavelengths[0] < 371


def test_uadmm_synthetic_set():
    hsi = data.load("uadmm_synthetic")
    assert hsi.Y.shape == (224, 10000) and hsi.abundances.max() == pytest.approx(0.8)
    np.testing.assert_allclose(hsi.abundances.sum(axis=0), 1.0, atol=1e-6)
    np.testing.assert_allclose(hsi.Y, hsi.endmembers @ hsi.abundances)


def test_unpickler_refuses_anything_but_numpy_arrays():
    import io
    from collections import OrderedDict

    payload = pickle.dumps(OrderedDict(a=1))
    with pytest.raises(DataError, match="refusing"):
        _NumpyOnlyUnpickler(io.BytesIO(payload)).load()
    array = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(_NumpyOnlyUnpickler(io.BytesIO(pickle.dumps(array))).load(), array)


# ------------------------------------------------------------------ damaged and missing files
@pytest.fixture
def copied_data_dir(tmp_path, staged_data_dir, monkeypatch):
    """A private copy of the Jasper files that a test may damage."""
    for rel in ["jasper/jasperRidge2_R198.mat", "jasper/end4.mat", "deepgu/AVIRIS_wavelengths.mat"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(staged_data_dir / rel, tmp_path / rel)
    monkeypatch.setenv("HU_DATA_DIR", str(tmp_path))
    return tmp_path


def test_truncated_file_is_rejected_with_file_and_fix(copied_data_dir):
    target = copied_data_dir / "jasper/end4.mat"
    target.write_bytes(target.read_bytes()[:50_000])
    with pytest.raises(DataError) as err:
        data.load("jasper")
    message = str(err.value)
    assert "end4.mat" in message and "sha256" in message
    assert FILES["jasper/end4.mat"].url in message and "Fix:" in message


def test_altered_byte_is_rejected(copied_data_dir):
    target = copied_data_dir / "jasper/jasperRidge2_R198.mat"
    raw = bytearray(target.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    target.write_bytes(bytes(raw))
    with pytest.raises(DataError, match="jasperRidge2_R198.mat"):
        data.load("jasper")


def test_missing_file_names_url(copied_data_dir):
    (copied_data_dir / "jasper/end4.mat").unlink()
    with pytest.raises(DataError) as err:
        data.load("jasper")
    assert "not found" in str(err.value) and FILES["jasper/end4.mat"].url in str(err.value)


def test_download_cache_is_verified(tmp_path, staged_data_dir, monkeypatch):
    """Without HU_DATA_DIR files come from the pooch cache; a bad cached copy is refused."""
    monkeypatch.delenv("HU_DATA_DIR")
    monkeypatch.setenv("HU_CACHE_DIR", str(tmp_path))
    rel = "houston/endmembers_houston.mat"
    (tmp_path / "houston").mkdir()
    shutil.copy(staged_data_dir / rel, tmp_path / rel)
    assert data.fetch(rel) == tmp_path / rel
    (tmp_path / rel).write_bytes(b"not a mat file")
    with pytest.raises(DataError, match="corrupt") as err:
        data.fetch(rel)
    assert "downloads it again" in str(err.value) and "unset" not in str(err.value)


def test_nan_values_and_bad_shapes_are_rejected():
    Y = np.ones((5, 6))
    Y[2, 3] = np.nan
    with pytest.raises(DataError, match="NaN"):
        data.HSI(name="bad", Y=Y, rows=2, cols=3)
    with pytest.raises(DataError, match="expected"):
        data.HSI(name="bad", Y=np.ones((5, 6)), rows=3, cols=3)
    with pytest.raises(DataError, match="bands"):
        data.HSI(name="bad", Y=np.ones((5, 6)), rows=2, cols=3, endmembers=np.ones((4, 2)))
