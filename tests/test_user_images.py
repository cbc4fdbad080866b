"""User-supplied images are verified by content: stand-ins built from the staged ground truth
pass; shifted, rescaled, wrong-shaped or foreign files fail with the file named."""

import os
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from companion import data
from companion.data import DataError, MissingImage, registry, user_images

STAGED = ["urban/end4_groundTruth.mat", "urban/subimage_Urban_R162.mat",
          "cuprite/groundTruth_Cuprite_nEnd12.mat", "houston/endmembers_houston.mat",
          "deepgu/abundance_squares_3em.mat"]


@pytest.fixture
def data_dir(tmp_path, staged_data_dir, monkeypatch):
    """A data folder with links to the staged ground truth, where a test puts its stand-in."""
    for rel in STAGED:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(staged_data_dir / rel, tmp_path / rel)
    monkeypatch.setenv("HU_DATA_DIR", str(tmp_path))
    return tmp_path


def to_column_major(cube: np.ndarray) -> np.ndarray:
    """``(rows, cols, bands)`` -> MATLAB's ``(bands, pixels)`` with column-major pixels."""
    rows, cols, bands = cube.shape
    return cube.transpose(2, 1, 0).reshape(bands, rows * cols)


@pytest.fixture(scope="module")
def urban_dn():
    """A 307 x 307 x 162 DN cube (int16): the staged crop x 1000 at its location, elsewhere the
    staged ground truth's reconstruction M A x 1000 (a stand-in the check cannot tell from the
    original, as its docstring says)."""
    root = Path(os.environ["HU_DATA_DIR"])
    crop = scipy.io.loadmat(root / "urban/subimage_Urban_R162.mat")["im"]
    truth = scipy.io.loadmat(root / "urban/end4_groundTruth.mat")
    mixed = (truth["M"] @ truth["A"]).reshape(162, 307, 307).transpose(2, 1, 0)  # MATLAB order -> cube
    cube = np.round(mixed * 1000).astype(np.int16)
    cube[223:257, 149:227] = np.round(crop * 1000).astype(np.int16)
    return cube


def write_urban(folder: Path, Y: np.ndarray) -> None:
    scipy.io.savemat(folder / "urban/Urban_R162.mat", {"Y": Y}, do_compression=False)


def test_missing_image_says_where_to_put_it(data_dir):
    for name, image in [("urban", user_images.URBAN), ("cuprite", user_images.CUPRITE),
                        ("houston", user_images.HOUSTON), ("deepgu_dc1", user_images.DEEPGU_DC1)]:
        assert not user_images.available(image)
        with pytest.raises(MissingImage, match=image.path.replace(".", r"\.")) as err:
            data.load(name)
        assert "Fix: put the file at $HU_DATA_DIR/" in str(err.value)


def test_urban_stand_in_embedding_the_crop_passes_and_is_tracked(data_dir, urban_dn):
    write_urban(data_dir, to_column_major(urban_dn))
    hsi = data.load("urban")
    assert (hsi.rows, hsi.cols, hsi.bands) == (307, 307, 162) and hsi.abundances.shape == (4, 307 * 307)
    crop = scipy.io.loadmat(data_dir / "urban/subimage_Urban_R162.mat")["im"]
    np.testing.assert_allclose(hsi.cube()[223:257, 149:227], crop, atol=1e-9)
    digest = registry.sha256_of(data_dir / "urban/Urban_R162.mat")
    assert hsi.files["urban/Urban_R162.mat"] == digest
    assert registry.loaded_files()["urban/Urban_R162.mat"] == digest


@pytest.mark.parametrize(
    ("variant", "message"),
    [("shifted", "differs from the checksummed"), ("rescaled", "differs from the checksummed"),
     ("transposed", "differs from the checksummed"), ("161 bands", "expected \\(162")],
)
def test_urban_stand_ins_that_are_not_the_image_fail(data_dir, urban_dn, variant, message):
    if variant == "shifted":
        Y = to_column_major(np.roll(urban_dn, 1, axis=0))
    elif variant == "rescaled":
        Y = to_column_major(urban_dn) / 1000.0  # already divided: the loader would divide again
    elif variant == "transposed":
        Y = to_column_major(urban_dn.transpose(1, 0, 2))  # row-major pixels stored as if MATLAB
    else:
        Y = to_column_major(urban_dn[:, :, :161])
    write_urban(data_dir, Y)
    with pytest.raises(DataError, match=message) as err:
        data.load("urban")
    assert "urban/Urban_R162.mat" in str(err.value) and "Fix:" in str(err.value)


