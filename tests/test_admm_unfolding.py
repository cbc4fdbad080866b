"""U-ADMM networks: at the ADMM initialisation, K blocks are exactly K iterations of SUnSAL's
ADMM (paper eqs. 4-6, fixed mu); batched runs equal runs alone; shapes and losses."""

import numpy as np
import pytest
import torch

from companion import data
from companion.classic.admm import plain_admm
from companion.nets.admm_unfolding import (
    BlindNet,
    LinearDecoder,
    UnfoldedADMM,
    UnfoldedISTA,
    admm_parameters,
    aenet_loss,
    ista_parameters,
    mse_loss,
    train_blind,
    train_supervised,
)


@pytest.fixture(scope="module")
def problem():
    E, _, _ = data.library_endmembers(data.usgs_library(), p=4, seed=3)
    hsi = data.patch_blur_image(E, z=4, beta=0.8, snr_db=20.0, seed=0)
    E2, _, _ = data.library_endmembers(data.usgs_library(), p=4, seed=5)
    return hsi.Y, np.stack([E, E2]), hsi.abundances


def test_plain_admm_converges_to_the_nonnegative_lasso_solution(problem):
    """companion.classic.admm.plain_admm (eqs. 4-6) against independent solvers: scipy's NNLS for
    lam = 0 and L-BFGS-B with bounds x >= 0 for lam > 0, on a few pixels; and its first iterate
    in closed form (the ridge solution, thresholded)."""
    from scipy.optimize import minimize, nnls

    Y, A, _ = problem
    E, y = A[0], Y[:, :6]
    z = plain_admm(y, E, 0.0, 0.05, 20000)
    for j in range(y.shape[1]):
        np.testing.assert_allclose(z[:, j], nnls(E, y[:, j])[0], atol=1e-6)
    lam = 0.05
    z = plain_admm(y, E, lam, 0.05, 20000)
    for j in range(y.shape[1]):
        f = lambda x, b=y[:, j]: (0.5 * np.sum((b - E @ x) ** 2) + lam * x.sum(),  # noqa: E731
                                  E.T @ (E @ x - b) + lam)
        ref = minimize(f, np.full(E.shape[1], 0.25), jac=True, method="L-BFGS-B",
                       bounds=[(0, None)] * E.shape[1], options={"ftol": 1e-15, "gtol": 1e-12}).x
        np.testing.assert_allclose(z[:, j], ref, atol=1e-5)
    assert np.count_nonzero(z < 1e-12) > 0          # lam > 0 sets some abundances exactly to zero
    mu = 0.3
    x1 = np.linalg.solve(E.T @ E + mu * np.eye(E.shape[1]), E.T @ y)
    np.testing.assert_allclose(plain_admm(y, E, lam, mu, 1), np.maximum(x1 - lam / mu, 0.0), atol=1e-12)
    with pytest.raises(ValueError, match="mu"):
        plain_admm(y, E, lam, 0.0, 1)


@pytest.mark.parametrize("K", [1, 2, 3, 7])
@pytest.mark.parametrize("tied", [True, False])
@pytest.mark.parametrize("official_depth", [False, True])
def test_aenet_at_init_is_k_admm_iterations(problem, K, tied, official_depth):
    """Paper depth: K blocks = K ADMM iterations; official depth: K + 1."""
    Y, A, _ = problem
    model = UnfoldedADMM(A, K=K, tied=tied, dtype=torch.float64, official_depth=official_depth)
    iterations = K + official_depth
    assert model.K == iterations
    with torch.no_grad():
        z_net = model.iterate(torch.as_tensor(Y.T))[-1][1].numpy()      # (runs, n, p)
        out = model(torch.as_tensor(Y.T)).numpy()
    for run in range(2):
        init = admm_parameters(A[run])
        z = plain_admm(Y / init["norm_m"], init["A_scaled"], init["lam_scaled"], init["mu"], iterations)
        np.testing.assert_allclose(z_net[run], z.T, atol=1e-10)
        zn = (z + 1e-8) / (z + 1e-8).sum(axis=0)
        np.testing.assert_allclose(out[run], zn.T, atol=1e-10)
    assert np.count_nonzero(z_net) > 0.5 * z_net.size        # not a trivial all-zero output


