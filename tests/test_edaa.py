"""EDAA: planted pure pixels found; one step equals the entropic update written from the naive
gradients (independent of the cached products); a run does not depend on the runs beside it;
the kept run follows the stated ground-truth-free rule."""

import numpy as np
import pytest
from scipy.special import softmax

from companion import metrics
from companion.classic.edaa import _starts, edaa


def scene(seed, L=20, p=3, n=200, noise=0.0):
    rng = np.random.default_rng(seed)
    E = rng.uniform(0.1, 0.9, (L, p))
    A = rng.dirichlet(np.ones(p), size=n).T
    A[:, -p:] = np.eye(p)
    return E @ A + noise * rng.standard_normal((L, n)), E


def test_planted_pure_pixels_are_approached():
    # entropic steps keep every weight positive, so the archetypes approach the pure pixels
    # sublinearly: within 2 degrees after the default 100 outer iterations, closer after 1000
    Y, E = scene(0)
    sads = []
    for outer in (100, 1000):
        r = edaa(Y, 3, runs=3, outer=outer, device="cpu")
        perm = metrics.match_endmembers(E, r.endmembers)
        sads.append(np.degrees(metrics.sad(E, r.endmembers[:, perm])).max())
    assert sads[0] < 2.0 and sads[1] < 0.7
    assert r.objective[r.selected] < 1e-4 * 0.5 * np.sum((Y - Y.mean(1, keepdims=True)) ** 2)
    np.testing.assert_allclose(r.abundances.sum(0), 1.0, atol=1e-10)
    np.testing.assert_allclose(r.endmembers, Y @ r.weights, atol=1e-12)


def test_one_outer_iteration_equals_the_naive_update():
    Y, _ = scene(1, n=50, noise=0.01)
    L, N = Y.shape
    p = 3
    logits, factors = _starts(N, p, seed=4, runs=1)
    B = softmax(logits[0], axis=0)
    A = np.full((p, N), 1.0 / p)
    eta_a = factors[0] / np.linalg.norm(Y @ B, 2) ** 2
    eta_b = eta_a * np.sqrt(p / N)
    for _ in range(2):                                   # k_a = 2 steps on A with the full gradient
        A = softmax(np.log(A) - eta_a * (-(Y @ B).T @ (Y - Y @ B @ A)), axis=0)
    for _ in range(3):                                   # k_b = 3 steps on B
        B = softmax(np.log(B) - eta_b * (-Y.T @ (Y - Y @ B @ A) @ A.T), axis=0)
    r = edaa(Y, p, seed=4, runs=1, outer=1, k_a=2, k_b=3, device="cpu")
    np.testing.assert_allclose(r.abundances, A, rtol=1e-10)
    np.testing.assert_allclose(r.weights, B, rtol=1e-10)


def test_a_run_does_not_depend_on_the_runs_beside_it():
    Y, _ = scene(2, noise=0.02)
    alone = edaa(Y, 3, seed=7, runs=1, outer=20, device="cpu")
    together = edaa(Y, 3, seed=7, runs=4, outer=20, device="cpu")
    np.testing.assert_allclose(together.fit_l1[0], alone.fit_l1[0], rtol=1e-10)
    np.testing.assert_allclose(together.objective[0], alone.objective[0], rtol=1e-10)


def test_kept_run_follows_the_selection_rule():
    Y, _ = scene(3, noise=0.05)
    r = edaa(Y, 3, seed=0, runs=8, outer=30, device="cpu")
    fit = r.fit_l1
    eligible = np.abs(fit - fit.min()) / fit < 0.05
    assert eligible[r.selected]
    assert r.max_correlation[r.selected] == r.max_correlation[eligible].min()
    assert set(np.unique(np.log2(r.step_factors))) <= set(range(-3, 4))
    with pytest.raises(ValueError, match="at least 1"):
        edaa(Y, 3, runs=0)
