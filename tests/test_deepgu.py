"""DeepGU (Borsoi et al.): batched latent solver, TV-ADMM abundance step, batched VAEs, data, metrics."""

import numpy as np
import pytest
import scipy.io
import torch
from scipy.optimize import minimize

from companion import metrics
from companion.classic import fcls, tv_objective, unmix_tv
from companion.data import scenes, usgs_library
from companion.data.registry import fetch
from companion.experiments import deepgu as exp
from companion.nets.vae import EndmemberVAE, hidden_sizes, train_vaes


def _latent_problem(n=6, L=20, P=3, K=2, seed=0):
    """A float64 random decoder and pixels made from it: ``(model, Y, A, Z0)``."""
    gens = [torch.Generator().manual_seed(seed + p) for p in range(P)]
    model = EndmemberVAE(L, K, gens, dtype=torch.float64)
    rng = np.random.default_rng(seed)
    Z_true = torch.as_tensor(rng.normal(size=(n, P, K)))
    A = torch.as_tensor(rng.dirichlet(np.ones(P), size=n))
    with torch.no_grad():
        spectra = model.decode(Z_true.transpose(0, 1))
        Y = torch.einsum("pnl,np->nl", spectra, A) + 0.01 * torch.as_tensor(rng.normal(size=(n, L)))
    return model, Y, A, torch.zeros(P, K, dtype=torch.float64)


def test_batched_latent_step_reaches_scipy_lbfgsb_minimum():
    model, Y, A, Z0 = _latent_problem()
    n, P, K = Y.shape[0], A.shape[1], Z0.shape[1]
    Z_init = Z0.expand(n, P, K).clone()
    Z, info = exp.latent_step(model.decode, Y, A, Z_init, Z0, lam_z=0.1, max_iter=500, tol=1e-10,
                              ftol=0.0, gtol=1e-9)
    with torch.no_grad():
        ours = exp.latent_objective(model.decode, Y, A, Z.reshape(n, -1), Z0, 0.1).numpy()
    for i in range(n):
        def fun(z, i=i):
            zt = torch.as_tensor(z).reshape(1, -1).requires_grad_(True)
            value = exp.latent_objective(model.decode, Y[i:i + 1], A[i:i + 1], zt, Z0, 0.1).sum()
            value.backward()
            return value.item(), zt.grad.numpy().ravel()
        res = minimize(fun, np.zeros(P * K), jac=True, method="L-BFGS-B",
                       options={"ftol": 1e-15, "gtol": 1e-10, "maxiter": 1000})
        assert ours[i] == pytest.approx(res.fun, rel=1e-6, abs=1e-10)
        np.testing.assert_allclose(Z[i].numpy().ravel(), res.x, atol=1e-3)
    assert info["iterations"] > 1


def _tv_problem(rows=6, cols=7, L=15, P=3, seed=0):
    rng = np.random.default_rng(seed)
    N = rows * cols
    M = rng.uniform(0.1, 1.0, size=(N, L, P))
    A = rng.dirichlet(np.ones(P), size=N).T
    Y = np.einsum("nlp,pn->ln", M, A) + 0.02 * rng.normal(size=(L, N))
    return Y, M, rows, cols


def test_tv_admm_is_feasible_and_decreases_its_objective():
    Y, M, rows, cols = _tv_problem()
    P, N = M.shape[2], Y.shape[1]
    start = np.full((P, N), 1 / P)
    A = unmix_tv(Y, M, rows, cols, lam=0.1, iterations=2000, tol=1e-9)
    assert A.min() >= 0 and np.allclose(A.sum(0), 1, atol=1e-12)
    best = tv_objective(Y, M, A, rows, cols, 0.1)
    assert best < tv_objective(Y, M, start, rows, cols, 0.1)
    rng = np.random.default_rng(1)
    for _ in range(20):                      # no feasible nearby point is better
        B = A + 0.01 * rng.normal(size=A.shape)
        B = np.clip(B, 0, None)
        B /= B.sum(0)
        assert tv_objective(Y, M, B, rows, cols, 0.1) >= best - 1e-7


