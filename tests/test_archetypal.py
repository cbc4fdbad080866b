"""Archetypal analysis: planted pure pixels found; RSS never increases; the result is a
block-coordinate optimum checked by independent scipy solvers (per-pixel NNLS for A, SLSQP over
all of B); the exact hull projection against SLSQP."""

import numpy as np
import pytest
import torch
from scipy.optimize import minimize, nnls

from companion import metrics
from companion.classic.archetypal import _project_on_hull, aa_objective, archetypal_analysis


def scene(seed, L=20, p=3, n=150, noise=0.0, pure=True):
    rng = np.random.default_rng(seed)
    E = rng.uniform(0.1, 0.9, (L, p))
    A = rng.dirichlet(np.ones(p), size=n).T
    if pure:
        A[:, -p:] = np.eye(p)                            # pure pixels last: not the "first" start
    return E @ A + noise * rng.standard_normal((L, n)), E


def fcls_scipy(Y, M, delta=1e3):
    M_aug = np.vstack([M, delta * np.ones((1, M.shape[1]))])
    return np.stack([nnls(M_aug, np.r_[y, delta])[0] for y in Y.T], axis=1)


@pytest.mark.parametrize("init", ["first", "random"])
def test_planted_pure_pixels_are_the_archetypes(init):
    Y, E = scene(0)
    r = archetypal_analysis(Y, 3, init=init, seed=1, max_iter=200, tol=1e-12, device="cpu")
    perm = metrics.match_endmembers(E, r.endmembers)
    assert metrics.sad(E, r.endmembers[:, perm]).max() < 1e-4
    assert r.objective[-1] < 1e-8 * np.sum(Y**2)
    np.testing.assert_allclose(r.weights.sum(0), 1.0, atol=1e-12)
    assert r.weights.min() >= 0 and r.abundances.min() >= 0


def test_rss_never_increases_and_matches_the_objective():
    Y, _ = scene(1, noise=0.02, pure=False)
    r = archetypal_analysis(Y, 3, max_iter=30, device="cpu")
    assert np.all(np.diff(r.objective) <= 1e-10 * r.objective[0])
    assert r.objective[-1] == pytest.approx(aa_objective(Y, r.weights, r.abundances), rel=1e-9)
    np.testing.assert_allclose(r.endmembers, Y @ r.weights, atol=1e-12)


def test_result_is_a_block_optimum_by_independent_solvers():
    Y, _ = scene(2, n=40, noise=0.03, pure=False)
    r = archetypal_analysis(Y, 3, max_iter=500, tol=1e-13, device="cpu")
    assert r.converged
    # A-step: the abundances are the FCLS solution for the archetypes (scipy NNLS, augmented)
    np.testing.assert_allclose(r.abundances, fcls_scipy(Y, r.endmembers), atol=1e-5)
    # B-step: no B on the simplex does better for these abundances (SLSQP over all of B)
    N, p = r.weights.shape
    f = lambda b: aa_objective(Y, b.reshape(N, p), r.abundances)                       # noqa: E731
    cons = [{"type": "eq", "fun": lambda b: b.reshape(N, p).sum(0) - 1.0}]
    start = np.full(N * p, 1.0 / N)
    ref = minimize(f, start, method="SLSQP", bounds=[(0, None)] * (N * p), constraints=cons,
                   options={"maxiter": 1000, "ftol": 1e-14})
    assert ref.success
    assert r.objective[-1] <= ref.fun * (1 + 1e-6)


def test_hull_projection_is_exact():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((6, 30))
    for k in range(3):
        v = 2.0 * rng.standard_normal(6)                 # outside the hull in general
        start = torch.zeros(30, dtype=torch.float64)
        start[k] = 1.0
        beta = _project_on_hull(torch.as_tensor(X), torch.as_tensor(v), start, 1e-12).numpy()
        f = lambda b, v=v: np.sum((v - X @ b) ** 2)                                    # noqa: E731
        ref = minimize(f, np.full(30, 1 / 30), method="SLSQP", bounds=[(0, None)] * 30,
                       constraints=[{"type": "eq", "fun": lambda b: b.sum() - 1}],
                       options={"maxiter": 1000, "ftol": 1e-15})
        assert beta.min() >= 0 and beta.sum() == pytest.approx(1.0, abs=1e-12)
        assert f(beta) <= ref.fun + 1e-9


def test_refuses_bad_arguments():
    Y, _ = scene(4)
    with pytest.raises(ValueError, match="init"):
        archetypal_analysis(Y, 3, init="vca")
    with pytest.raises(ValueError, match="p must"):
        archetypal_analysis(Y, 0)
