"""Diagnosis "Stability, XGU" (a): its records extend the committed study without touching it,
and its decision rule at both sides of the paper's value."""

import json
from pathlib import Path

import numpy as np

from companion import verdicts
from companion.chapters import get_chapter
from companion.experiments import stability
from companion.reports import diagnosis_stability as ds

REPO = Path(__file__).resolve().parents[1]
SUMMARY = REPO / "results" / "stability" / "paper" / "summary.json"
TARGETS = {t.key: t for t in get_chapter("stability").PAPER_TARGETS}


def _params() -> dict:
    return json.loads(SUMMARY.read_text())["provenance"]["params"]


def test_configs_extend_the_committed_study_without_reusing_its_keys():
    P = _params()
    configs = ds.configs(P)
    committed = stability.configs(P)
    assert not set(configs) & set(committed)
    blocks = [c["initialisations"] for k, c in configs.items() if k.startswith("exp10_xgu")]
    assert blocks[0][0] == P["initialisations"] and blocks[-1][-1] == ds.EXP10_INITIALISATIONS - 1
    assert sum(map(len, blocks)) == ds.EXP10_INITIALISATIONS - P["initialisations"]
    # the committed Exp. 10 record holds initialisations 0-9 of the same scheme, same kind
    exp10 = committed["exp10_init0-9"]
    assert exp10["kind"] == "table1" and ds.SCHEME in exp10["schemes"]
    table3 = configs["table3_xgu_baseline"]
    assert table3["initialisations"] == list(range(ds.TABLE3_INITIALISATIONS))
    assert table3["epochs"] == committed["reinit_exp4_keep"]["epochs"]
    # one scheme alone draws the same models: seeds depend on (experiment, scheme, initialisation)
    assert stability.init_seed(10, ds.SCHEME, 12) == stability.init_seed(10, ds.SCHEME, 12)
    assert stability.init_seed(10, ds.SCHEME, 12) != stability.init_seed(10, "he_normal", 12)


def test_exp10_metrics_joins_committed_then_new_initialisations_in_order():
    def block(v):
        return {ds.SCHEME: {"dead": [[v, v]], "rmse": [[v / 10, v / 10]]}, "he_normal": {}}

    committed = {"exp10_init0-0": block(0.0), "exp4_init0-0": block(9.0)}
    new = {"exp10_xgu_init10-10": block(2.0), "exp10_xgu_init2-2": block(1.0),
           "table3_xgu_baseline": {}}
    got = ds.exp10_metrics(committed, new)
    assert got["dead"][:, 0].tolist() == [0.0, 1.0, 2.0]            # numeric order of the first init
    assert got["rmse"].shape == (3, 2)


def test_spearman_rule_at_both_sides_of_the_paper_value():
    target = TARGETS["spearman_exp10_XGU"]
    before = {"class": "unexplained", "evidence": "old"}
    rng = np.random.default_rng(0)
    n, k = 50, 5
    # each run's dead coefficient tracks its initialisation's level u, with run noise: a planted
    # correlation near the paper's 0.825 (0.83, interval [0.75, 0.87] with this draw)
    u = rng.uniform(0, 1, (n, 1))
    dead = u + rng.normal(0, 0.2, (n, k))
    rmse = 0.01 + 0.02 * u + rng.normal(0, 0.0005, (n, k))
    near = ds.spearman_outcome(target, dead, rmse, before)
    assert near["inside"] and near["new"]["class"] == "sample size"
    assert near["interval"][0] <= 0.825 <= near["interval"][1]
    # RMSE unrelated to the dead units: the interval excludes 0.825 and the class is kept
    far = ds.spearman_outcome(target, dead, rng.normal(0.02, 0.002, (n, k)), before)
    assert not far["inside"] and far["new"]["class"] == "unexplained"
    assert "excludes the paper's 0.825" in far["new"]["evidence"]


def test_table3_rule_at_both_sides_of_the_paper_value():
    target = TARGETS["table3_XGU_baseline"]                             # paper 0.052
    before = {"class": "ours better", "evidence": "old"}
    tight = [0.010 + 0.001 * (i % 3) for i in range(30)]
    kept = ds.table3_outcome(target, tight, before)
    assert not kept["inside"] and kept["new"]["class"] == "ours better"
    wide = [0.0066] * 20 + [0.15] * 10                                  # mean 0.054, wide interval
    assert verdicts.interval95(wide)[0] <= 0.052 <= verdicts.interval95(wide)[1]
    moved = ds.table3_outcome(target, wide, before)
    assert moved["inside"] and moved["new"]["class"] == "sample size"


def test_the_report_carries_the_committed_diagnosis_by_its_rule():
    from companion.reports import stability as rep

    document = json.loads((REPO / "results" / "diagnosis" / "stability_xgu.json").read_text())
    assert document["check"]["max_abs_difference"] == 0.0          # initialisations 0-5 recomputed equal
    assert set(rep.XGU_DIAGNOSIS) == set(document["rule"])
    for key, outcome in document["rule"].items():
        reason = rep.XGU_DIAGNOSIS[key]
        assert reason.cls == outcome["new"]["class"]
        low, high = outcome["interval"]
        digits = 2 if key.startswith("spearman") else 4
        assert f"[{low:.{digits}f}, {high:.{digits}f}]" in reason.evidence
        assert f"over {outcome['initialisations']} initialisations" in reason.evidence
    # the committed summary's rows: the rule's class, the chapter's evidence then the diagnosis'
    rows = {r["key"]: r for r in json.loads(SUMMARY.read_text())["comparison"]}
    for key, reason in rep.XGU_DIAGNOSIS.items():
        assert rows[key]["reason"]["class"] == reason.cls
        assert f"; {reason.evidence}" in rows[key]["reason"]["evidence"]


