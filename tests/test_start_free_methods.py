"""The benchmark's AA, EDAA and SISAL adapters: each recovers the endmembers of a planted scene
through the benchmark's own Problem and scoring (SISAL where VCA cannot: no pure pixels); the
start-free ones ignore the start; each reads its iteration budget from the chapter's parameters."""

import numpy as np
import pytest

from companion import metrics
from companion.chapters import benchmark as chapter
from companion.chapters import resolve_parameters
from companion.experiments import benchmark as bench
from companion.methods import BUDGET_KEYS, METHODS, Problem, budget_of, make_start

P_ENDMEMBERS, BANDS = 3, 30


def scene(seed, purest=1.0, noise=0.0, n=200):
    """``Y (bands, n)``, ``E (bands, 3)``, ``A (3, n)``: Dirichlet abundances; with ``purest=1``
    the last pixels are the pure ones (so AA's first-pixels start is not the answer), otherwise
    every fraction is at most ``purest`` (no pure pixel)."""
    rng = np.random.default_rng(seed)
    E = rng.uniform(0.1, 0.9, (BANDS, P_ENDMEMBERS))
    A = rng.dirichlet(np.ones(P_ENDMEMBERS), size=8 * n).T
    A = A[:, A.max(0) <= purest][:, :n]
    if purest == 1.0:
        A[:, -P_ENDMEMBERS:] = np.eye(P_ENDMEMBERS)
    return E @ A + noise * rng.standard_normal((BANDS, n)), E, A


def problem(Y, start="vca", seed=0, budget=None):
    """The benchmark's problem of ``Y`` with the shared ``start`` (run seed ``seed``) and ``budget``
    (default: each method's own, ``PROTOCOL_BUDGET``)."""
    return Problem(Y, 1, Y.shape[1], P_ENDMEMBERS, make_start(start, Y, P_ENDMEMBERS, seed), seed,
                   budget or chapter.PROTOCOL_BUDGET)


def max_sad_deg(E, E_hat):
    return np.degrees(metrics.sad(E, E_hat[:, metrics.match_endmembers(E, E_hat)])).max()


@pytest.mark.parametrize("key, tolerance_deg", [("aa", 0.5), ("edaa", 2.0)])
def test_start_free_methods_recover_planted_pure_pixels(key, tolerance_deg):
    Y, E, A = scene(0, noise=0.0)
    estimate = METHODS[key].run(problem(Y))
    # measured: AA 0.12, EDAA 1.6 (entropic steps approach the pure pixels sublinearly)
    assert max_sad_deg(E, estimate.endmembers) < tolerance_deg
    np.testing.assert_allclose(estimate.abundances.sum(0), 1.0, atol=1e-6)
    assert estimate.abundances.min() >= -1e-12
    np.testing.assert_allclose(estimate.reconstruction, estimate.endmembers @ estimate.abundances)
    # the benchmark's scoring (Hungarian on the spectral angle): abundances recovered too
    assert metrics.score_runs(E, A, estimate.endmembers[None], estimate.abundances[None],
                              matching=bench.MATCHING)["rmse"][0] < 0.03   # AA 0.001, EDAA 0.017


def test_sisal_recovers_the_simplex_that_its_vca_start_misses():
    Y, E, A = scene(1, purest=0.8, n=1000)
    pb = problem(Y)
    assert max_sad_deg(E, pb.start.endmembers) > 5.0                  # no pure pixel: VCA is off
    estimate = METHODS["sisal"].run(pb)
    assert max_sad_deg(E, estimate.endmembers) < 0.5                 # measured 0.19 (start: 8.1)
    # abundances: exact FCLS on SISAL's endmembers (nonnegative, sum to one)
    assert estimate.abundances.min() >= -1e-12
    np.testing.assert_allclose(estimate.abundances.sum(0), 1.0, atol=1e-6)
    score = metrics.score_runs(E, A, estimate.endmembers[None], estimate.abundances[None],
                               matching=bench.MATCHING)
    assert score["rmse"][0] < 0.01                                    # measured 0.0014


@pytest.mark.parametrize("key", ["aa", "edaa"])
def test_start_free_methods_ignore_the_start(key):
    Y, _, _ = scene(2, noise=0.01)
    budget = {**chapter.PROTOCOL_BUDGET, "aa_iterations": 5, "edaa_outer": 5}
    from_vca, from_sivm = (METHODS[key].run(problem(Y, start, budget=budget)) for start in ("vca", "sivm"))
    assert METHODS[key].start_free and not METHODS[key].charged_start
    np.testing.assert_array_equal(from_vca.endmembers, from_sivm.endmembers)
    np.testing.assert_array_equal(from_vca.abundances, from_sivm.abundances)


def test_start_free_flags():
    assert {k for k, m in METHODS.items() if m.start_free} == {"ae_basic", "ae_original", "aa", "edaa"}
    assert not (METHODS["sisal"].start_free or METHODS["nlaeu"].start_free)    # VCA start, shared or own


def test_edaa_run_seed_draws_the_restarts():
    Y, _, _ = scene(3, noise=0.02)
    budget = {**chapter.PROTOCOL_BUDGET, "edaa_outer": 3}
    same = [METHODS["edaa"].run(problem(Y, seed=0, budget=budget)).endmembers for _ in range(2)]
    other = METHODS["edaa"].run(problem(Y, seed=1, budget=budget)).endmembers
    np.testing.assert_array_equal(*same)
    assert not np.array_equal(same[0], other)


@pytest.mark.parametrize("key, budget_key", [("aa", "aa_iterations"), ("sisal", "sisal_iterations"),
                                             ("edaa", "edaa_outer")])
def test_each_method_runs_its_budget(key, budget_key, monkeypatch):
    """The adapter passes the budget's value to its solver (spied), not the solver's default."""
    import companion.methods as methods_module

    solver = {"aa": "archetypal_analysis", "sisal": "sisal", "edaa": "edaa"}[key]
    argument = {"aa": "max_iter", "sisal": "mm_iters", "edaa": "outer"}[key]
    seen = {}
    real = getattr(methods_module, solver)

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(methods_module, solver, spy)
    Y, _, _ = scene(4, noise=0.01)
    METHODS[key].run(problem(Y, budget={**chapter.PROTOCOL_BUDGET, budget_key: 2}))
    assert seen[argument] == 2


def test_budgets_are_chapter_parameters_at_every_scale():
    new = ("aa_iterations", "edaa_outer", "sisal_iterations")
    assert set(new) <= set(BUDGET_KEYS) and set(BUDGET_KEYS) <= set(chapter.PARAMETERS)
    assert {k: chapter.PROTOCOL_BUDGET[k] for k in new} == {"aa_iterations": 100, "edaa_outer": 100,
                                                            "sisal_iterations": 80}
    for scale in ("smoke", "book", "paper"):
        P = resolve_parameters("benchmark", scale)
        assert {"aa", "edaa", "sisal"} <= set(P["methods"])
        assert budget_of(P) == {k: P[k] for k in BUDGET_KEYS}
    paper = resolve_parameters("benchmark", "paper")
    assert {k: paper[k] for k in new} == {k: chapter.PROTOCOL_BUDGET[k] for k in new}
    # parameters of a run made before the three (no keys of theirs): its budget, as stored
    old = {k: v for k, v in paper.items() if k not in new}
    assert set(budget_of(old)) == set(BUDGET_KEYS) - set(new)
