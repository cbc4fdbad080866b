"""Classical methods against independent references (scipy) and planted ground truth."""

import time

import numpy as np
import pytest
from scipy.optimize import nnls

from companion import data
from companion.classic import fcls, nmf_l1, nmf_l1_objective, sunsal, vca
from companion.metrics import match_endmembers, sad


def fcls_reference(Y, M, delta=1e5):
    """Per-pixel scipy NNLS with the usual sum-to-one row augmentation (weight ``delta``)."""
    M_aug = np.vstack([M, delta * np.ones((1, M.shape[1]))])
    return np.stack([nnls(M_aug, np.r_[y, delta])[0] for y in Y.T], axis=1)


@pytest.fixture(scope="module")
def jasper():
    return data.load("jasper")


@pytest.fixture(scope="module")
def six_minerals():
    lib = data.usgs_library()
    names = ["Carnallite", "Ammonio-jarosite", "Almandine", "Brucite", "Axinite", "Chlorite"]
    return data.library_endmembers(lib, names=names)[0]


def test_fcls_matches_scipy_nnls_on_jasper(jasper):
    Y = jasper.Y[:, ::20]
    A = fcls(Y, jasper.endmembers)
    assert np.abs(A - fcls_reference(Y, jasper.endmembers)).max() < 1e-6
    np.testing.assert_allclose(A.sum(axis=0), 1.0, atol=1e-12)
    assert A.min() >= 0


def test_fcls_matches_scipy_nnls_on_noisy_six_endmember_mixtures(six_minerals):
    rng = np.random.default_rng(0)
    A_true = rng.dirichlet(0.3 * np.ones(6), size=400).T
    Y = data.add_noise(six_minerals @ A_true, 20.0, seed=1)
    A = fcls(Y, six_minerals)
    assert np.abs(A - fcls_reference(Y, six_minerals)).max() < 1e-6
    assert (A < 1e-12).sum() > 100   # active constraints are exercised


def test_fcls_recovers_noiseless_abundances(six_minerals):
    A_true = np.random.default_rng(1).dirichlet(np.ones(6), size=300).T
    np.testing.assert_allclose(fcls(six_minerals @ A_true, six_minerals), A_true, atol=1e-8)


def test_fcls_rejects_bad_input():
    with pytest.raises(ValueError, match="equal bands"):
        fcls(np.ones((5, 3)), np.ones((4, 2)))
    with pytest.raises(ValueError, match="sunsal"):
        fcls(np.ones((20, 3)), np.ones((20, 13)))


def test_sunsal_with_sum_to_one_and_no_sparsity_is_fcls(jasper):
    Y = jasper.Y[:, ::10]
    S = sunsal(Y, jasper.endmembers, lam=0.0, positivity=True, sum_to_one=True, tol=1e-9,
               max_iter=20000)
    assert np.abs(S - fcls(Y, jasper.endmembers)).max() < 1e-5


def test_sunsal_positivity_only_is_nnls(six_minerals):
    rng = np.random.default_rng(2)
    Y = data.add_noise(six_minerals @ rng.dirichlet(np.ones(6), size=200).T, 25.0, seed=3)
    S = sunsal(Y, six_minerals, positivity=True, tol=1e-10, max_iter=50000)
    reference = np.stack([nnls(six_minerals, y)[0] for y in Y.T], axis=1)
    assert np.abs(S - reference).max() < 1e-4


def test_sunsal_l1_penalty_sparsifies(six_minerals):
    rng = np.random.default_rng(3)
    Y = data.add_noise(six_minerals @ rng.dirichlet(np.ones(6), size=300).T, 30.0, seed=4)
    dense = sunsal(Y, six_minerals, lam=0.0, tol=1e-7, max_iter=5000)
    sparse = sunsal(Y, six_minerals, lam=0.05, tol=1e-7, max_iter=5000)
    assert (sparse < 1e-8).sum() > (dense < 1e-8).sum()
    assert np.abs(sparse).sum() < np.abs(dense).sum()


def pure_pixel_image(E, n=2000, seed=0):
    rng = np.random.default_rng(seed)
    A = rng.dirichlet(np.ones(E.shape[1]), size=n).T
    A[:, : E.shape[1]] = np.eye(E.shape[1])    # one pure pixel per endmember
    return E @ A


@pytest.mark.parametrize("snr_db", [None, 0.0])   # projective branch, then affine branch
def test_vca_recovers_planted_endmembers(six_minerals, snr_db):
    E, idx = vca(pure_pixel_image(six_minerals), 6, seed=0, snr_db=snr_db)
    assert sorted(idx) == list(range(6))
    perm = match_endmembers(six_minerals, E)
    assert sad(six_minerals, E[:, perm]).max() < 1e-3


def test_vca_same_seed_same_result(jasper):
    a = vca(jasper.Y, 4, seed=7)
    b = vca(jasper.Y, 4, seed=7)
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_array_equal(a[0], b[0])


def test_nmf_objective_never_increases(six_minerals):
    rng = np.random.default_rng(5)
    Y = np.clip(data.add_noise(six_minerals @ rng.dirichlet(np.ones(6), 500).T, 30, seed=6), 0, None)
    result = nmf_l1(Y, p=6, lam=0.01, n_iter=300, seed=0)
    steps = np.diff(result.objective)
    assert np.all(steps <= 1e-9 * result.objective[:-1])
    assert result.objective[-1] < 0.5 * result.objective[0]
    assert result.objective[-1] == pytest.approx(
        nmf_l1_objective(Y, result.endmembers, result.abundances, 0.01), rel=1e-9
    )
    assert result.endmembers.min() >= 0 and result.abundances.min() >= 0


def test_nmf_runs_together_equal_runs_alone(six_minerals):
    rng = np.random.default_rng(7)
    Y = six_minerals @ rng.dirichlet(np.ones(6), 200).T
    A0 = rng.uniform(0, 1, (3, 208, 6))
    X0 = rng.dirichlet(np.ones(6), (3, 200)).transpose(0, 2, 1)
    together = nmf_l1(Y, lam=0.01, A0=A0, X0=X0, n_iter=50)
    assert together.objective.shape == (50, 3)
    for run in range(3):
        alone = nmf_l1(Y, lam=0.01, A0=A0[run], X0=X0[run], n_iter=50)
        np.testing.assert_allclose(together.endmembers[run], alone.endmembers, rtol=1e-10)
        np.testing.assert_allclose(together.objective[:, run], alone.objective, rtol=1e-10)


def test_nmf_rejects_negative_data():
    with pytest.raises(ValueError, match="non-negative"):
        nmf_l1(-np.ones((4, 5)), p=2)


def test_fcls_scales_to_whole_images(jasper):
    """Smoke-level guard that FCLS stays batched: the whole of Jasper in well under a second
    would be impossible for a per-pixel Python loop (the speed ratio lives in benchmarks/)."""
    start = time.perf_counter()
    fcls(jasper.Y, jasper.endmembers)
    assert time.perf_counter() - start < 5.0
