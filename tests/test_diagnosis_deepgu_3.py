"""Diagnosis DeepGU 3: the chapter's FCLS path with VCA's draw as the one difference, and the
declared rule at each of its branches."""

import json
from pathlib import Path

import pytest

from companion.chapters import deepgu as chapter
from companion.experiments import diagnosis_deepgu_3 as d3

REPO = Path(__file__).resolve().parents[1]
TARGET = next(t for t in chapter.PAPER_TARGETS if t.key == d3.KEY)      # paper 0.1161


def test_the_uniform_draw_is_the_committed_records_path(staged_data_dir):
    stored = json.loads((REPO / "results" / "deepgu" / "paper" / "runs" / "dc1_seed0.json").read_text())
    assert d3.method_rel_a("fcls", "dc1", 0, "uniform") == pytest.approx(stored["record"]["fcls"]["rel_a"],
                                                                         abs=1e-12)
    assert abs(d3.method_rel_a("fcls", "dc1", 0, "normal") - stored["record"]["fcls"]["rel_a"]) > 1e-6


def test_rule_branches():
    wide = {"uniform": [0.08, 0.17] * 10, "normal": [0.12] * 20}              # mean 0.125, wide
    assert d3.apply_rule(wide, TARGET).cls == "sample size"                  # the interval holds 0.1161
    tight_far = [0.131 + 0.001 * (i % 3) for i in range(20)]
    draw = d3.apply_rule({"uniform": tight_far, "normal": [0.117] * 20}, TARGET)
    assert draw.cls == d3.CLASS_DRAW and "0.1170 (reproduced)" in draw.evidence
    neither = d3.apply_rule({"uniform": tight_far, "normal": [0.135] * 20}, TARGET)
    assert neither.cls == "unexplained" and "paper 0.1161" in neither.evidence
    assert neither.evidence.startswith("DeepGU 3 (book/diagnoses.md, results/diagnosis/deepgu_vca_draw.json)")


def test_deepgu_4_applies_the_same_rule_to_plmm_under_its_own_name():
    plmm = next(t for t in chapter.PAPER_TARGETS if t.key == "dc1_plmm_rel_a")     # paper 0.1059
    tight_far = [0.125 + 0.001 * (i % 3) for i in range(20)]
    draw = d3.apply_rule({"uniform": tight_far, "normal": [0.107] * 20}, plmm)
    assert draw.cls == d3.CLASS_DRAW
    assert draw.evidence.startswith("DeepGU 4 (book/diagnoses.md, "
                                    "results/diagnosis/deepgu_vca_draw_plmm.json)")
    assert d3.apply_rule({"uniform": tight_far, "normal": [0.125] * 20}, plmm).cls == "unexplained"


def test_the_report_carries_the_committed_diagnosis_by_its_rule():
    from companion.reports import deepgu as rep

    document = json.loads((REPO / "results" / "diagnosis" / "deepgu_vca_draw.json").read_text())
    assert document["check"]["max_abs_difference"] == 0.0
    assert set(rep.VCA_DRAW_DIAGNOSIS) == set(document["rule"])
    reason = rep.VCA_DRAW_DIAGNOSIS[d3.KEY]
    assert reason.cls == document["rule"][d3.KEY]["class"]
    low, high = document["intervals"]["uniform"]
    assert f"0.1311, 95 % interval [{low:.4f}, {high:.4f}]" in reason.evidence
    assert f"{document['means']['uniform']:.4f}" == "0.1311"
    assert f"{document['means']['normal']:.4f}" == "0.1172"
    summary = json.loads((REPO / "results" / "deepgu" / "paper" / "summary.json").read_text())
    row = {r["key"]: r for r in summary["comparison"]}[d3.KEY]
    assert row["reason"]["class"] == reason.cls and row["reason"]["evidence"].endswith(reason.evidence)
