"""Diagnosis "NMF-SAE / Table II, AA": the table values of a record, the declared rule on planted
values, and Fig. 3's lost comparisons on a hand-made record."""

import pytest

from companion import verdicts
from companion.experiments import diagnosis_aa as da


def _target(key, value):
    return verdicts.Target(key=key, quantity="SAD", value=value, decimals=4, unit="rad", source="Table 1",
                           metric="metrics.sad", convention="P", direction="lower")


def test_key_values_average_finite_runs_per_endmember_and_mean():
    scores = {"sad": [[0.1, 0.2, 0.3, 0.4], None, [0.3, 0.4, 0.5, 0.6]],
              "sad_mean": [0.25, None, 0.45], "rmse": [0.1, None, 0.3]}
    names = ["water", "tree", "soil", "road"]                           # the record's order, not the paper's
    got = da.key_values(scores, names, da.NMF_KEYS)
    assert got["jasper_sad_tree"] == pytest.approx(0.3)                 # index 1, runs 0 and 2
    assert got["jasper_sad_water"] == pytest.approx(0.2)
    assert got["jasper_sad_road"] == pytest.approx(0.5)
    assert got["jasper_sad_mean"] == pytest.approx(0.35)


def test_rule_changes_only_keys_within_the_band():
    targets = {"jasper_sad_road": _target("jasper_sad_road", 0.1),
               "jasper_sad_water": _target("jasper_sad_water", 0.1)}
    old = {"class": "unexplained", "evidence": "old words"}
    committed = {k: {"ours": 0.7, "reason": old} for k in targets}
    # 0.11 is within 25 % of 0.1 (reproduced or partly); 0.05 is below the band (ours better)
    out = da.apply_rule({"jasper_sad_road": 0.11, "jasper_sad_water": 0.05}, targets, committed, "rad",
                        "nmf_sae")
    road, water = out["jasper_sad_road"], out["jasper_sad_water"]
    assert road["within"] and road["aa_verdict"] in ("reproduced", "partly")
    assert road["new"]["class"] == da.CLASS_START
    assert "aa_start_nmf_sae.json" in road["new"]["evidence"] and "0.11" in road["new"]["evidence"]
    assert not water["within"] and water["aa_verdict"] == verdicts.OURS_BETTER
    assert water["new"]["class"] == "unexplained"
    assert water["new"]["evidence"].startswith("old words; ") and "0.05" in water["new"]["evidence"]


def test_fig3_losses_lists_each_lost_mean_with_its_runs_and_endmembers():
    nmf = {"sad": [[0.1, 0.5], [0.1, 0.3]], "sad_mean": [0.3, 0.2], "rmse": [0.1, 0.1]}
    base = {"sad": [[0.2, 0.2], [0.2, 0.2]], "sad_mean": [0.2, 0.2], "rmse": [0.2, 0.2]}
    fig3 = {"snr15": {"nmf_sae": nmf, "vca_fcls": base, "loss_last": [1.0, 1.0]}}
    rows = da.fig3_losses(fig3, ["a", "b"])
    assert len(rows) == 1                                               # SAD lost (0.25 > 0.2), RMSE won
    row = rows[0]
    assert (row["point"], row["baseline"], row["metric"]) == ("snr15", "vca_fcls", "sad")
    assert row["nmf_sae"] == pytest.approx(0.25) and row["baseline_value"] == pytest.approx(0.2)
    assert (row["runs_lost"], row["runs"], row["seeds_lost"]) == (1, 2, [0])     # run 1 ties 0.2 = 0.2
    assert row["endmembers_worse"] == ["b"]