def test_tv_admm_without_penalty_and_shared_endmembers_is_fcls():
    Y, M, rows, cols = _tv_problem()
    M_shared = M[0]
    A = unmix_tv(Y, M_shared, rows, cols, lam=0.0, iterations=5000, tol=1e-11)
    np.testing.assert_allclose(A, fcls(Y, M_shared, device="cpu"), atol=1e-6)


def test_tv_admm_rejects_bad_shapes():
    Y, M, rows, cols = _tv_problem()
    with pytest.raises(ValueError, match="shapes"):
        unmix_tv(Y, M, rows + 1, cols, lam=0.1)


def test_vae_widths_follow_tables_i_and_ii():
    assert hidden_sizes(224, 2) == [274, 59, 23]
    assert hidden_sizes(10, 2) == [17, 7, 3]             # the max(...) floors apply
    model = EndmemberVAE(224, 2, [torch.Generator().manual_seed(0)])
    assert [w.shape[1:] for w in model.decoder.weights] == [(2, 23), (23, 59), (59, 274), (274, 224)]


def test_vaes_trained_together_equal_vaes_trained_alone():
    rng = np.random.default_rng(0)
    bundles = torch.as_tensor(rng.uniform(0.1, 0.9, size=(3, 12, 16)))
    seeds = [5, 6, 7]
    together, _ = train_vaes(bundles, seeds, epochs=3)
    z = torch.as_tensor(rng.normal(size=(1, 4, 2)))
    alone = [train_vaes(bundles[p:p + 1], [seeds[p]], epochs=3)[0] for p in range(3)]
    with torch.no_grad():
        joint = together.decode(z.expand(3, 4, 2))
        for p in range(3):
            torch.testing.assert_close(alone[p].decode(z)[0], joint[p], rtol=1e-9, atol=1e-12)


def test_vae_training_rejects_spectra_outside_unit_interval():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        train_vaes(torch.full((1, 6, 4), 1.5, dtype=torch.float64), [0], epochs=1)


def test_bundles_are_the_pixels_closest_in_angle():
    M0 = np.eye(4)[:, :2] + 0.1
    Y = np.concatenate([np.outer(M0[:, 0], [1, 2, 3]), np.outer(M0[:, 1], [1, 0.5]),
                        np.ones((4, 3))], axis=1)
    B = exp.bundles(Y, M0, size=2)
    assert B.shape == (2, 2, 4)
    for p in range(2):                                      # scaled copies: angle zero
        assert np.allclose(metrics.sad(B[p].T, np.repeat(M0[:, [p]], 2, axis=1)), 0, atol=1e-7)


@pytest.mark.parametrize("name, shape, half", [("dc1", (70, 70), scenes.DC1_C / 2),
                                               ("dc2", (50, 50), scenes.DC2_HALF_RANGE)])
def test_synthetic_scenes_have_planted_variability_and_noise(name, shape, half):
    scene = scenes.variability_scene(name, seed=0, snr_db=30.0)
    hsi = scene.hsi
    assert (hsi.rows, hsi.cols) == shape and scene.M_true.shape == (hsi.n_pixels, 224, 3)
    E, _ = scenes.borsoi_endmembers(usgs_library())
    ratio = scene.M_true / E[None]
    assert ratio.min() >= 1 - half - 1e-12 and ratio.max() <= 1 + half + 1e-12
    assert ratio.std() > half / 4
    clean = np.einsum("nlp,pn->ln", scene.M_true, hsi.abundances)
    snr = 10 * np.log10(np.sum(clean**2) / np.sum((hsi.Y - clean) ** 2))
    assert snr == pytest.approx(30.0, abs=0.2)


