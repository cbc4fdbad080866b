"""Diagnosis U-ADMM 4: Fig. 20's configuration at 50 runs extends the committed one, and the
declared rule at both sides of the paper's ratio."""

import json
from pathlib import Path

import numpy as np

from companion.chapters import admm_unfolding as chapter
from companion.experiments import admm_unfolding as exp
from companion.experiments import diagnosis_uadmm_4 as d4

REPO = Path(__file__).resolve().parents[1]
BASE = REPO / "results" / "admm_unfolding" / "paper"
TARGET = next(t for t in chapter.PAPER_TARGETS if t.key == d4.KEY)          # paper 2.0


def test_the_config_is_the_committed_one_with_more_runs():
    P = json.loads((BASE / "summary.json").read_text())["provenance"]["params"]
    committed = json.loads((BASE / "runs" / f"{d4.RECORD}.json").read_text())["config"]
    offset = exp.SPLIT_OFFSETS["fig20"] + d4.N_TRAIN
    assert committed["split_seeds"] == [offset + s for s in committed["seeds"]]
    config = d4.config(committed, P)
    assert len(config["seeds"]) == len(config["split_seeds"]) == d4.RUNS
    assert config["seeds"][:5] == committed["seeds"] and config["split_seeds"][:5] == committed["split_seeds"]
    assert {k: v for k, v in config.items() if "seeds" not in k} == {
        k: v for k, v in committed.items() if "seeds" not in k}


def test_sad_per_run_reads_the_last_epoch():
    record = {"net": {"10": {"sad_mean": [9.0]}, "300": {"sad_mean": [1.0, 2.0]}, "loss_last": 0.1}}
    assert d4.sad_per_run(record, "net").tolist() == [1.0, 2.0]


def test_rule_at_both_sides_of_the_paper_ratio():
    rng = np.random.default_rng(0)
    net = rng.uniform(4.0, 6.0, 50)
    wide = d4.apply_rule(TARGET, net, net * rng.choice([1.0, 3.0], 50))       # per-run ratios 1 or 3
    assert wide["inside"] and wide["new"]["class"] == "sample size"
    tight = d4.apply_rule(TARGET, net, net * rng.uniform(1.2, 1.4, 50))
    assert not tight["inside"] and tight["new"]["class"] == "unexplained"
    assert "excludes the paper's 2" in tight["new"]["evidence"] and tight["runs"] == 50
    assert tight["bunet_wins_sad"] == 50


def test_the_report_carries_the_committed_diagnosis_by_its_rule():
    from companion.reports import admm_unfolding as rep

    document = json.loads((REPO / "results" / "diagnosis" / "uadmm_fig20_runs.json").read_text())
    assert document["check"]["max_abs_difference"] == 0.0             # runs 0-4 are the committed ones
    outcome = document["rule"][d4.KEY]
    assert rep.FIG20_RATIO == d4.KEY and rep.UADMM4_DIAGNOSIS.cls == outcome["new"]["class"]
    assert rep.UADMM4_DIAGNOSIS.evidence == (f"{outcome['new']['evidence']}; BUNet-II has the lower SAD in "
                                             f"{outcome['bunet_wins_sad']} of {outcome['runs']} runs")
    rows = {r["key"]: r for r in json.loads((BASE / "summary.json").read_text())["comparison"]}
    for key in (rep.FIG20_RATIO, rep.FIG20_CLAIM):
        assert rows[key]["reason"]["class"] == "unexplained"
        assert rows[key]["reason"]["evidence"].endswith(rep.UADMM4_DIAGNOSIS.evidence)