@pytest.mark.parametrize("K", [1, 2, 4])
def test_ista_at_init_is_k_projected_ista_steps(problem, K):
    Y, A, _ = problem
    model = UnfoldedISTA(A, K=K, tied=False, dtype=torch.float64)
    with torch.no_grad():
        got = model.iterate(torch.as_tensor(Y.T))[-1].numpy()
    for run in range(2):
        init = ista_parameters(A[run])
        As, ys, L = init["A_scaled"], Y / init["norm_m"], init["L"]
        x = np.zeros((4, Y.shape[1]))
        for _ in range(K):
            x = np.maximum(x - As.T @ (As @ x - ys) / L - init["lam_scaled"] / L, 0.0)
        np.testing.assert_allclose(got[run], x.T, atol=1e-10)


def test_parameter_counts_match_paper(problem):
    Y, A, _ = problem
    L, p, K = Y.shape[0], 4, 3
    assert UnfoldedADMM(A, K=K, tied=True).parameter_count() == p * p + p * L + 2
    assert UnfoldedADMM(A, K=K, tied=False).parameter_count() == (p * p + p * L + 2) * K
    # official depth: one more parameter set when untied (the output X/Z pair), none when tied
    assert UnfoldedADMM(A, K=K, tied=False, official_depth=True).parameter_count() == (
        (p * p + p * L + 2) * (K + 1))
    assert UnfoldedADMM(A, K=K, tied=True, official_depth=True).parameter_count() == p * p + p * L + 2


def test_one_block_tied_and_untied_differ_only_at_official_depth(problem):
    """With one block the tied and untied networks are one network at the paper's depth; at
    the official depth (two iterations) training separates them."""
    Y, A, X = problem
    Yt, Xt = torch.as_tensor(Y.T), torch.as_tensor(X.T)
    final = {}
    for official in (False, True):
        for tied in (True, False):
            model = UnfoldedADMM(A, K=1, tied=tied, dtype=torch.float64, official_depth=official)
            train_supervised(model, Yt, Xt, epochs=2, batch=32, lr=1e-3, seeds=[0, 1])
            with torch.no_grad():
                final[official, tied] = model(Yt).numpy()
    np.testing.assert_allclose(final[False, True], final[False, False], atol=1e-12)
    assert np.abs(final[True, True] - final[True, False]).max() > 1e-6


def test_shapes_and_random_init(problem):
    Y, _, _ = problem
    L, n = Y.shape
    enc = UnfoldedADMM(None, K=2, shape=(3, L, 4), seeds=[0, 1, 2])
    Yt = torch.as_tensor(Y.T, dtype=torch.float32)
    X = enc(Yt)
    assert X.shape == (3, n, 4)
    np.testing.assert_allclose(X.sum(-1).detach().numpy(), 1.0, atol=1e-5)
    assert not torch.equal(enc.W[0], enc.W[1])                 # seeds differ
    again = UnfoldedADMM(None, K=2, shape=(3, L, 4), seeds=[0, 1, 2])
    assert torch.equal(enc.W, again.W)
    net = BlindNet(UnfoldedISTA(None, K=1, shape=(3, L, 4)), LinearDecoder(np.full((3, L, 4), 0.5)))
    abund, recon = net(torch.stack([Yt] * 3))
    assert abund.shape == (3, n, 4) and recon.shape == (3, n, L)
    with pytest.raises(ValueError, match="runs=3"):
        enc(torch.zeros(2, n, L))


def test_losses():
    X = torch.tensor([[[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]]], dtype=torch.float64)
    assert aenet_loss(X, X).item() == pytest.approx(1e-7 * np.degrees(np.arccos(0.99)), rel=1e-3)
    Z = torch.tensor([[[0.2, 0.3, 0.5], [0.8, 0.1, 0.1]]], dtype=torch.float64)
    mse = ((X - Z) ** 2).mean().item()
    assert mse_loss(X, Z).item() == pytest.approx(mse)
    kl = lambda a, b: float(np.sum(a * np.log(a / b), axis=-1).mean())  # noqa: E731
    aid = kl(X.numpy(), Z.numpy()) + kl(Z.numpy(), X.numpy())
    cos = (X * Z).sum(-1) / (X.norm(dim=-1) * Z.norm(dim=-1))
    aad = np.degrees(np.arccos(cos.numpy())).mean()
    assert aenet_loss(X, Z).item() == pytest.approx(mse + 1e-7 * aad + 1e-5 * aid, rel=1e-6)


