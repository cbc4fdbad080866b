"""Metrics against hand-computed values and brute force; matching recovers planted permutations."""

import itertools
import math

import numpy as np
import pytest

from companion import metrics as m


def test_sad_hand_value():
    E_true = np.array([[2.0], [1.0], [2.0]])
    E_est = np.array([[1.0], [4.0], [2.0]])
    # cos = (2 + 4 + 4) / (3 * sqrt(21))
    assert m.sad(E_true, E_est)[0] == pytest.approx(0.75628, abs=1e-5)
    assert m.sad(E_true, 7.0 * E_true)[0] < 1e-15                # scale-invariant, exact zero
    tiny = np.array([[1.0], [1e-9], [0.0]])
    assert m.sad(np.array([[1.0], [0.0], [0.0]]), tiny)[0] == pytest.approx(1e-9, rel=1e-6)


def test_aad_and_aid_hand_values():
    A_true = np.array([[0.5], [0.5]])
    A_est = np.array([[0.9], [0.1]])
    expected_aad = math.acos((0.45 + 0.05) / (math.sqrt(0.5) * math.sqrt(0.82)))
    assert m.aad(A_true, A_est)[0] == pytest.approx(expected_aad)
    expected_aid = 0.4 * math.log(0.9 / 0.5) + 0.4 * math.log(0.5 / 0.1)
    assert m.aid(A_true, A_est)[0] == pytest.approx(expected_aid, rel=1e-6)
    assert m.aid(A_true, A_true)[0] == pytest.approx(0.0, abs=1e-12)


@pytest.fixture
def abundances():
    rng = np.random.default_rng(0)
    A = rng.dirichlet(np.ones(4), size=50).T
    B = rng.dirichlet(np.ones(4), size=50).T
    return A, B


def test_rmse_variants_against_brute_force(abundances):
    A, B = abundances
    per_pixel = [math.sqrt(sum((A[k, n] - B[k, n]) ** 2 for k in range(4)) / 4) for n in range(50)]
    assert m.rmse_per_pixel_mean(A, B) == pytest.approx(sum(per_pixel) / 50)
    total = sum((A[k, n] - B[k, n]) ** 2 for k in range(4) for n in range(50))
    assert m.rmse_global(A, B) == pytest.approx(math.sqrt(total / 200))
    assert m.rmse_global_percent(A, B) == pytest.approx(100 * math.sqrt(total / 200))
    assert m.relative_frobenius_error(A, B) == pytest.approx(math.sqrt(total / np.sum(A**2)))
    # mean of per-pixel RMSE never exceeds the global RMSE (Jensen)
    assert m.rmse_per_pixel_mean(A, B) <= m.rmse_global(A, B)


def test_sre_known_value():
    X = np.ones((3, 10))
    assert m.sre_db(X, 0.9 * X) == pytest.approx(20.0)


def test_per_pixel_angles_against_loop(abundances):
    A, B = abundances
    loop = [
        math.acos(min(1.0, A[:, n] @ B[:, n] / (np.linalg.norm(A[:, n]) * np.linalg.norm(B[:, n]))))
        for n in range(50)
    ]
    np.testing.assert_allclose(m.aad(A, B), loop, atol=1e-9)


def test_sam_pixelwise_sums_over_endmembers():
    rng = np.random.default_rng(1)
    M1 = rng.uniform(0.1, 1, (7, 20, 3))
    M2 = rng.uniform(0.1, 1, (7, 20, 3))
    expected = np.mean([sum(m.sad(M1[n], M2[n])) for n in range(7)])
    assert m.sam_pixelwise(M1, M2) == pytest.approx(expected)


@pytest.mark.parametrize("method", sorted(m.MATCHING_METHODS))
def test_matching_returns_planted_permutation(method):
    rng = np.random.default_rng(2)
    E = rng.uniform(0, 1, (50, 5))
    order = rng.permutation(5)                      # estimate k is true endmember order[k]
    E_est = E[:, order] * rng.uniform(0.95, 1.05, 5) + 0.001 * rng.standard_normal((50, 5))
    perm = m.match_endmembers(E, E_est, method=method)
    np.testing.assert_array_equal(perm, np.argsort(order))
    np.testing.assert_allclose(m.sad(E, E_est[:, perm]), 0, atol=0.01)


