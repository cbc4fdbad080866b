"""Power of Table 2's Kruskal-Wallis test at a reduced N x k: the paper's H scaled by the sample
size predicts the mean H of simulated studies with the same initialisation effect."""

import numpy as np
from scipy import stats as sps

from companion.reports import stability_stats as stats


def _mean_h(rng, groups, runs, spread, repeats):
    """Mean H over ``repeats`` studies: group means ~ N(0, spread^2), runs ~ N(group mean, 1)."""
    values = []
    for _ in range(repeats):
        means = rng.normal(0.0, spread, size=(groups, 1))
        values.append(stats.kruskal(means + rng.normal(size=(groups, runs)))[0])
    return float(np.mean(values))


def test_no_effect_expects_the_degrees_of_freedom_and_no_significance():
    assert stats.kruskal_expected_h(49.0, 10, 5) == (9.0, False)
    assert stats.kruskal_expected_h(30.0, 10, 5) == (9.0, False)   # H below its df: no effect


def test_expected_h_matches_simulated_studies_at_the_smaller_size():
    rng = np.random.default_rng(0)
    spread = 0.3
    paper_h = _mean_h(rng, 50, 50, spread, 40)
    expected, significant = stats.kruskal_expected_h(paper_h, 10, 5)
    simulated = _mean_h(rng, 10, 5, spread, 400)
    assert abs(expected - simulated) < 0.1 * simulated
    assert significant == (expected > sps.chi2.ppf(0.95, 9))
