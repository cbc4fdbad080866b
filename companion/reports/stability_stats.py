"""Statistics of the stability study (Książek et al. 2022, Sec. 2.5, 2.6 and Tables 2-3).

Kruskal-Wallis over initialisations, Conover-Iman post-hoc p-values and the candidate
definitions of Table 2's 'ph', the Wilcoxon signed-rank test of Table 3 and the Spearman
correlations of Sec. 2.6. Inputs are ``(N, k)`` arrays: N initialisations x k runs.
"""

from __future__ import annotations

import numpy as np
import scikit_posthocs
from scipy import stats

__all__ = ["PH_DEFINITIONS", "bootstrap_interval", "conover_pvalues", "kruskal", "kruskal_expected_h",
           "ph_full_zero_filled",
           "ph_one_minus_mean_p", "ph_symmetric_matrix", "ph_upper_share", "spearman_dead_vs_init_mean",
           "spearman_dead_vs_run", "wilcoxon_improvement"]


def kruskal(rmse: np.ndarray) -> tuple[float, float]:
    """Kruskal-Wallis over the rows of ``rmse (N, k)`` (one group per initialisation):
    ``(H, natural log of p)``; ``-inf`` when p underflows, as in the paper's Table 2."""
    groups = [row[np.isfinite(row)] for row in np.asarray(rmse)]
    H, _ = stats.kruskal(*groups)
    log_p = stats.chi2.logsf(H, len(groups) - 1)
    return float(H), float(log_p)


def kruskal_expected_h(paper_h: float, n_groups: int, n_runs: int, paper_groups: int = 50,
                       paper_runs: int = 50, alpha: float = 0.05) -> tuple[float, bool]:
    """Expected Kruskal-Wallis H at ``n_groups`` initialisations x ``n_runs`` runs for the effect
    behind the paper's ``paper_h`` (measured at ``paper_groups`` x ``paper_runs``), and whether that
    expectation exceeds the ``alpha`` critical value.

    Under an initialisation effect H is approximately noncentral chi-squared with ``groups - 1``
    degrees of freedom and noncentrality lambda = 12 n E[delta^2], with n = groups x runs pixels'
    worth of samples and delta the rank shift of a group, so lambda scales with the total sample
    size and not with the number of groups: lambda_ours = (paper_h - (paper_groups - 1)) x
    n_ours / n_paper and E[H] = n_groups - 1 + lambda_ours. A power argument, not a test.
    """
    scale = (n_groups * n_runs) / (paper_groups * paper_runs)
    expected = (n_groups - 1) + max(paper_h - (paper_groups - 1), 0.0) * scale
    return float(expected), bool(expected > stats.chi2.ppf(1 - alpha, n_groups - 1))


def conover_pvalues(rmse: np.ndarray) -> np.ndarray:
    """Conover-Iman pairwise p-values ``(N, N)`` between initialisations (no p adjustment, as
    ATE's ``scikit_posthocs.posthoc_conover(data)``); the diagonal is 1."""
    groups = [row[np.isfinite(row)] for row in np.asarray(rmse)]
    return scikit_posthocs.posthoc_conover(groups, p_adjust=None).to_numpy()


def ph_upper_share(pvalues: np.ndarray, alpha: float = 0.05) -> float:
    """'ph' candidate: share of the N(N-1)/2 distinct pairs with p < alpha (0 when none differ)."""
    upper = pvalues[np.triu_indices_from(pvalues, k=1)]
    return float(np.mean(upper < alpha))


def ph_symmetric_matrix(pvalues: np.ndarray, alpha: float = 0.05) -> float:
    """'ph' candidate: share of all N^2 cells of the symmetric matrix with p < alpha (diagonal 1)."""
    return float(np.mean(pvalues < alpha))


def ph_full_zero_filled(pvalues: np.ndarray, alpha: float = 0.05) -> float:
    """'ph' candidate: share of the N^2 cells with p < alpha when only the upper triangle holds
    p-values and the diagonal and lower triangle are zeros (they then count as p < alpha):
    ``((N^2 + N) / 2 + significant pairs) / N^2``, at least (N + 1) / (2N)."""
    n = len(pvalues)
    return float(((n * n + n) / 2 + np.sum(pvalues[np.triu_indices(n, k=1)] < alpha)) / (n * n))


def ph_one_minus_mean_p(pvalues: np.ndarray) -> float:
    """'ph' candidate: one minus the mean p-value of the distinct pairs (0.5 under H0)."""
    return float(1.0 - np.mean(pvalues[np.triu_indices_from(pvalues, k=1)]))


# Candidate definitions of Table 2's 'ph' (the paper: "the ratio of p-values < alpha in post-hoc
# analysis"); the chapter compares each with the paper's floor of about 0.54.
PH_DEFINITIONS = {"distinct pairs": ph_upper_share, "symmetric N x N": ph_symmetric_matrix,
                  "zero-filled N x N": ph_full_zero_filled, "1 - mean p": ph_one_minus_mean_p}


def wilcoxon_improvement(baseline: np.ndarray, method: np.ndarray, alpha: float = 0.05) -> tuple[float, bool]:
    """Paired Wilcoxon signed-rank test of ``method`` against ``baseline`` (one value per
    initialisation): ``(p, significant improvement)`` where improvement means a lower mean."""
    b, m = np.asarray(baseline), np.asarray(method)
    keep = np.isfinite(b) & np.isfinite(m)
    if keep.sum() < 2 or np.allclose(b[keep], m[keep]):
        return 1.0, False
    p = float(stats.wilcoxon(b[keep], m[keep]).pvalue)
    return p, bool(p < alpha and m[keep].mean() < b[keep].mean())


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    keep = np.isfinite(x) & np.isfinite(y)
    if keep.sum() < 3 or np.ptp(x[keep]) == 0 or np.ptp(y[keep]) == 0:
        return float("nan")
    return float(stats.spearmanr(x[keep], y[keep]).statistic)


def spearman_dead_vs_init_mean(dead: np.ndarray, rmse: np.ndarray) -> float:
    """Sec. 2.6: Spearman correlation between the bottleneck's dead-activation coefficient of each
    run and the mean reconstruction error of its initialisation; ``dead, rmse: (N, k)`` (N x k
    pairs). The paper reports one value per experiment and scheme (0.76-0.89)."""
    dead, rmse = np.asarray(dead, dtype=float), np.asarray(rmse, dtype=float)
    init_mean = np.broadcast_to(np.nanmean(rmse, axis=1, keepdims=True), rmse.shape)
    return _spearman(dead.ravel(), init_mean.ravel())


def spearman_dead_vs_run(dead: np.ndarray, rmse: np.ndarray) -> float:
    """Spearman correlation between each run's dead-activation coefficient and its own
    reconstruction error (any shape; pairs run by run)."""
    return _spearman(np.asarray(dead, dtype=float).ravel(), np.asarray(rmse, dtype=float).ravel())


def bootstrap_interval(statistic, n: int, n_boot: int = 1000, level: float = 0.9,
                       seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic(index)`` over ``n`` initialisations:
    ``statistic`` receives an ``(n,)`` array of initialisation indices drawn with replacement
    and returns a float (NaN results are dropped). Returns ``(low, high)`` at ``level``."""
    rng = np.random.default_rng(seed)
    values = np.array([statistic(rng.integers(0, n, n)) for _ in range(n_boot)], dtype=float)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return float("nan"), float("nan")
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)