def test_borsoi_library_handling_selects_the_audited_spectra():
    library = usgs_library()
    E, names = scenes.borsoi_endmembers(library)
    assert names == scenes.SPECTRA and E.shape == (224, 3)
    energy = (E**2).sum(0)
    assert np.all(np.diff(energy) > 0)
    # the pruned library keeps no two spectra closer than PRUNE_DEG, and ours are far apart
    assert metrics.sad(E[:, [0, 0, 1]], E[:, [1, 2, 2]]).min() > np.radians(scenes.PRUNE_DEG)
    # the staged DeepGU training bundle of em_idx 3 is nearest to our third spectrum
    ref = scipy.io.loadmat(fetch("deepgu/training_EM_data.mat"))["m_idx"].ravel()
    angles = metrics.sad(np.repeat(ref[:, None], len(library.names), 1), library.spectra)
    assert library.names[int(np.argmin(angles))] == scenes.SPECTRA[2]


def test_thouvenin_factors_are_two_linear_segments_through_three_nodes():
    L, c = 224, 0.2
    f = scenes.thouvenin_factors(np.random.default_rng(0), 50, L, 3, c)
    assert f.shape == (50, L, 3) and f.min() >= 1 - c / 2 and f.max() <= 1 + c / 2
    kinks = (np.abs(np.diff(f, 2, axis=1)) > 1e-12).sum(1)        # a line has zero 2nd differences
    assert kinks.max() <= 2 and kinks.min() >= 1
    brk = np.argmax(np.abs(np.diff(f, 2, axis=1)) > 1e-12, axis=1) + 1
    assert brk.min() >= L // 2 - 1 and brk.max() <= L // 2 + L // 3


def test_smooth_factors_fill_their_range_per_endmember():
    f = scenes.smooth_factors(np.random.default_rng(0), 10, 12, 30, 3, 0.05)
    np.testing.assert_allclose(f.min((0, 1)), 0.95)
    np.testing.assert_allclose(f.max((0, 1)), 1.05)
    assert np.abs(np.diff(f, axis=1)).max() < 0.02                # smooth along the bands


def test_seed_statistics_and_ranking_verdicts():
    def record(dg, fc):
        return {"deepgu_0.05": {"rel_a": dg}, "fcls": {"rel_a": fc}, "elmm": {"rel_a": fc + 0.01}}
    records = [record(0.02, 0.10), record(0.04, 0.12)]
    stats = exp.seed_statistics(records, "dc1", "rel_a")
    assert stats["deepgu"] == pytest.approx((0.03, np.std([0.02, 0.04], ddof=1)))
    assert exp.ranking_row(records, "dc1")["verdict"] == "reproduced"
    assert exp.ranking_row([record(0.2, 0.1)], "dc1")["verdict"] == "not reproduced"
    assert exp.ranking_row([record(0.05, 0.1), record(0.12, 0.1)], "dc1")["verdict"] == "within seed spread"


def test_deepgu_metrics_known_values():
    M = np.zeros((2, 3, 2))
    M[:, 0, :] = 1.0
    R = M.copy()
    R[:, 1, 0] = 1.0                                       # first endmember off by 45 degrees
    assert metrics.sam_pixelwise(R, M) == pytest.approx(np.pi / 4, abs=1e-5)     # eps-guarded
    assert metrics.sam_pixelwise_mean(R, M) == pytest.approx(np.pi / 8, abs=1e-5)
    assert metrics.rmse_global(R, M) == pytest.approx(np.sqrt(2 / 12))


def test_spread_verdicts_use_the_seed_spread_only_with_enough_seeds():
    row = {"key": "k", "ours": 0.10, "difference": 0.05, "verdict": "not reproduced", "reason": "r"}
    assert exp.spread_verdicts([row], {"k": 0.03}, 5)[0]["verdict"] == "partly"      # 0.05 <= 2 * 0.03
    assert exp.spread_verdicts([row], {"k": 0.02}, 5)[0]["verdict"] == "not reproduced"
    assert exp.spread_verdicts([row], {"k": 0.03}, 2)[0]["verdict"] == "not reproduced"
    assert "0.1000 ± 0.0300" in exp.spread_verdicts([row], {"k": 0.03}, 2)[0]["reason"]
