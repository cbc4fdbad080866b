"""Robust NMF (Févotte & Dobigeon): planted outlier pixels, monotone objective, batched runs."""

import numpy as np
import pytest

from companion.classic import rnmf, rnmf_objective


@pytest.fixture(scope="module")
def planted():
    """Linear mixtures of 3 endmembers plus a positive term on 4 'nonlinear' pixels."""
    rng = np.random.default_rng(0)
    L, P, N = 50, 3, 200
    M = rng.uniform(0.1, 1.0, (L, P))
    A = rng.dirichlet(np.ones(P), N).T
    R = np.zeros((L, N))
    outliers = [3, 50, 120, 199]
    R[:, outliers] = rng.uniform(0.2, 0.5, (L, len(outliers)))
    return M @ A + R, M, A, outliers, rng.uniform(0.9, 1.1, M.shape)


def test_finds_the_outlier_pixels_and_keeps_the_constraints(planted):
    Y, M, A, outliers, jitter = planted
    result = rnmf(Y, M * jitter, A, lam=0.5, n_iter=300, device="cpu")
    norms = np.linalg.norm(result.outliers, axis=0)
    assert sorted(np.argsort(norms)[-4:]) == outliers
    assert np.delete(norms, outliers).max() < 1e-6 * norms[outliers].min()   # group sparsity
    assert np.allclose(result.abundances.sum(0), 1.0)
    assert result.abundances.min() >= 0 and result.endmembers.min() >= 0 and result.outliers.min() >= 0


def test_objective_does_not_increase_and_matches_its_definition(planted):
    Y, M, A, _, jitter = planted
    result = rnmf(Y, M * jitter, A, lam=0.5, n_iter=200, device="cpu")
    assert np.all(np.diff(result.objective) <= 1e-9 * result.objective[0])
    final = float(rnmf_objective(Y, result.endmembers, result.abundances, result.outliers, 0.5))
    assert final == pytest.approx(result.objective[-1], rel=1e-10)


def test_huge_penalty_removes_the_outlier_term(planted):
    Y, M, A, _, _ = planted
    assert np.linalg.norm(rnmf(Y, M, A, lam=1e4, n_iter=50, device="cpu").outliers) < 1e-8


def test_runs_batched_equal_runs_alone(planted):
    Y, M, A, _, jitter = planted
    starts = np.stack([M, M * jitter])
    together = rnmf(Y, starts, np.stack([A, A]), lam=0.5, n_iter=30, device="cpu")
    for k in range(2):
        alone = rnmf(Y, starts[k], A, lam=0.5, n_iter=30, device="cpu")
        np.testing.assert_allclose(together.endmembers[k], alone.endmembers, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(together.outliers[k], alone.outliers, rtol=1e-10, atol=1e-14)


def test_rejects_negative_data_and_penalty(planted):
    Y, M, A, _, _ = planted
    with pytest.raises(ValueError, match="non-negative"):
        rnmf(-Y, M, A, lam=0.1)
    with pytest.raises(ValueError, match="lam"):
        rnmf(Y, M, A, lam=-1.0)
