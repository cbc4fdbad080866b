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


def test_the_report_carries_the_committed_diagnoses_by_their_rule():
    from companion.reports import deepgu as rep

    summary = json.loads((REPO / "results" / "deepgu" / "paper" / "summary.json").read_text())
    rows = {r["key"]: r for r in summary["comparison"]}
    assert set(rep.VCA_DRAW_DIAGNOSIS) == set(d3.DIAGNOSES)
    for key, (_, _, file) in d3.DIAGNOSES.items():
        document = json.loads((REPO / "results" / "diagnosis" / file).read_text())
        assert document["check"]["max_abs_difference"] == 0.0      # seeds 0-4 equal the committed records
        assert set(document["rule"]) == {key}
        reason = rep.VCA_DRAW_DIAGNOSIS[key]
        assert reason.cls == document["rule"][key]["class"]
        low, high = document["intervals"]["uniform"]
        mean, normal = document["means"]["uniform"], document["means"]["normal"]
        assert f"{mean:.4f}, 95 % interval [{low:.4f}, {high:.4f}]" in reason.evidence
        assert f"normal draw {normal:.4f}" in reason.evidence
        assert rows[key]["reason"]["class"] == reason.cls
        assert rows[key]["reason"]["evidence"].endswith(reason.evidence)
