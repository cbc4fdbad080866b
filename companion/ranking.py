"""Ranking several methods over several problems: average ranks, Friedman test, post-hoc tests
and the critical difference (Demšar, JMLR 7, 2006).

``scores: (N, k)`` holds one error per problem (row, a *block*) and method (column); lower is
better. Ranks are 1 for the best method of a row, ties get the mean of their ranks.

=================================  =============================================================
``rank_matrix``                    ``(N, k)`` ranks within each row
``average_ranks``                  ``(k,)`` mean rank of each method over the rows
``friedman``                       Friedman's chi-square (tie-corrected, as SciPy) and p-value
``friedman_from_ranks``            Demšar's eq. from average ranks (no tie correction) and the
                                   Iman-Davenport F statistic
``nemenyi_pvalues``                Nemenyi all-pairs p-values (the formula of scikit-posthocs'
                                   ``posthoc_nemenyi_friedman``, with SciPy alone)
``critical_difference``            Nemenyi's CD: ``q_alpha sqrt(k (k + 1) / (6 N))``
``cd_groups``                      the maximal groups of methods whose average ranks lie within
                                   one CD (the bars of a CD diagram)
=================================  =============================================================
"""

from __future__ import annotations

import numpy as np
from scipy import stats

__all__ = ["average_ranks", "cd_groups", "critical_difference", "friedman",
           "friedman_from_ranks", "nemenyi_pvalues", "rank_matrix"]


def _checked(scores) -> np.ndarray:
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[0] < 2 or scores.shape[1] < 2:
        raise ValueError(f"scores must be (N >= 2 problems, k >= 2 methods), got {scores.shape}")
    if not np.isfinite(scores).all():
        raise ValueError("scores must be finite: drop the methods that did not run on every problem")
    return scores


def rank_matrix(scores) -> np.ndarray:
    """Ranks ``(N, k)`` within each row of ``scores (N, k)`` (1 = lowest error, ties averaged)."""
    return stats.rankdata(_checked(scores), axis=1)


def average_ranks(scores) -> np.ndarray:
    """Mean rank of each method over the problems, ``(k,)``."""
    return rank_matrix(scores).mean(axis=0)


def friedman(scores) -> tuple[float, float]:
    """Friedman's chi-square statistic with the tie correction and its p-value (``k - 1`` degrees
    of freedom), computed from the ranks; equal to ``scipy.stats.friedmanchisquare``."""
    R = rank_matrix(scores)
    N, k = R.shape
    chi2 = 12.0 * N / (k * (k + 1)) * np.sum((R.mean(axis=0) - (k + 1) / 2.0) ** 2)
    # tied values share an averaged rank: t^3 - t summed over the tie groups of every row
    ties = sum(np.sum(t**3 - t) for t in (np.unique(row, return_counts=True)[1] for row in R))
    chi2 /= 1.0 - ties / (N * k * (k * k - 1))
    return float(chi2), float(stats.chi2.sf(chi2, k - 1))


def friedman_from_ranks(average: np.ndarray, N: int) -> tuple[float, float]:
    """Demšar's eq. (Sec. 3.2.2) from the ``average`` ranks ``(k,)`` over ``N`` problems, without
    tie correction: ``(chi2_F, F_F)`` with ``F_F = (N - 1) chi2_F / (N (k - 1) - chi2_F)`` the
    Iman-Davenport statistic (F with ``k - 1`` and ``(k - 1)(N - 1)`` degrees of freedom)."""
    average = np.asarray(average, dtype=np.float64)
    k = average.size
    chi2 = 12.0 * N / (k * (k + 1)) * (np.sum(average**2) - k * (k + 1) ** 2 / 4.0)
    return float(chi2), float((N - 1) * chi2 / (N * (k - 1) - chi2))


def nemenyi_pvalues(scores) -> np.ndarray:
    """Nemenyi all-pairs p-values ``(k, k)`` after Friedman: the studentized range (``k`` means,
    infinite degrees of freedom) survival function of ``sqrt(2) |R_i - R_j| / sqrt(k (k + 1) / (6 N))``
    for the average ranks ``R``, 1 on the diagonal; the same operations as scikit-posthocs'
    ``posthoc_nemenyi_friedman`` (so the package needs SciPy only; the book's CD diagrams draw
    with scikit-posthocs)."""
    R = rank_matrix(scores)
    N, k = R.shape
    mean_ranks = R.mean(axis=0)
    upper = np.triu_indices(k, 1)
    q_values = np.abs(mean_ranks[upper[0]] - mean_ranks[upper[1]]) / np.sqrt(k * (k + 1.0) / (6.0 * N))
    p = np.zeros((k, k))
    p[upper] = stats.studentized_range.sf(q_values * np.sqrt(2.0), k, np.inf)
    p[np.tril_indices(k, -1)] = p.T[np.tril_indices(k, -1)]
    np.fill_diagonal(p, 1.0)
    return p


def critical_difference(k: int, N: int, alpha: float = 0.05) -> float:
    """Nemenyi's critical difference of average ranks for ``k`` methods on ``N`` problems:
    ``q_alpha sqrt(k (k + 1) / (6 N))``, ``q_alpha`` the studentized range quantile / sqrt(2)
    (Demšar's Table 5a: 2.569 for k = 4 at alpha 0.05)."""
    q = stats.studentized_range.ppf(1.0 - alpha, k, np.inf) / np.sqrt(2.0)
    return float(q * np.sqrt(k * (k + 1) / (6.0 * N)))


def cd_groups(average: np.ndarray, cd: float) -> list[list[int]]:
    """Maximal groups (method indices, best first) whose average ranks span less than ``cd``:
    within a group no pair differs significantly. Groups contained in another are dropped;
    a method alone in no group of two is not listed."""
    average = np.asarray(average, dtype=np.float64)
    order = np.argsort(average, kind="stable")
    sorted_ranks = average[order]
    last = np.searchsorted(sorted_ranks, sorted_ranks + cd, side="left") - 1   # farthest within cd
    groups, reach = [], -1
    for i, j in enumerate(last):
        if j > i and j > reach:
            groups.append(order[i:j + 1].tolist())
            reach = j
    return groups