@pytest.mark.parametrize(("outside", "message"), [
    ("nan", "non-finite values"), ("random", "do not follow the staged 4-endmember ground truth"),
    ("zeros", "do not follow the staged 4-endmember ground truth")])
def test_urban_stand_ins_that_match_only_the_crop_fail_naming_the_file(data_dir, urban_dn, outside, message):
    cube = urban_dn.astype(np.float64)
    inside = cube[223:257, 149:227].copy()
    cube[:] = {"nan": np.nan, "zeros": 0.0}.get(outside, 0.0)
    if outside == "random":
        cube[:] = np.random.default_rng(0).uniform(0, 600, cube.shape)
    cube[223:257, 149:227] = inside
    write_urban(data_dir, to_column_major(cube))
    with pytest.raises(DataError, match=message) as err:
        data.load("urban")
    assert "urban/Urban_R162.mat" in str(err.value) and "Fix:" in str(err.value)


def cuprite_stand_in(reference: np.ndarray, rng) -> np.ndarray:
    """250 x 190 mixtures of ``reference (188, 12)`` with a pure pixel of each (DN scale)."""
    A = rng.dirichlet(np.ones(12), size=250 * 190).T
    A[:, :12] = np.eye(12)
    return (reference @ A) * 10000.0


def test_cuprite_stand_in_passes_foreign_or_misbanded_fails(data_dir):
    reference = data.cuprite_endmembers("rslab").M
    rng = np.random.default_rng(0)
    path = data_dir / "cuprite/CupriteS1_R188.mat"
    scipy.io.savemat(path, {"Y": cuprite_stand_in(reference, rng), "nRow": 250, "nCol": 190})
    hsi = data.load("cuprite")
    assert (hsi.rows, hsi.cols, hsi.bands, hsi.p) == (250, 190, 188, 12) and hsi.abundances is None
    assert hsi.Y.max() == pytest.approx(1.0)
    # bands misaligned by 60 channels: the right shape, but no pixel resembles the minerals (a
    # shift of 20 channels, 0.19 rad, or another 188-band scene such as Jasper Ridge, <= 0.19 rad,
    # would pass: the Cuprite check is a plausibility check, see companion.data.user_images)
    scipy.io.savemat(path, {"Y": np.roll(cuprite_stand_in(reference, rng), 60, axis=0), "nRow": 250,
                            "nCol": 190})
    with pytest.raises(DataError, match="farther than 0.25 rad"):
        data.load("cuprite")
    scipy.io.savemat(path, {"Y": cuprite_stand_in(reference, rng)[:, :-190], "nRow": 249, "nCol": 190})
    with pytest.raises(DataError, match="expected \\(188, 47500\\)"):
        data.load("cuprite")


def test_houston_stand_in_passes_other_scene_fails(data_dir):
    reference = data.houston_endmembers().M
    rng = np.random.default_rng(1)
    A = rng.dirichlet(np.ones(4), size=30 * 20).T
    A[:, :4] = np.eye(4)
    path = data_dir / "houston/real_data_1.mat"
    scipy.io.savemat(path, {"data": (reference @ A).T.reshape(30, 20, 144) * 5000})
    hsi = data.load("houston")
    assert (hsi.rows, hsi.cols, hsi.bands) == (30, 20, 144) and hsi.Y.min() == 0 and hsi.Y.max() == 1
    scipy.io.savemat(path, {"data": rng.uniform(size=(30, 20, 144))})
    with pytest.raises(DataError, match="houston/real_data_1.mat is not"):
        data.load("houston")


def test_deepgu_dc1_stand_in_checked_against_staged_abundances(data_dir):
    A, rows, cols, _ = data.deepgu_abundances("squares")
    alphas = A.T.reshape(rows, cols, 3)
    rng = np.random.default_rng(2)
    M = rng.uniform(0.1, 0.9, size=(224, 3))
    cube = (M @ A).T.reshape(rows, cols, 224)
    path = data_dir / "deepgu/data_ex1.mat"
    scipy.io.savemat(path, {"r_cube": cube, "alphas_cube": alphas, "M": M})
    hsi = data.load("deepgu_dc1")
    np.testing.assert_allclose(hsi.abundances, A, atol=1e-12)
    scipy.io.savemat(path, {"r_cube": cube, "alphas_cube": np.roll(alphas, 1, axis=1), "M": M})
    with pytest.raises(DataError, match="alphas_cube differs"):
        data.load("deepgu_dc1")
