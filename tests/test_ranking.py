"""Average ranks, Friedman, Nemenyi and the critical difference against SciPy, scikit-posthocs
and the worked example of Demšar (JMLR 2006, Sec. 3.2.2)."""

import numpy as np
import pytest
from scipy import stats

from companion import ranking

# Demšar's example: four C4.5 variants on 14 data sets; average ranks 3.143, 2.000, 2.893, 1.964
# (as rank sums over 14 sets: 44, 28, 40.5, 27.5); chi2_F = 9.28, F_F = 3.69, CD(0.05) = 1.25.
DEMSAR_RANKS = np.array([44.0, 28.0, 40.5, 27.5]) / 14


def test_ranks_are_one_for_the_lowest_error_and_average_ties():
    scores = np.array([[0.1, 0.3, 0.2], [0.5, 0.5, 0.1]])
    np.testing.assert_array_equal(ranking.rank_matrix(scores), [[1, 3, 2], [2.5, 2.5, 1]])
    np.testing.assert_array_equal(ranking.average_ranks(scores), [1.75, 2.75, 1.5])


@pytest.mark.parametrize("shape", [(14, 4), (6, 12), (5, 3)])
def test_friedman_matches_scipy_with_and_without_ties(shape):
    rng = np.random.default_rng(shape[0] * shape[1])
    for scores in (rng.normal(size=shape), np.round(rng.normal(size=shape), 0)):
        expected = stats.friedmanchisquare(*scores.T)
        chi2, p = ranking.friedman(scores)
        assert chi2 == pytest.approx(expected.statistic, rel=1e-12)
        assert p == pytest.approx(expected.pvalue, rel=1e-9)


def test_friedman_from_demsar_average_ranks():
    chi2, f = ranking.friedman_from_ranks(DEMSAR_RANKS, 14)
    assert chi2 == pytest.approx(9.28, abs=0.005)
    assert f == pytest.approx(3.69, abs=0.005)


def test_critical_difference_matches_demsar_table_5():
    assert ranking.critical_difference(4, 14) == pytest.approx(1.25, abs=0.005)
    # q_0.05 of Demsar's Table 5(a) for k = 2 ... 6: 1.960, 2.343, 2.569, 2.728, 2.850
    for k, q in zip(range(2, 7), (1.960, 2.343, 2.569, 2.728, 2.850), strict=True):
        assert ranking.critical_difference(k, 1) / np.sqrt(k * (k + 1) / 6) == pytest.approx(q, abs=1e-3)


def test_nemenyi_pvalues_follow_the_studentized_range_of_rank_gaps():
    rng = np.random.default_rng(3)
    scores = rng.normal(size=(10, 5)) + np.arange(5) * 0.6
    N, k = scores.shape
    R = ranking.average_ranks(scores)
    z = np.abs(R[:, None] - R[None, :]) / np.sqrt(k * (k + 1) / (6 * N))
    expected = stats.studentized_range.sf(z * np.sqrt(2), k, np.inf)
    np.fill_diagonal(expected, 1.0)
    np.testing.assert_allclose(ranking.nemenyi_pvalues(scores), expected, rtol=1e-6, atol=1e-9)
    # and a pair is significant at 0.05 exactly when its rank gap exceeds the CD
    cd = ranking.critical_difference(k, N)
    off = ~np.eye(k, dtype=bool)
    gaps = np.abs(R[:, None] - R[None, :])
    np.testing.assert_array_equal((ranking.nemenyi_pvalues(scores) < 0.05)[off], (gaps > cd)[off])


def test_cd_groups_are_the_maximal_runs_within_one_cd():
    ranks = np.array([3.0, 1.0, 3.2, 1.5])
    assert ranking.cd_groups(ranks, 1.0) == [[1, 3], [0, 2]]
    assert ranking.cd_groups(ranks, 2.1) == [[1, 3, 0], [3, 0, 2]]
    assert ranking.cd_groups(ranks, 0.1) == []


def test_scores_with_missing_methods_are_refused():
    with pytest.raises(ValueError, match="finite"):
        ranking.friedman([[0.1, np.nan], [0.2, 0.3]])


@pytest.mark.parametrize("shape", [(13, 12), (8, 11), (5, 3)])
def test_nemenyi_pvalues_equal_scikit_posthocs_bit_for_bit(shape):
    """The package computes them with SciPy alone; scikit-posthocs (the book's CD diagrams) agrees."""
    sp = pytest.importorskip("scikit_posthocs")
    rng = np.random.default_rng(shape[0])
    for scores in (rng.normal(size=shape), np.round(rng.normal(size=shape), 0)):
        np.testing.assert_array_equal(ranking.nemenyi_pvalues(scores),
                                      sp.posthoc_nemenyi_friedman(scores).to_numpy())


def test_ranking_needs_no_scikit_posthocs():
    import ast
    from pathlib import Path

    tree = ast.parse(Path(ranking.__file__).read_text())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert "scikit_posthocs" not in imported
