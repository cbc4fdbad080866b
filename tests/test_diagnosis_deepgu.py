"""Diagnosis DeepGU 2: the endmember-scoring conventions, hand-checked, and the declared rule on
planted factors."""

import json
import math
from pathlib import Path

import numpy as np
import pytest

from companion.chapters import deepgu as chapter
from companion.experiments import diagnosis_deepgu as dg

REPO = Path(__file__).resolve().parents[1]


def test_conventions_on_a_hand_checked_case():
    # N = 2 pixels, L = 2 bands, P = 1: true (1, 0) and (0, 2); estimate (1, 1) at both pixels
    M_true = np.array([[[1.0], [0.0]], [[0.0], [2.0]]])             # (N, L, P)
    M0 = np.array([[1.0], [1.0]])                                     # (L, P)
    E = np.array([[1.0], [1.0]])
    A_true = np.array([[1.0, 0.0]])                                   # present at pixel 0 only
    s = dg.convention_scores(M_true, M0, E, A_true)
    # squared errors: pixel 0 (0, 1) -> 1, pixel 1 (1, 1) -> 2; ||M*||^2 = 1 + 4
    assert s["R0"] == pytest.approx(math.sqrt(3 / 5))
    assert s["R1"] == pytest.approx(math.sqrt(3 / 4))
    # unit spectra: (1, 0) and (0, 1) against (1, 1)/sqrt 2, each squared error 2 - sqrt 2
    assert s["R2"] == pytest.approx(math.sqrt((2 * (2 - math.sqrt(2))) / 2))
    assert s["R3"] == pytest.approx(1.0)                               # pixel 0: 1 / 1
    assert s["R4"] == pytest.approx(0.0)                               # the estimate is E
    assert s["S0"] == pytest.approx(math.pi / 4)                       # 45 degrees at both pixels
    assert s["S1"] == pytest.approx(math.pi / 4)                       # P = 1: sum = mean
    assert s["S2"] == pytest.approx(math.pi / 4)
    assert s["S3"] == pytest.approx(0.0, abs=1e-7)                    # arccos near 1: 1e-8


def test_exact_conventions_are_fixed_factors():
    rng = np.random.default_rng(0)
    N, L, P = 50, 20, 3
    M_true = rng.uniform(0.2, 1.0, (N, L, P))
    E = M_true.mean(0)
    for M_est in (E * 1.1, M_true + rng.normal(0, 0.02, M_true.shape)):
        s = dg.convention_scores(M_true, M_est, E, rng.uniform(size=(P, N)))
        assert s["R1"] == pytest.approx(s["R0"] * np.linalg.norm(M_true) / math.sqrt(N * L * P))
        assert s["S1"] == pytest.approx(P * s["S0"])


def test_greedy_order_is_the_reference_codes_rule():
    E = np.eye(4)[:, :3] + 0.1
    M0 = E[:, [2, 0, 1]]
    assert dg.greedy_order(E, M0).tolist() == [1, 2, 0]
    # two reference columns closest to the same estimate: the greedy rule picks it twice
    M0 = np.stack([E[:, 0], E[:, 0] + 0.05 * E[:, 1], E[:, 2]], axis=1)
    order = dg.greedy_order(np.stack([E[:, 0], E[:, 0] + 0.01 * E[:, 1], E[:, 2]], axis=1), M0)
    assert order.tolist()[2] == 2 and len(set(order.tolist())) < 3


def _column_targets():
    return [t for t in chapter.PAPER_TARGETS if t.key.endswith(("_rel_m", "_sam_m_mean"))]


def test_rule_on_planted_factors():
    targets = _column_targets()
    assert len(targets) == 16
    ours = {t.key: t.value / 3 for t in targets}                       # every value a third
    reasons = {t.key: "unexplained" for t in targets}
    flat = dict.fromkeys(dg.RMSE_CONVENTIONS + dg.SAM_CONVENTIONS, 1.0)
    # R1 (exact) triples every RMSE_M value; R2 (approximate) triples them too; S2 triples DC1's
    # SAM_M only (4 of 8 targets: qualifies); every other convention leaves the values as they are
    fac = {"dc1": {**flat, "R1": 3.0, "R2": 3.0, "S2": 3.0, "S3": 1.0},
           "dc2": {**flat, "R1": 3.0, "R2": 3.0, "S2": 1.0, "S3": 1.0}}
    out = dg.apply_rule(fac, ours, targets, reasons)
    conv = out["conventions"]
    assert conv["R1"]["in_band"] == 8 and conv["R1"]["qualifies"]
    assert conv["S2"]["in_band"] == 4 and conv["S2"]["qualifies"]
    assert conv["R3"]["in_band"] == 0 and not conv["R3"]["qualifies"]
    rel = out["targets"]["dc1_elmm_rel_m"]
    assert rel["explained_by"] == ["R1", "R2"] and rel["class_after"] == dg.CLASS_CONVENTION
    sam = out["targets"]["dc1_elmm_sam_m_mean"]
    assert sam["explained_by"] == ["S2"] and sam["class_after"] == "unexplained" and sam["pending_2b"]
    assert out["targets"]["dc2_elmm_sam_m_mean"]["explained_by"] == []
    assert "no convention brings 4" in out["targets"]["dc2_elmm_sam_m_mean"]["evidence"]


def test_a_convention_fitting_three_cells_is_no_cause():
    targets = _column_targets()
    reasons = {t.key: "unexplained" for t in targets}
    # ours equal to the paper on three DC1 RMSE_M cells, a third of it elsewhere; R1 leaves them
    ours = {t.key: t.value / 3 for t in targets}
    for key in ("dc1_plmm_rel_m", "dc1_elmm_rel_m", "dc1_glmm_rel_m"):
        ours[key] = chapter_value(key)
    flat = dict.fromkeys(dg.RMSE_CONVENTIONS + dg.SAM_CONVENTIONS, 1.0)
    out = dg.apply_rule({"dc1": flat, "dc2": flat}, ours, targets, reasons)
    assert out["conventions"]["R1"]["in_band"] == 3 and not out["conventions"]["R1"]["qualifies"]
    assert out["targets"]["dc1_plmm_rel_m"]["class_after"] == "unexplained"


def chapter_value(key):
    return next(t.value for t in chapter.PAPER_TARGETS if t.key == key)


def test_reference_scores_match_the_committed_records(staged_data_dir):
    """DC2, seed 0: the chapter's conventions of the VCA reference equal the committed FCLS
    row, which experiments.deepgu.score computed from the same M0 (an independent path)."""
    scores = dg.reference_scores("dc2", 0)
    check = dg.record_check({"dc2": {"0": scores}}, REPO / "results" / "deepgu" / "paper" / "runs")
    assert check["max_abs_difference"] < 1e-9
    assert sorted(scores["order_hungarian"]) == [0, 1, 2]
    stored = json.loads((REPO / "results" / "deepgu" / "paper" / "runs" / "dc2_seed0.json").read_text())
    assert scores["R0"] == pytest.approx(stored["record"]["fcls"]["rel_m"], abs=1e-9)