def _row(verdict, ours=0.5, cls="unexplained"):
    return {"paper": 0.4, "ours": ours, "verdict": verdict, "reason": {"class": cls, "evidence": "old"}}


def test_gain_configs_are_the_chapters_xg_records_at_gain_one():
    P = _params()
    configs = ds.gain_configs(P)
    committed = stability.configs(P)
    for key, config in configs.items():
        twin = committed[key.removeprefix("gain1_")]
        assert config["gain"] == 1.0 and config["schemes"] == ["glorot_normal", "glorot_uniform"]
        assert {k: v for k, v in config.items() if k not in ("gain", "schemes")} == \
               {k: v for k, v in twin.items() if k != "schemes"}
    assert sorted(k.removeprefix("gain1_") for k in configs) == ["exp10_init0-9", "exp4_init0-9",
                                                                 "reinit_exp4_keep"]


def test_with_gain_records_replaces_only_the_retrained_schemes():
    committed = {"exp4_init0-0": {"he_normal": 1, "glorot_uniform": 2}, "exp1_init0-0": {"glorot_uniform": 3}}
    out = ds.with_gain_records(committed, {"gain1_exp4_init0-0": {"glorot_uniform": 9}})
    assert out == {"exp4_init0-0": {"he_normal": 1, "glorot_uniform": 9},
                   "exp1_init0-0": {"glorot_uniform": 3}}
    assert committed["exp4_init0-0"]["glorot_uniform"] == 2                 # the input is not touched


def test_the_chapters_report_on_the_committed_records_gives_the_committed_xg_rows():
    """The check (b) records: gain_rows on the unchanged records is the committed summary."""
    P = _params()
    base = REPO / "results" / "stability" / "paper" / "runs"
    committed = {p.stem: json.loads(p.read_text())["record"] for p in sorted(base.glob("*.json"))}
    rows = {r["key"]: r for r in json.loads(SUMMARY.read_text())["comparison"]}
    again = ds.gain_rows(P, committed)
    assert len(again) == 14 and sum(verdicts.is_miss(r["verdict"]) for r in again.values()) == 10
    assert ds.is_glorot_target("table3_XGU_layer") and not ds.is_glorot_target("table3_KHN_layer")
    for key, row in again.items():
        assert row["ours"] == rows[key]["ours"] and row["verdict"] == rows[key]["verdict"], key


def test_gain_rule_at_both_sides_of_half():
    before = {"a_XGN": _row("not reproduced"), "b_XGU": _row("ours better", cls="sample size"),
              "c_XGN": _row("partly"), "d_XGU": _row("partly"), "e_XGU": _row("reproduced"),
              "f_KHN": _row("not reproduced")}
    # 2 of 4 misses move: a (into partly) and c (partly -> reproduced); d stays partly: no move;
    # f is not an X* target
    after = {"a_XGN": _row("partly", 0.45), "b_XGU": _row("not reproduced"),
             "c_XGN": _row("reproduced", 0.41),
             "d_XGU": _row("partly", 0.46), "e_XGU": _row("reproduced"), "f_KHN": _row("reproduced")}
    out = ds.gain_outcome(before, after)
    assert out["missed"] == 4 and out["moved"] == ["a_XGN", "c_XGN"] and out["explained"]
    assert {k: t["new"]["class"] for k, t in out["targets"].items()} == {
        "a_XGN": ds.GAIN_CLASS, "b_XGU": "sample size", "c_XGN": ds.GAIN_CLASS, "d_XGU": "unexplained"}
    assert "2 of 4 X* misses move into the band" in out["targets"]["b_XGU"]["new"]["evidence"]
    # 1 of 4: below half, every class is kept, the gain-1 value joins the evidence
    after["c_XGN"] = _row("partly", 0.47)
    out = ds.gain_outcome(before, after)
    assert out["moved"] == ["a_XGN"] and not out["explained"]
    assert out["targets"]["a_XGN"]["new"]["class"] == "unexplained"
    assert "at Glorot gain 1 ours 0.45 (partly)" in out["targets"]["a_XGN"]["new"]["evidence"]


def test_the_report_carries_the_gain_diagnosis_by_its_rule():
    from companion.reports import stability as rep

    document = json.loads((REPO / "results" / "diagnosis" / "stability_gain.json").read_text())
    assert document["check"]["max_abs_difference"] == 0.0       # the report on the committed records
    rule = document["rule"]
    assert set(rep.GAIN_1) == set(rule["targets"]) and not rule["explained"]
    assert rep.GAIN_MOVED == f"{len(rule['moved'])} of {rule['missed']} X* misses move into the band"
    rows = {r["key"]: r for r in json.loads(SUMMARY.read_text())["comparison"]}
    for key, outcome in rule["targets"].items():
        ours, verdict = rep.GAIN_1[key]
        assert f"{ours:.4g}" == f"{outcome['ours_gain1']:.4g}" and verdict == outcome["verdict_gain1"]
        assert rows[key]["reason"]["class"] == outcome["new"]["class"] == outcome["class_before"]
        tail = (f"at Glorot gain 1 ours {ours:.4g} ({verdict}); {rep.GAIN_MOVED}, fewer than half, "
                "so the class stands")
        assert rows[key]["reason"]["evidence"].endswith(tail)
