"""PLMM (Thouvenin et al.): planted additive perturbations are recovered, the objective decreases
at every sweep and the constraints hold."""

import numpy as np

from companion.classic import fcls, plmm, plmm_objective


def _planted(rows=8, cols=9, L=30, P=3, noise=1e-3, seed=0):
    rng = np.random.default_rng(seed)
    N = rows * cols
    M = rng.uniform(0.2, 1.0, size=(L, P))
    A = rng.dirichlet(0.5 * np.ones(P), size=N).T
    dM = 0.08 * rng.normal(size=(N, L, P)) * M[None]
    Y = np.einsum("nlp,pn->ln", M[None] + dM, A) + noise * rng.normal(size=(L, N))
    return Y, M, A, dM, rows, cols


def test_plmm_explains_planted_perturbations_and_respects_constraints():
    # additive perturbations times abundances are not unique (dM_n a_n is what the data fix), so
    # the planted scene must be fitted to the noise level and the abundances not lose to FCLS
    Y, M, A, dM, rows, cols = _planted()
    res = plmm(Y, M, rows, cols, alpha=0.0, beta=1e-3, gamma=1e-2, iterations=40, tol=1e-7)
    assert res.abundances.min() >= 0 and np.allclose(res.abundances.sum(0), 1)
    assert res.M.min() >= 0 and res.endmembers.min() >= -1e-12
    A_fcls = fcls(Y, M, device="cpu")
    assert np.abs(res.abundances - A).mean() < np.abs(A_fcls - A).mean()
    recon = np.einsum("nlp,pn->ln", res.endmembers, res.abundances)
    rmse, rmse_fcls = (np.sqrt(np.mean((Y - R) ** 2)) for R in (recon, M @ A_fcls))
    assert rmse < 0.2 * rmse_fcls


def test_plmm_objective_decreases_at_every_sweep():
    Y, M, A, dM, rows, cols = _planted(noise=1e-2, seed=1)
    A0 = fcls(Y, M, device="cpu")
    args = dict(alpha=0.1, beta=1e-5, gamma=10.0)
    start = plmm_objective(Y, A0, M, np.zeros_like(dM), M, rows, cols, **args)
    res = plmm(Y, M, rows, cols, A0=A0, iterations=10, tol=0.0, **args)
    history = [start, *res.objective]
    assert all(b <= a * (1 + 1e-12) for a, b in zip(history, history[1:], strict=False))
    assert history[-1] < history[0]


def test_plmm_smoothness_pulls_abundances_together():
    Y, M, A, dM, rows, cols = _planted(noise=5e-2, seed=2)
    rough = plmm(Y, M, rows, cols, alpha=0.0, iterations=5).abundances.reshape(3, rows, cols)
    smooth = plmm(Y, M, rows, cols, alpha=25.0, iterations=5).abundances.reshape(3, rows, cols)
    assert np.abs(np.diff(smooth, axis=2)).mean() < 0.5 * np.abs(np.diff(rough, axis=2)).mean()


def test_plmm_keeps_endmembers_nonnegative_when_the_constraint_binds():
    Y, M, A, dM, rows, cols = _planted(noise=5e-2, seed=3)
    Y[::3] = 0.0                                            # dark bands: M + dM_n >= 0 binds there
    A0 = fcls(Y, M, device="cpu")
    args = dict(alpha=0.0, beta=1e-5, gamma=1e-4)
    start = plmm_objective(Y, A0, M, np.zeros_like(dM), M, rows, cols, **args)
    res = plmm(Y, M, rows, cols, A0=A0, iterations=3, tol=0.0, **args)
    free = (Y - M @ A0).T[:, :, None] * A0.T[:, None, :] / ((A0**2).sum(0) + 1e-4)[:, None, None]
    assert (M[None] + free).min() < -1e-3                   # the unconstrained update would break it
    assert res.endmembers.min() >= -1e-12
    history = [start, *res.objective]
    assert all(b <= a * (1 + 1e-12) for a, b in zip(history, history[1:], strict=False))


def test_perturbation_step_is_the_exact_bound_constrained_minimiser():
    import torch
    from scipy.optimize import minimize

    from companion.classic.plmm import _perturbation_step
    rng = np.random.default_rng(4)
    N, L, P, gamma = 5, 6, 3, 0.05
    R = torch.as_tensor(rng.normal(size=(N, L)))
    A = torch.as_tensor(rng.dirichlet(np.ones(P), size=N).T)
    M = torch.as_tensor(rng.uniform(0.0, 0.3, size=(L, P)))
    D = _perturbation_step(R, A, M, gamma).numpy()
    for n in range(N):
        for band in range(L):
            a, r = A[:, n].numpy(), R[n, band].item()

            def fun(d, a=a, r=r):
                return 0.5 * (r - d @ a) ** 2 + 0.5 * gamma * d @ d, -(r - d @ a) * a + gamma * d

            res = minimize(fun, np.zeros(P), jac=True, method="L-BFGS-B",
                           bounds=[(-m, None) for m in M[band].numpy()],
                           options={"ftol": 1e-15, "gtol": 1e-12})
            np.testing.assert_allclose(D[n, band], res.x, atol=1e-6)
