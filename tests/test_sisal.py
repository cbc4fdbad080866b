"""SISAL: recovers a planted simplex without pure pixels (where VCA cannot); reaches the optimum
of the same objective that an independent scipy formulation (SLSQP with slack variables) finds;
abundances sum to one; the affine reduction reproduces the projected data."""

import numpy as np
import pytest
from scipy.optimize import minimize

from companion import metrics
from companion.classic.sisal import affine_coordinates, sisal, sisal_objective
from companion.classic.vca import vca


def no_pure_pixels(seed, L=30, p=3, n=1000, noise=0.0, purest=0.8):
    """Abundances uniform on the simplex with every fraction at most ``purest``."""
    rng = np.random.default_rng(seed)
    E = rng.uniform(0.1, 0.9, (L, p))
    A = rng.dirichlet(np.ones(p), size=6 * n).T
    A = A[:, A.max(0) <= purest][:, :n]
    return E @ A + noise * rng.standard_normal((L, A.shape[1])), E


def max_sad_deg(E, E_hat):
    perm = metrics.match_endmembers(E, E_hat)
    return np.degrees(metrics.sad(E, E_hat[:, perm])).max()


def test_recovers_the_simplex_without_pure_pixels():
    Y, E = no_pure_pixels(0)
    r = sisal(Y, 3, device="cpu")
    assert max_sad_deg(E, r.endmembers) < 0.5            # measured 0.22
    assert max_sad_deg(E, vca(Y, 3)[0]) > 5.0            # the purest pixels are 0.8 pure
    np.testing.assert_allclose(r.abundances.sum(0), 1.0, atol=1e-8)
    assert np.all(np.diff(r.objective) <= 1e-12)


def test_reaches_the_optimum_of_an_independent_formulation():
    Y, _ = no_pure_pixels(1, L=20, n=60, noise=0.01)
    p, tau = 3, 1.0
    r = sisal(Y, p, tau=tau, mm_iters=2000, device="cpu")
    assert r.converged
    U, y = affine_coordinates(Y, p)
    N = y.shape[1]
    q_m = np.linalg.lstsq(y.T, np.ones(N), rcond=None)[0]
    # min -log|det Q| + tau sum s  s.t.  s >= 0, s + Q y >= 0, 1^T Q = q_m^T  (Q row-major here)
    Q0 = np.linalg.inv(U.T @ vca(Y, p)[0])
    Q0 = Q0 - (Q0.sum(0) - q_m) / p                      # a feasible start
    x0 = np.concatenate([Q0.ravel(), np.maximum(-(Q0 @ y), 0).ravel()])
    Qof = lambda x: x[: p * p].reshape(p, p)                                        # noqa: E731
    f = lambda x: -np.linalg.slogdet(Qof(x))[1] + tau * x[p * p:].sum()             # noqa: E731
    grad = lambda x: np.concatenate([-np.linalg.inv(Qof(x)).T.ravel(), np.full(p * N, tau)])  # noqa: E731
    J_in = np.hstack([np.kron(np.eye(p), y.T), np.eye(p * N)])     # d(s + Q y)/d(Q, s), row-major
    J_eq = np.hstack([np.kron(np.ones((1, p)), np.eye(p)), np.zeros((p, p * N))])
    cons = [{"type": "ineq", "fun": lambda x: (x[p * p:].reshape(p, N) + Qof(x) @ y).ravel(),
             "jac": lambda x: J_in},
            {"type": "eq", "fun": lambda x: Qof(x).sum(0) - q_m, "jac": lambda x: J_eq}]
    ref = minimize(f, x0, jac=grad, method="SLSQP", bounds=[(None, None)] * (p * p) + [(0, None)] * (p * N),
                   constraints=cons, options={"maxiter": 3000, "ftol": 1e-13})
    assert ref.success
    ours = sisal_objective(np.linalg.inv(U.T @ r.endmembers), y, tau)
    assert ours == pytest.approx(ref.fun, rel=1e-6)
    assert max_sad_deg(U @ np.linalg.inv(Qof(ref.x)), r.endmembers) < 0.05


def test_affine_coordinates_reproduce_the_projected_data():
    Y, _ = no_pure_pixels(2, n=200, noise=0.01)
    U, y = affine_coordinates(Y, 3)
    np.testing.assert_allclose(U.T @ U, np.eye(3), atol=1e-12)
    mean = Y.mean(1, keepdims=True)
    Up = np.linalg.svd((Y - mean) @ (Y - mean).T)[0][:, :2]
    np.testing.assert_allclose(U @ y, Up @ Up.T @ (Y - mean) + mean, atol=1e-12)
    with pytest.raises(ValueError, match="p must"):
        sisal(Y, 1)
