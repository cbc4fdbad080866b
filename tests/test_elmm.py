"""ELMM (Drumetz et al.) in scaling form: planted per-pixel endmember scalings are recovered."""

import numpy as np

from companion.classic import elmm, elmm_scalings, fcls


def _planted(rows=8, cols=9, L=30, P=3, noise=0.0, seed=0):
    rng = np.random.default_rng(seed)
    N = rows * cols
    M0 = rng.uniform(0.1, 1.0, size=(L, P))
    A = rng.dirichlet(np.ones(P), size=N).T
    psi = rng.uniform(0.8, 1.2, size=(P, N))
    Y = np.einsum("lp,pn->ln", M0, psi * A) + noise * rng.normal(size=(L, N))
    return Y, M0, A, psi, rows, cols


def test_scaling_step_recovers_planted_scalings_given_abundances():
    Y, M0, A, psi, _, _ = _planted()
    np.testing.assert_allclose(elmm_scalings(Y, M0, A, lam_psi=1e-12), psi, atol=1e-5)


def test_scaling_step_shrinks_towards_one():
    Y, M0, A, psi, _, _ = _planted()
    strong = elmm_scalings(Y, M0, A, lam_psi=1e6)
    assert np.abs(strong - 1).max() < 1e-3 < np.abs(psi - 1).max()


def test_elmm_recovers_planted_scaled_endmembers_and_beats_fcls():
    Y, M0, A, psi, rows, cols = _planted(noise=1e-3)
    result = elmm(Y, M0, rows, cols, lam_psi=1e-3, lam_A=0.0, iterations=200, tol=1e-7)
    assert result.abundances.min() >= 0 and np.allclose(result.abundances.sum(0), 1)
    assert result.endmembers.shape == (rows * cols, 30, 3)
    # the identifiable quantity: the scaled abundances psi * a (M0 has full column rank)
    np.testing.assert_allclose(result.scalings * result.abundances, psi * A, atol=5e-3)
    recon = np.einsum("nlp,pn->ln", result.endmembers, result.abundances)
    assert np.sqrt(np.mean((Y - recon) ** 2)) < 2e-3
    A_fcls = fcls(Y, M0, device="cpu")
    assert np.abs(result.abundances - A).mean() < np.abs(A_fcls - A).mean()
