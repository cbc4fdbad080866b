"""NMF-SAE: the unrolled network at its initialisation is exactly K steps of L1-NMF's solvers."""

import numpy as np
import pytest
import torch

from companion import data
from companion.classic import fcls, vca
from companion.initialisation import initial_endmembers_runs
from companion.nets.nmf_sae import NMFSAE, fit, train


@pytest.fixture(scope="module")
def problem():
    lib = data.usgs_library()
    E, _, _ = data.library_endmembers(lib, p=4, seed=1)
    hsi = data.patch_blur_image(E, z=4, beta=0.8, snr_db=30.0, seed=0)
    A0 = np.stack([vca(hsi.Y, 4, seed=s)[0] for s in (0, 1)])
    S0 = np.stack([fcls(hsi.Y, A) for A in A0])
    return hsi.Y, A0, S0


def make_model(problem, K):
    Y, A0, S0 = problem
    t = lambda a: torch.as_tensor(a, dtype=torch.float64)  # noqa: E731
    return NMFSAE(t(Y), t(A0), t(S0), K=K)


@pytest.mark.parametrize("K", [1, 2, 3])
def test_encoder_at_init_is_k_proximal_gradient_steps(problem, K):
    """Eqs. 5-6 with t_s = 1/||A0^T A0||_2 and lambda = 0.01, from the FCLS warm start."""
    Y, A0, S0 = problem
    model = make_model(problem, K)
    for run in range(2):
        A = A0[run]
        t_s = 1.0 / np.linalg.norm(A.T @ A, 2)
        S = S0[run]
        for _ in range(K):
            S = np.maximum(S - t_s * A.T @ (A @ S - Y) - 0.01 * t_s, 0.0)
            S = S / S.sum(axis=0, keepdims=True)
        got = model.encode(torch.as_tensor(Y)).detach().numpy()[run]
        np.testing.assert_allclose(got, S, atol=1e-10)
        cached = model.encode(model.X_train, start=model.S0).detach().numpy()[run]
        np.testing.assert_allclose(cached, S, atol=1e-10)


@pytest.mark.parametrize("K", [1, 2, 3])
def test_decoder_at_init_is_k_projected_gradient_steps(problem, K):
    """Eq. 4's projected gradient with t_a = 1/||S0 S0^T||_2, from the VCA endmembers."""
    Y, A0, S0 = problem
    model = make_model(problem, K)
    for run in range(2):
        S = S0[run]
        t_a = 1.0 / np.linalg.norm(S @ S.T, 2)
        A = A0[run]
        for _ in range(K):
            A = np.maximum(A - t_a * (A @ S - Y) @ S.T, 0.0)
        np.testing.assert_allclose(model.decode().detach().numpy()[run], A, atol=1e-10)


def test_parameter_count_matches_paper_formula(problem):
    Y, _, _ = problem
    L, N, R = Y.shape[0], Y.shape[1], 4
    assert make_model(problem, 2).parameter_count() == R + R * N + R * L


def test_runs_trained_together_equal_runs_trained_alone(problem):
    Y, A0, S0 = problem
    t = lambda a: torch.as_tensor(a, dtype=torch.float64)  # noqa: E731
    together = NMFSAE(t(Y), t(A0), t(S0))
    train(together, iterations=30, lr_encoder=1e-3, lr_decoder=1e-3, progress=False)
    for run in range(2):
        alone = NMFSAE(t(Y), t(A0[run : run + 1]), t(S0[run : run + 1]))
        train(alone, iterations=30, lr_encoder=1e-3, lr_decoder=1e-3, progress=False)
        np.testing.assert_allclose(alone.W1.detach()[0], together.W1.detach()[run], atol=1e-10)
        np.testing.assert_allclose(alone.W2.detach()[0], together.W2.detach()[run], atol=1e-10)


def test_fit_reduces_loss_and_unmixes_new_pixels(problem):
    Y, _, _ = problem
    train_idx = np.arange(0, Y.shape[1], 2)
    A0 = initial_endmembers_runs("vca", Y[:, train_idx], 4, [0, 1])
    result = fit(Y, train_idx, A0, iterations=200, device="cpu", progress=False)
    assert result.loss.shape == (200, 2)
    assert np.all(result.loss[-1] < result.loss[0])
    assert result.abundances.shape == (2, 4, Y.shape[1])
    np.testing.assert_allclose(result.abundances.sum(axis=1), 1.0, atol=1e-5)
    assert result.endmembers.min() >= 0


def test_same_seed_same_numbers(problem):
    Y, _, _ = problem
    idx = np.arange(100)
    a = fit(Y, idx, initial_endmembers_runs("vca", Y[:, idx], 4, [3]), iterations=20, device="cpu",
            progress=False)
    b = fit(Y, idx, initial_endmembers_runs("vca", Y[:, idx], 4, [3]), iterations=20, device="cpu",
            progress=False)
    np.testing.assert_array_equal(a.endmembers, b.endmembers)
    np.testing.assert_array_equal(a.abundances, b.abundances)


def test_bad_shapes_fail_fast():
    with pytest.raises(ValueError, match="shape mismatch"):
        NMFSAE(torch.ones(5, 10), torch.ones(1, 4, 2), torch.ones(1, 2, 10))


def test_jasper_scores_mark_diverged_runs():
    """A run with non-finite estimates is diverged: metrics None, summary over the finite runs."""
    from companion.experiments.nmf_sae import summary
    from companion.metrics import score_runs
    from companion.reports.nmf_sae import formatted

    rng = np.random.default_rng(0)
    E = rng.random((10, 3))
    A = rng.dirichlet(np.ones(3), size=20).T
    bad = E.copy()
    bad[0, 0] = np.nan
    scores = score_runs(E, A, np.stack([E, bad]), np.stack([A, A]))
    assert scores["diverged"] == [False, True]
    assert scores["sad_mean"][1] is None and scores["rmse"][1] is None
    s = summary(scores)
    assert s["sad"] == pytest.approx(0.0, abs=1e-6) and s["diverged"] == 1 and s["runs"] == 2
    assert "1 of 2 runs; 1 diverged" in formatted(s, "sad")
    assert formatted(summary(score_runs(E, A, bad[None], A[None])), "rmse") == "diverged (1 of 1 runs)"


def test_expanded_loss_equals_residual_form(problem):
    """The expanded eq. 9 (no bands x pixels array) equals the direct residual form, value and
    gradients: to rounding in float64, and within float32 rounding for the gradients."""
    Y, A0, S0 = problem
    for dtype, rtol in ((torch.float64, 1e-10), (torch.float32, 1e-3)):
        model = NMFSAE(*(torch.as_tensor(a, dtype=dtype) for a in (Y, A0, S0 * 0.9 + 0.1 / 4)))
        grads = []
        for loss in (model.training_loss, model.residual_loss):
            model.zero_grad()
            value = loss()
            value.sum().backward()
            grads.append((value.detach().clone(), model.W1.grad.clone(), model.W2.grad.clone()))
        for fast, direct in zip(grads[0], grads[1], strict=True):
            np.testing.assert_allclose(fast.double().numpy(), direct.double().numpy(), rtol=rtol,
                                       atol=rtol * float(direct.abs().max()))
