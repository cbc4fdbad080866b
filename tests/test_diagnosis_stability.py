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
        assert rows[key]["reason"]["evidence"].endswith(reason.evidence)