def _train_aenet(A, Y, X, seeds):
    model = UnfoldedADMM(A, K=2, tied=False, dtype=torch.float64)
    log = train_supervised(model, Y, X, epochs=3, batch=32, lr=1e-3, seeds=seeds)
    return model, log


def test_runs_together_equal_runs_alone(problem):
    Y, A, Xtrue = problem
    Yt, Xt = torch.as_tensor(Y.T), torch.as_tensor(Xtrue.T)
    together, log = _train_aenet(A, Yt, Xt, seeds=[7, 8])
    assert log.loss.shape == (3, 2)
    for run in range(2):
        alone, _ = _train_aenet(A[run:run + 1], Yt, Xt, seeds=[7 + run])
        np.testing.assert_allclose(alone.W.detach()[0], together.W.detach()[run], atol=1e-10)
        np.testing.assert_allclose(alone.theta.detach()[0], together.theta.detach()[run], atol=1e-10)


def test_training_reduces_losses(problem):
    Y, A, Xtrue = problem
    Yt, Xt = torch.as_tensor(Y.T, dtype=torch.float32), torch.as_tensor(Xtrue.T, dtype=torch.float32)
    seen = []
    model = UnfoldedADMM(A, K=2, tied=True)
    log = train_supervised(model, Yt, Xt, epochs=20, batch=64, lr=1e-3, seeds=[0, 1],
                           on_epoch=lambda m: seen.append(1) or 1.0, eval_at=[0, 10, 20])
    assert sorted(log.checkpoints) == [0, 10, 20] and len(seen) == 3
    assert np.all(log.loss[-1] < log.loss[0])
    net = BlindNet(UnfoldedADMM(A, K=1), LinearDecoder(A * 0.9))
    blog = train_blind(net, Yt, epochs=10, batch=64, lr=1e-3, seeds=[0, 1])
    assert np.all(blog.loss[-1] < blog.loss[0])
    assert net.decoder.E.min() >= 1e-6 and net.decoder.E.max() <= 1.0


def test_blind_runs_together_equal_runs_alone(problem):
    Y, A, _ = problem
    Yt = torch.as_tensor(Y.T)

    def blind(E, seeds):
        net = BlindNet(UnfoldedADMM(E, K=2, dtype=torch.float64), LinearDecoder(E, dtype=torch.float64))
        train_blind(net, Yt, epochs=2, batch=32, lr=1e-3, seeds=seeds)
        return net

    together = blind(A, [7, 8])
    for run in range(2):
        alone = blind(A[run:run + 1], [7 + run])
        np.testing.assert_allclose(alone.decoder.E.detach()[0], together.decoder.E.detach()[run],
                                   atol=1e-10)
        np.testing.assert_allclose(alone.encoder.B.detach()[0], together.encoder.B.detach()[run],
                                   atol=1e-10)


def test_keep_best_restores_each_runs_lowest_loss_epoch(problem):
    """keep_best (the official ModelCheckpoint on the loss): each run ends with the weights of
    its own epoch of lowest mean training loss; a large step makes that not the last epoch."""
    Y, A, _ = problem
    Yt = torch.as_tensor(Y.T)

    def model():
        return BlindNet(UnfoldedADMM(A, K=1, dtype=torch.float64), LinearDecoder(A, dtype=torch.float64))

    plain = model()
    log = train_blind(plain, Yt, epochs=6, batch=32, lr=3.0, seeds=[0, 1],
                      on_epoch=lambda m: m.decoder.E.detach().clone(), eval_at=range(1, 7))
    snaps = log.checkpoints
    best = model()
    blog = train_blind(best, Yt, epochs=6, batch=32, lr=3.0, seeds=[0, 1], keep_best=True)
    np.testing.assert_array_equal(blog.loss, log.loss)
    expected = log.loss.argmin(axis=0) + 1
    np.testing.assert_array_equal(blog.best_epoch, expected)
    for run in range(2):
        np.testing.assert_allclose(best.decoder.E.detach()[run], snaps[int(expected[run])][run], atol=0)
    assert (expected < 6).any(), "the test needs a run whose best epoch is not the last"
