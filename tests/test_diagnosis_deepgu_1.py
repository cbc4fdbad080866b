"""Diagnosis DeepGU 1: the relative abundance error after the benchmark's matching, the paired
comparisons and the declared rule, on hand-checked and planted cases."""

import math

import numpy as np
import pytest

from companion.experiments import diagnosis_deepgu_1 as d1


def test_relative_rmse_a_matches_then_scores():
    E_true = np.eye(3)
    A_true = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    # the estimate's columns are the truth's in the order 1, 2, 0; its abundance rows alike,
    # with one entry off by 0.5
    E = E_true[:, [1, 2, 0]]
    A = A_true[[1, 2, 0]].copy()
    A[0, 1] = 0.5                                                       # true row 1, pixel 1
    assert d1.relative_rmse_a(E_true, A_true, E, A) == pytest.approx(0.5 / math.sqrt(2))
    assert d1.relative_rmse_a(E_true, A_true, E_true, A_true) == 0.0


def test_comparisons_count_pairs_and_leave_ties_out():
    values = {"dc1_snr30": {0: {"deepgu": 0.1, "vca_fcls": 0.2, "elmm": 0.1},
                            1: {"deepgu": 0.3, "vca_fcls": 0.2, "elmm": 0.4}}}
    c = d1.comparisons(values)
    assert (c["wins"], c["losses"], c["ties"]) == (2, 1, 1)
    assert c["p"] == pytest.approx(0.5)                                  # P(X >= 2), X ~ B(3, 1/2)
    assert c["verdict"] == "partly"
    assert c["pairs"][0] == ["dc1_snr30", 0, "vca_fcls", 0.1, 0.2]


def _own(wins, losses):
    values = {"s": {i: {"deepgu": 0.0 if i < wins else 1.0, "vca_fcls": 0.5, "elmm": 0.5}
                    for i in range(wins + losses)}}
    # every seed gives two comparisons (two rivals) with the same outcome
    return d1.comparisons(values)


def test_rule_budget_explains_when_supported_at_own_budget():
    out = d1.apply_rule(_own(10, 0), "not supported", _own(0, 10))
    assert out["answer"]["verdict"] == "supported" and out["budget_explains"]
    assert out["reasons"]["claim_deepgu_home"]["class"] == d1.CLASS_BUDGET
    assert out["reasons"]["claim_deepgu"]["class"] == "unexplained"
    assert "wins 20 and loses 0" in out["reasons"]["claim_deepgu_home"]["evidence"]


def test_rule_keeps_unexplained_and_names_the_remaining_differences():
    out = d1.apply_rule(_own(3, 7), "not supported", _own(0, 10))
    assert out["answer"]["verdict"] == "not supported" and not out["budget_explains"]
    home = out["reasons"]["claim_deepgu_home"]
    assert home["class"] == "unexplained"
    assert "lambda_A" in home["evidence"] and "scene seed" in home["evidence"]
    # supported at both budgets: the benchmark's miss is not the budget's (no miss to explain)
    assert not d1.apply_rule(_own(10, 0), "supported", _own(10, 0))["budget_explains"]
