"""Diagnosis U-ADMM 2: the stopping rules read the loss alone, rule (a) is the chapter's
best-loss checkpoint, and the declared rule at its branches."""

import json
from pathlib import Path

import numpy as np

from companion.chapters import admm_unfolding as chapter
from companion.experiments import admm_unfolding as exp
from companion.experiments import diagnosis_uadmm_2 as d2

REPO = Path(__file__).resolve().parents[1]
COMMITTED = REPO / "results" / "admm_unfolding" / "paper"
TARGETS = {t.key: t for t in chapter.PAPER_TARGETS}


def test_stopping_epochs_read_the_loss_alone():
    epochs = np.arange(1, 1001, dtype=float)
    falling = 1.0 / epochs                           # improves forever, ever more slowly
    v_shape = np.abs(epochs - 400.0) + 1.0           # lowest at 400, rising after
    flat_early = np.r_[np.linspace(2, 1, 50), np.ones(950)]
    got = d2.stopping_epochs(np.stack([falling, v_shape, flat_early], axis=1))
    assert got["a_official_300"].tolist() == [300, 300, 50]
    assert got["b_lowest_loss_1000"].tolist() == [1000, 400, 50]
    # plateau: the first epoch whose loss fell by less than 0.1 % over the previous 20; 1/epoch
    # still falls by 2 % over 20 epochs at epoch 1000 (never flat); flat from epoch 50, the
    # comparison of epochs 50 and 70 is the first flat one
    assert got["c_plateau"][0] == 1000 and got["c_plateau"][2] == 70


def test_values_at_pick_each_runs_epoch():
    sad = np.zeros((4, 2, 4))
    sad[2, 0] = [1, 2, 3, 4]
    sad[3, 1] = [3, 4, 5, 6]
    got = d2.values_at(sad, np.array([2, 3]))
    assert got["jasper_bunet2_sad_tree"] == 2.0 and got["jasper_bunet2_sad_road"] == 5.0
    assert got["jasper_bunet2_sad_mean"] == 3.5


def _values(vca: float, sivm: float) -> dict:
    one = lambda v: {k: v for k in d2.KEYS}                               # noqa: E731
    return {"vca": {"a_official_300": one(20.0), "b_lowest_loss_1000": one(vca), "c_plateau": one(30.0)},
            "sivm": {"a_official_300": one(20.0), "b_lowest_loss_1000": one(sivm), "c_plateau": one(30.0)}}


def test_rule_branches():
    before = {k: {"class": "unexplained", "evidence": "old"} for k in d2.KEYS}
    # road: paper 3.7676; within the band from VCA under rule b -> training length
    got = d2.apply_rule(_values(vca=3.8, sivm=40.0), TARGETS, before)["jasper_bunet2_sad_road"]
    assert got["within"]["vca"] == ["b_lowest_loss_1000"] and got["new"]["class"] == d2.CLASS_LENGTH
    # within only from SiVM: both, only where the blind start explains the key today
    start = {k: {"class": "open protocol choice: blind start", "evidence": "old"} for k in d2.KEYS}
    got = d2.apply_rule(_values(vca=40.0, sivm=3.8), TARGETS, start)["jasper_bunet2_sad_road"]
    assert got["new"]["class"] == d2.CLASS_BOTH
    got = d2.apply_rule(_values(vca=40.0, sivm=3.8), TARGETS, before)["jasper_bunet2_sad_road"]
    assert got["new"]["class"] == "unexplained" and got["new"]["evidence"].startswith("old; U-ADMM 2")


def test_rule_a_is_the_chapters_best_loss_checkpoint(staged_data_dir):
    summary = json.loads((COMMITTED / "summary.json").read_text())
    P = summary["provenance"]["params"]
    config = {**json.loads((COMMITTED / "runs" / "init_jasper.json").read_text())["config"],
              "inits": ["vca", "sivm"], "seeds": [0, 1], "split_seeds": [2200, 2201]}
    epochs = 4
    trained = d2.train(P, config, epochs=epochs)
    record = exp.init_study_point({**config, "epochs": epochs}, {**exp.protocol_of(P), "keep_best": True},
                                  device="cpu")
    R = len(config["seeds"])
    for i, start in enumerate(config["inits"]):
        best = np.argmin(trained["loss"][:, i * R:(i + 1) * R], axis=0) + 1
        ours = trained["sad"][best, np.arange(R) + i * R].mean(axis=-1)
        assert np.allclose(ours, record[start]["trained"]["sad_mean"], atol=1e-9)


def test_the_report_carries_the_committed_diagnosis_by_its_rule():
    from companion.reports import admm_unfolding as rep

    document = json.loads((REPO / "results" / "diagnosis" / "uadmm_training_length.json").read_text())
    assert document["check"]["max_abs_difference"] == 0.0          # rule (a) is the committed checkpoint
    rows = {r["key"]: r for r in json.loads((COMMITTED / "summary.json").read_text())["comparison"]}
    assert set(rep.UADMM2_DIAGNOSIS) == set(document["rule"]) == set(d2.KEYS)
    for key, (cls, numbers) in rep.UADMM2_DIAGNOSIS.items():
        rule = document["rule"][key]["new"]
        assert numbers in rule["evidence"]                           # the JSON's numbers, verbatim
        for start, by_rule in document["values"].items():
            if start != "truth":
                assert f"{start}: a {by_rule['a_official_300'][key]:.2f}," in numbers
        assert rows[key]["reason"]["class"] == (cls or rule["class"]) == rule["class"]
        assert rows[key]["reason"]["evidence"].endswith(rep.UADMM2_HEAD + numbers)
