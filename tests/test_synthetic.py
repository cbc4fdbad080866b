"""Synthetic generators: patch structure, simplex, SNR definition, seeding."""

import math

import numpy as np
import pytest

from companion import data


def test_patch_blur_without_blur_has_two_endmembers_per_patch():
    A, rows, cols = data.patch_blur_abundances(p=6, z=4, beta=0.8, sigma=1e-6, seed=3)
    assert (rows, cols) == (16, 16) and A.shape == (6, 256)
    maps = A.reshape(6, 16, 16)
    for i in range(4):
        for j in range(4):
            patch = maps[:, 4 * i : 4 * i + 4, 4 * j : 4 * j + 4].reshape(6, -1)
            assert np.allclose(patch, patch[:, :1])               # constant inside the patch
            assert sorted(np.round(patch[:, 0], 6))[-2:] == [0.2, 0.8]
            assert np.count_nonzero(patch[:, 0] > 1e-9) == 2


def test_patch_blur_is_a_seeded_simplex_image():
    A, _, _ = data.patch_blur_abundances(p=6, z=8, beta=0.8, seed=0)
    assert A.shape == (6, 4096) and A.min() >= 0
    np.testing.assert_allclose(A.sum(axis=0), 1.0, atol=1e-12)
    assert A.max() < 0.8 + 1e-9 and A.max() > 0.7   # blur mixes, never exceeds beta
    np.testing.assert_array_equal(A, data.patch_blur_abundances(p=6, z=8, beta=0.8, seed=0)[0])
    assert not np.allclose(A, data.patch_blur_abundances(p=6, z=8, beta=0.8, seed=1)[0])


@pytest.mark.parametrize("snr_db", [15.0, 25.0, 40.0])
def test_noise_matches_the_snr_definition(snr_db):
    rng = np.random.default_rng(0)
    Y = rng.uniform(0, 1, (100, 5000))
    noisy = data.add_noise(Y, snr_db, seed=1)
    noise = noisy - Y
    measured = 10 * np.log10(np.mean(np.sum(Y**2, 0)) / np.mean(np.sum(noise**2, 0)))
    assert measured == pytest.approx(snr_db, abs=0.05)


def test_infinite_snr_means_no_noise():
    Y = np.ones((3, 4))
    np.testing.assert_array_equal(data.add_noise(Y, math.inf), Y)


def test_library_endmembers_by_name_and_at_random():
    lib = data.usgs_library()
    E, names, wavelengths = data.library_endmembers(lib, names=["Carnallite", "Brucite"])
    assert E.shape == (208, 2) and names == ["Carnallite NMNH98011", "Brucite HS247.3B"]
    assert wavelengths.shape == (208,)
    E1, n1, _ = data.library_endmembers(lib, p=6, seed=5)
    E2, n2, _ = data.library_endmembers(lib, p=6, seed=5)
    assert n1 == n2 and len(set(n1)) == 6 and np.array_equal(E1, E2)
    with pytest.raises(ValueError, match="exactly one"):
        data.library_endmembers(lib)


def test_patch_blur_image_combines_the_pieces():
    lib = data.usgs_library()
    E, names, wl = data.library_endmembers(lib, p=4, seed=0)
    hsi = data.patch_blur_image(E, z=4, beta=0.8, snr_db=math.inf, seed=0, names=names, wavelengths=wl)
    np.testing.assert_allclose(hsi.Y, E @ hsi.abundances)
    assert hsi.names == names and (hsi.rows, hsi.cols) == (16, 16)
