"""Bring your own method: a user's function is run under the benchmark's protocol (the same start
object, scoring and saved estimates), ranked with the stored records without recomputing them, and
recomputed when it is edited."""

import sys
import textwrap

import numpy as np
import pytest

from companion import metrics, pipeline
from companion.chapters import resolve_parameters
from companion.experiments import benchmark as bench
from companion.reports import benchmark as report_of

METHODS, SCENES = ["vca_fcls", "l1_nmf", "rnmf"], ["urban_crop", "gbm_snr30"]


def the_start(Y, p, start, seed):
    """A user's method that returns the shared start: it must score exactly as VCA + FCLS."""
    return start.endmembers.copy(), start.abundances.copy()


@pytest.fixture
def stored(tmp_path, monkeypatch):
    monkeypatch.setenv("HU_RESULTS_DIR", str(tmp_path))
    P = resolve_parameters("benchmark", "smoke", methods=METHODS, scenes=SCENES, sensitivity_seeds=[],
                           supervised_methods=[], library_methods=[], nmf_iterations=2)
    pipeline.run("benchmark", P)
    return P, tmp_path


def test_a_users_method_is_scored_and_ranked_against_stored_records(stored):
    P, root = stored
    runs = root / "benchmark" / "smoke" / "runs"
    before = {p.name: p.stat().st_mtime_ns for p in runs.glob("*.json")}
    data = report_of.bring_your_own(the_start, P)
    assert {p.name: p.stat().st_mtime_ns for p in runs.glob("*.json")} == before     # none recomputed
    main = pipeline.load_records("benchmark", P)["main"]
    for scene in SCENES:
        mine = data["cells"]["sad_mean"]["values"][scene]
        assert mine["byo"] == mine["vca_fcls"] == [main[f"{scene}+vca_fcls+vca+0"]["sad_mean"]]
    a = data["ranks"]["sad_mean"]
    assert a["methods"] == [*METHODS, "byo"] and a["scores"][0][-1] == a["scores"][0][0]
    assert "the_start (yours)" in report_of.test_summary(data) + report_of.byo_summary(data)
    # the start's own numbers rank equal to VCA + FCLS: a shared place, said as one
    assert "(tied with VCA + FCLS)" in report_of.byo_summary(data)
    E, A = bench.load_estimate(data["directory"], "gbm_snr30+byo+vca+0")
    start = bench.start_for("gbm_snr30", "vca", 0)
    np.testing.assert_array_equal(E, start.endmembers.astype(np.float32))
    hsi = bench.load_scene("gbm_snr30")
    rescored = metrics.score_estimate(hsi.endmembers, hsi.abundances, E, A, match_on="abundances")
    assert rescored["armse_percent"] == pytest.approx(
        main["gbm_snr30+vca_fcls+vca+0"]["metrics"]["abundances"]["armse_percent"], rel=1e-5)


def test_an_edited_method_is_recomputed_and_a_bad_one_refused(stored, tmp_path, monkeypatch):
    P, _ = stored
    module = tmp_path / "users_method.py"
    body = "def mine(Y, p, start, seed):\n    return start.endmembers * {}, start.abundances\n"
    module.write_text(body.format(1.0))
    monkeypatch.syspath_prepend(str(tmp_path))
    first = report_of.bring_your_own("users_method:mine", P)
    key = "urban_crop+byo+vca+0.json"
    stamp = (first["directory"] + "/" + key)
    import os
    mtime = os.stat(stamp).st_mtime_ns
    report_of.bring_your_own("users_method:mine", P)
    assert os.stat(stamp).st_mtime_ns == mtime                                       # resumed
    module.write_text(body.format(2.0) + "# edited\n")
    sys.modules.pop("users_method")
    report_of.bring_your_own("users_method:mine", P)
    assert os.stat(stamp).st_mtime_ns != mtime                                       # recomputed
    module.write_text(textwrap.dedent("""
        def mine(Y, p, start, seed):
            return start.endmembers[:, :1], start.abundances
    """))
    sys.modules.pop("users_method")
    with pytest.raises(ValueError, match="expected"):
        report_of.bring_your_own("users_method:mine", P)
