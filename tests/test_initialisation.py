"""Named initialisations: SiVM against a loop-per-pixel reference of its selection rule and on a
planted simplex; VCA's forced branches against its automatic rule; the registry's contract."""

import numpy as np
import pytest

from companion import metrics
from companion.classic.sivm import sivm, sivm_denoise, sivm_select
from companion.classic.vca import vca
from companion.initialisation import INITIALISATIONS, initial_endmembers, initial_endmembers_runs


def planted(seed=0, L=30, p=4, n=400, noise=0.0):
    rng = np.random.default_rng(seed)
    E = rng.uniform(0.1, 0.9, (L, p))
    A = rng.dirichlet(np.ones(p) * 0.7, size=n).T
    A[:, :p] = np.eye(p)                                   # the pure pixels are present
    Y = E @ A + noise * rng.standard_normal((L, n))
    return Y, E, A


def reference_select(X, p):
    """The selection rule written pixel by pixel (independent of the vectorised one)."""
    N = X.shape[1]
    d2 = lambda i, j: float(np.sum((X[:, i] - X[:, j]) ** 2))  # noqa: E731
    chosen = [int(np.argmax([X[:, i] @ X[:, i] for i in range(N)]))]
    for v in range(1, p):
        M = np.ones((v + 1, v + 1))
        M[v, v] = 0.0
        for a in range(v):
            for b in range(v):
                M[a, b] = d2(chosen[a], chosen[b])
        Minv = np.linalg.inv(M)
        scores = []
        for i in range(N):
            c = np.array([d2(i, s) for s in chosen] + [1.0])
            scores.append(c @ Minv @ c)
        chosen.append(int(np.argmax(scores)))
    return np.array(chosen)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sivm_selection_matches_pixel_loop(seed):
    Y, _, _ = planted(seed, n=120, noise=0.01)
    X = sivm_denoise(Y, 4)
    np.testing.assert_array_equal(sivm_select(X, 4), reference_select(X, 4))


def test_sivm_finds_planted_pure_pixels():
    Y, E, _ = planted(3)
    E_hat, idx = sivm(Y, 4)
    assert sorted(idx) == [0, 1, 2, 3]
    perm = metrics.match_endmembers(E, E_hat)
    assert metrics.sad(E, E_hat[:, perm]).max() < 1e-8


def test_sivm_denoise_is_rank_p_and_clipped():
    Y, _, _ = planted(4, noise=0.05)
    X = sivm_denoise(Y * 1.5, 4)
    assert np.linalg.matrix_rank(np.clip(Y * 1.5, 0, 1)) > 4
    assert X.min() >= 0.0 and X.max() <= 1.0
    # without clipping active the result is the best rank-4 approximation
    Xs = sivm_denoise(Y * 0.5, 4)
    assert np.linalg.matrix_rank(Xs, tol=1e-8) == 4


def test_vca_forced_branches_follow_the_automatic_rule():
    Y, _, _ = planted(5, noise=0.01)
    for snr, branch in ((60.0, "projective"), (0.0, "affine")):
        auto = vca(Y, 4, seed=1, snr_db=snr)[1]
        np.testing.assert_array_equal(auto, vca(Y, 4, seed=1, branch=branch)[1])
    with pytest.raises(ValueError, match="branch"):
        vca(Y, 4, branch="other")


def test_vca_branches_recover_planted_simplex():
    Y, E, _ = planted(6)
    for branch in ("projective", "affine"):
        E_hat = vca(Y, 4, seed=0, branch=branch)[0]
        perm = metrics.match_endmembers(E, E_hat)
        assert metrics.sad(E, E_hat[:, perm]).max() < 1e-6


def test_registry_contract():
    Y, E, _ = planted(7)
    assert set(INITIALISATIONS) == {"vca", "vca_projective", "vca_affine", "vca_normal", "aa", "edaa",
                                    "sisal", "sivm", "truth"}
    np.testing.assert_array_equal(initial_endmembers("truth", Y, 4, truth=E), E)
    runs = initial_endmembers_runs("sivm", Y, 4, [0, 1, 2])
    assert runs.shape == (3, Y.shape[0], 4) and np.array_equal(runs[0], runs[2])
    vcas = initial_endmembers_runs("vca", Y, 4, [0, 1])
    np.testing.assert_array_equal(vcas[1], vca(Y, 4, seed=1)[0])
    with pytest.raises(ValueError, match="reference endmembers"):
        initial_endmembers("truth", Y, 4)
    with pytest.raises(ValueError, match="unknown"):
        initial_endmembers("nfindr", Y, 4)


def test_start_free_initialisations_recover_planted_simplex():
    Y, E, _ = planted(8, n=200)
    for name, seed in (("aa", 0), ("sisal", 1), ("vca_normal", 2)):
        E_hat = initial_endmembers(name, Y, 4, seed=seed)
        perm = metrics.match_endmembers(E, E_hat)
        assert E_hat.shape == E.shape and metrics.sad(E, E_hat[:, perm]).max() < 1e-3, name
    runs = initial_endmembers_runs("aa", Y, 4, [0, 5])
    np.testing.assert_array_equal(runs[0], runs[1])
    np.testing.assert_array_equal(initial_endmembers("vca_normal", Y, 4, seed=3),
                                  vca(Y, 4, seed=3, directions="normal")[0])