def test_hungarian_equals_exhaustive_on_random_problems():
    rng = np.random.default_rng(3)
    for _ in range(20):
        E, F = rng.uniform(0, 1, (10, 4)), rng.uniform(0, 1, (10, 4))
        totals = {q: m.sad(E, F[:, list(q)]).sum() for q in itertools.permutations(range(4))}
        best = min(totals.values())
        for method in ("hungarian", "permutation"):
            found = tuple(m.match_endmembers(E, F, method))
            assert totals[found] == pytest.approx(best)


def test_matching_with_extra_estimates_and_bad_method():
    rng = np.random.default_rng(4)
    E = rng.uniform(0, 1, (30, 3))
    F = np.hstack([rng.uniform(0, 1, (30, 2)), E[:, [2, 0, 1]]])
    np.testing.assert_array_equal(m.match_endmembers(E, F), [3, 4, 2])
    with pytest.raises(ValueError, match="hungarian"):
        m.match_endmembers(E, F, method="nearest")


def test_abundance_matching_recovers_a_planted_permutation_that_sad_matching_misses():
    rng = np.random.default_rng(3)
    A_true = rng.dirichlet(np.ones(4), size=500).T                     # (4, 500)
    E_true = rng.uniform(0.1, 1.0, size=(30, 4))
    perm = np.array([2, 0, 3, 1])
    A_est = np.empty_like(A_true)
    A_est[perm] = A_true + rng.normal(0, 0.01, A_true.shape)           # A_est[perm] ~ A_true
    # endmembers 0 and 1 of the estimate swapped: SAD matching follows the spectra, not the maps
    E_est = np.empty_like(E_true)
    E_est[:, perm] = E_true
    E_est[:, [perm[0], perm[1]]] = E_true[:, [1, 0]]
    np.testing.assert_array_equal(m.match_abundances(A_true, A_est), perm)
    assert list(m.match_endmembers(E_true, E_est)[:2]) == [perm[1], perm[0]]


def test_score_estimate_against_hand_values_under_both_matchings():
    E_true = np.array([[1.0, 0.0], [0.0, 1.0]])
    A_true = np.array([[1.0, 0.0, 0.5, 0.5], [0.0, 1.0, 0.5, 0.5]])
    E_est = np.array([[0.0, 1.0], [1.0, 1.0]])                        # column 1 is 45 deg off e0
    A_est = A_true[::-1] + np.array([[0.1], [-0.1]])
    by_sad = m.score_estimate(E_true, A_true, E_est, A_est)
    assert by_sad["sad_deg"] == pytest.approx([45.0, 0.0])
    assert by_sad["sad_mean_rad"] == pytest.approx(np.pi / 8)
    assert by_sad["rmse_per_endmember"] == pytest.approx([0.1, 0.1])
    assert by_sad["armse_percent"] == pytest.approx(10.0)
    assert by_sad["rmse_per_pixel_mean"] == pytest.approx(0.1)
    assert by_sad["sre_db"] == pytest.approx(10 * np.log10(3.0 / (8 * 0.01)))
    assert m.score_estimate(E_true, A_true, E_est, A_est, match_on="abundances") == {**by_sad,
                                                                                   "match_on": "abundances"}
    no_maps = m.score_estimate(E_true, None, E_est, A_est)
    assert "armse_percent" not in no_maps and no_maps["sad_deg"] == pytest.approx([45.0, 0.0])
    with pytest.raises(ValueError, match="needs reference abundances"):
        m.score_estimate(E_true, None, E_est, A_est, match_on="abundances")
    with pytest.raises(ValueError, match="match_on must be one of"):
        m.score_estimate(E_true, A_true, E_est, A_est, match_on="rmse")
