"""Diagnosis DeepGU 2b: the pixel transposition and the greedy reordering, hand-checked; the
declared rule on planted values; the methods' endmembers are the chapter's (an independent path)."""

import math

import numpy as np
import pytest

from companion.chapters import deepgu as chapter
from companion.experiments import deepgu as experiment
from companion.experiments import diagnosis_deepgu as dg
from companion.experiments import diagnosis_deepgu_2b as d2b


def test_transpose_pixels_moves_pixel_r_c_to_c_r():
    rows, cols = 2, 3
    M = np.arange(rows * cols)[:, None, None] * np.ones((1, 2, 1))       # (N, L, P): value = pixel index
    T = d2b.transpose_pixels(M, rows, cols)
    # transposed image is 3 x 2; its pixel (c, r), row-major index c * 2 + r, holds pixel r * 3 + c
    assert T[:, 0, 0].tolist() == [0, 3, 1, 4, 2, 5]
    square = np.random.default_rng(0).normal(size=(16, 2, 3))
    assert np.array_equal(d2b.transpose_pixels(d2b.transpose_pixels(square, 4, 4), 4, 4), square)


def test_estimate_scores_hand_checked():
    # 2 x 2 image, L = 2, P = 1; truth (1, 0) on the first row, (0, 1) on the second
    M_true = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])[:, :, None]
    # the estimate is the truth transposed: columns instead of rows
    M = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])[:, :, None]
    E = np.array([[1.0], [1.0]])
    s = d2b.estimate_scores(M_true, M, E, E, np.ones((1, 4)), 2, 2)
    # pixels (0, 1) and (1, 0) are wrong: squared error 2 each over ||M*||^2 = 4; 90 deg there
    assert s["R0"] == pytest.approx(1.0)
    assert s["S0"] == pytest.approx(math.pi / 4)
    assert s["R0T"] == pytest.approx(0.0) and s["S0T"] == pytest.approx(0.0, abs=1e-5)   # arccos near 1
    assert s["R5"] == s["R0"] and s["S4"] == s["S0"]                    # P = 1: one order


def test_greedy_reordering_of_a_methods_columns():
    rng = np.random.default_rng(1)
    N, L, P = 6, 5, 3
    E = rng.uniform(0.2, 1.0, (L, P))
    M_true = E[None] * rng.uniform(0.9, 1.1, (N, L, P))
    # a start whose columns are E's in the order 2, 0, 1; the method returns the start at every pixel
    M0 = E[:, [2, 0, 1]]
    M = np.broadcast_to(M0, (N, L, P)).copy()
    s = d2b.estimate_scores(M_true, M, M0, E, np.ones((P, N)), 2, 3)
    # the greedy order puts column k back on E[:, k]: R5 is the truth's own score of E
    assert s["R5"] == pytest.approx(dg.convention_scores(M_true, E, E, np.ones((P, N)))["R0"])
    assert s["R5"] < s["R0"]


def _targets():
    return [t for t in chapter.PAPER_TARGETS if t.key.endswith(("_rel_m", "_sam_m_mean"))]


def _values(scale: dict[str, float]):
    """Every target's value: the paper's / 3, times ``scale[convention]`` (1 when absent)."""
    names = (*dg.RMSE_CONVENTIONS, *dg.SAM_CONVENTIONS, "R0T", "S0T")
    return {n: {t.key: t.value / 3 * scale.get(n, 1.0) for t in _targets()} for n in names}


def test_rule_on_planted_values():
    targets = _targets()
    reasons = {t.key: "unexplained" for t in targets}
    values = _values({"R0T": 3.0, "S2": 3.0})
    # S2 reaches the paper on DC1 only (4 of 8): qualifies; R4 on three DC1 targets only: does not
    for key in ("dc2_plmm_sam_m_mean", "dc2_elmm_sam_m_mean", "dc2_glmm_sam_m_mean", "dc2_deepgu_sam_m_mean"):
        values["S2"][key] /= 3
    for key in ("dc1_plmm_rel_m", "dc1_elmm_rel_m", "dc1_glmm_rel_m"):
        values["R4"][key] *= 3
    out = d2b.apply_rule(values, targets, reasons)
    conv = out["conventions"]
    assert conv["R0T"]["in_band"] == 8 and conv["R0T"]["qualifies"]
    assert conv["S2"]["in_band"] == 4 and conv["S2"]["qualifies"]
    assert conv["R4"]["in_band"] == 3 and not conv["R4"]["qualifies"]
    assert "R0" not in conv and "S0" not in conv
    rel = out["targets"]["dc1_plmm_rel_m"]
    assert rel["explained_by"] == ["R0T"] and rel["class_after"] == d2b.CLASS_PIXEL_ORDER
    sam = out["targets"]["dc1_glmm_sam_m_mean"]
    assert sam["explained_by"] == ["S2"] and sam["class_after"] == dg.CLASS_CONVENTION
    left = out["targets"]["dc2_glmm_sam_m_mean"]
    assert left["explained_by"] == [] and left["class_after"] == "unexplained"
    assert "no convention and not the transposed pixel order" in left["evidence"]


def test_rule_names_both_classes_when_both_explain():
    targets = _targets()
    out = d2b.apply_rule(_values({"R1": 3.0, "R0T": 3.0}), targets, {t.key: "data we lack" for t in targets})
    after = out["targets"]["dc2_deepgu_rel_m"]["class_after"]
    assert after == f"{dg.CLASS_CONVENTION}; {d2b.CLASS_PIXEL_ORDER}"
    assert out["targets"]["dc2_deepgu_sam_m_mean"]["class_after"] == "data we lack"


def test_method_values_are_seed_means():
    records = {"dc1_seed0": {"scores": {"elmm": {"R0": 0.1, "S0": 0.3}}},
               "dc1_seed1": {"scores": {"elmm": {"R0": 0.3, "S0": 0.5}}}}
    values = d2b.method_values(records)
    assert values["R0"]["dc1_elmm_rel_m"] == pytest.approx(0.2)
    assert values["S0"]["dc1_elmm_sam_m_mean"] == pytest.approx(0.4)


def test_method_endmembers_are_the_chapters(staged_data_dir):
    """Smoke protocol, DC2 seed 0: R0 / S0 of the kept endmembers equal the rel_m / sam_m_mean
    that the chapter's own ``method_point`` computes (ELMM, DeepGU)."""
    protocol = {k: chapter.PRESETS["smoke"][k] for k in experiment.PROTOCOL_KEYS}
    record = experiment.method_point({"scene": "dc2", "seed": 0, "grid": False}, protocol, device="cpu")
    run = d2b.method_endmembers("dc2", 0, protocol, methods=("elmm", "deepgu"))
    assert run["endmembers"]["deepgu"].shape == run["M_true"].shape == (2500, run["M0"].shape[0], 3)
    for method, name in (("elmm", "elmm"), ("deepgu", "deepgu_0.01")):
        s = d2b.estimate_scores(run["M_true"], run["endmembers"][method], run["M0"], run["M0"],
                                run["A_true"], run["rows"], run["cols"])
        assert s["R0"] == pytest.approx(record[name]["rel_m"], abs=1e-12)
        assert s["S0"] == pytest.approx(record[name]["sam_m_mean"], abs=1e-12)
