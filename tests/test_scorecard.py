"""The scorecard: one row per declared target, verdicts recomputed (never trusted), committed and
live values side by side, the direction's better/worse mark, the one stale rule, and its HTML."""

import json

import pytest
import torch

from companion import pipeline
from companion.chapters import get_chapter, resolve_parameters
from companion.results import DamagedResultError, Provenance, read_result, write_result
from companion.scorecard import (
    checked_summary,
    duplicate_targets,
    format_value,
    key_results,
    overview,
    preset_differences,
    scorecard,
    vs_paper,
)
from companion.verdicts import Claim, Reason, SummaryError, Target, claim_row, numeric_row

RMSE = Target("rmse", "Samson RMSE", 0.10, 2, "", "Table 2", "metrics.rmse_per_pixel_mean", "C: code",
              "lower")
CORR = Target("rho", "Spearman(dead, RMSE)", 0.8, 1, "", "Sec. 2", "scipy.stats.spearmanr", "P: text", "none")
BEATS = Claim("beats", "A beats B", "Fig. 3", "A is better than B", "seeds x scenes")


def _prov(scale, **params):
    return Provenance.start("datasets", {**resolve_parameters("datasets", scale), **params},
                            torch.device("cpu")).finish()


@pytest.fixture
def datasets_with_targets(monkeypatch):
    import companion.chapters.datasets as module

    monkeypatch.setattr(module, "PAPER_TARGETS", [RMSE, CORR])
    monkeypatch.setattr(module, "CLAIMS", [BEATS], raising=False)
    return module


def _rows(card, chapter="datasets"):
    return {r["key"]: r for r in card.rows if r["chapter"] == chapter}


def _write(tmp_path, scale, rows, **params):
    return write_result("datasets", "summary", {}, _prov(scale, **params), rows, root=tmp_path)


def test_each_target_is_listed_once_with_committed_and_live_values(tmp_path, datasets_with_targets):
    _write(tmp_path, "paper", [numeric_row(RMSE, 0.05, reason=Reason("ours better", "Exp. 1: x")),
                               numeric_row(CORR, 0.81), claim_row(BEATS, 7, 1, "7 of 8")])
    _write(tmp_path, "book", [numeric_row(RMSE, 0.104)])
    card = scorecard("book", root=tmp_path)
    assert duplicate_targets(card.rows) == []
    rows = _rows(card)
    assert set(rows) == {"rmse", "rho", "beats"}
    rmse = rows["rmse"]
    assert (rmse["committed"], rmse["live"]) == (0.05, 0.104)
    # the headline verdict is the committed run's; the live one is kept beside it
    assert (rmse["verdict"], rmse["live_verdict"]) == ("not reproduced — ours better", "reproduced")
    assert rmse["reason"] == {"class": "ours better", "evidence": "Exp. 1: x"}
    assert rmse["vs_paper"] == "better" and rows["rho"]["vs_paper"] is None
    assert rows["rho"]["live_verdict"] is None and rows["beats"]["verdict"] == "supported"
    assert card.counts("datasets") == {"not reproduced — ours better": 1, "reproduced": 1, "supported": 1}
    assert card.reason_counts("datasets") == {"ours better": 1}


def test_a_target_listed_twice_is_detected():
    rows = [{"chapter": "a", "key": "x"}, {"chapter": "a", "key": "y"}, {"chapter": "a", "key": "x"},
            {"chapter": "b", "key": "x"}]
    assert duplicate_targets(rows) == [("a", "x")]


def test_the_committed_book_scorecard_lists_no_target_twice_and_recomputes_every_verdict():
    card = scorecard("book")
    assert card.rows and duplicate_targets(card.rows) == []


@pytest.mark.parametrize(("edit", "message"), [
    (lambda row: row | {"verdict": "reproduced"}, "differs from the rule"),
    (lambda row: row | {"ours": float("nan")}, "finite number"),
    (lambda row: row | {"ours": "0.2"}, "finite number"),
    (lambda row: {k: v for k, v in row.items() if k != "kind"}, "not a comparison row"),
])
def test_a_tampered_summary_fails_with_the_file_named(tmp_path, datasets_with_targets, edit, message):
    path = _write(tmp_path, "paper", [numeric_row(RMSE, 0.2)])
    stored = json.loads(path.read_text())
    stored["comparison"] = [edit(stored["comparison"][0])]
    path.write_text(json.dumps(stored))
    for call in (lambda: scorecard("book", root=tmp_path), lambda: key_results("datasets", root=tmp_path),
                 lambda: overview({}, root=tmp_path)):
        with pytest.raises(SummaryError, match=str(path)) as err:
            call()
        assert message in str(err.value) and "python -m companion report datasets" in str(err.value)


def test_a_non_finite_value_stored_as_null_with_a_flag_is_refused(tmp_path, datasets_with_targets):
    path = _write(tmp_path, "paper", [numeric_row(RMSE, 0.2)])
    stored = json.loads(path.read_text())
    stored["comparison"][0]["ours"] = None
    stored["non_finite"] = {"/comparison/0/ours": "nan"}
    path.write_text(json.dumps(stored))
    with pytest.raises(SummaryError, match="finite number"):
        checked_summary("datasets", "paper", root=tmp_path)


def test_reduced_paper_runs_are_labelled_with_what_differs(tmp_path, datasets_with_targets):
    _write(tmp_path, "paper", [numeric_row(RMSE, 0.1)], seed=7)
    label = _rows(scorecard("book", root=tmp_path))["rmse"]["committed_label"]
    assert label.startswith("paper protocol, reduced: ") and "seed=7 (preset 0)" in label
    _write(tmp_path, "paper", [numeric_row(RMSE, 0.1)])
    assert _rows(scorecard("book", root=tmp_path))["rmse"]["committed_label"] == "paper protocol"


def test_where_and_how_a_run_computed_does_not_make_it_reduced():
    preset = get_chapter("benchmark").PRESETS["paper"]
    assert preset_differences("benchmark", {**preset, "workers": 8, "device": "cuda"}) == []
    assert preset_differences("benchmark", {**preset, "workers": 8, "seeds": [0]}) == [
        "seeds=[0] (preset [0, 1, 2, 3, 4])"]
    committed = read_result("benchmark", "paper", "summary")["provenance"]["params"]
    # the committed run is the whole preset: every method, and the library track's scenes
    assert committed["methods"] == preset["methods"]
    assert preset_differences("benchmark", committed) == []


def test_chapter_without_records_gets_not_attempted_rows_with_the_command(tmp_path, datasets_with_targets):
    rows = _rows(scorecard("smoke", root=tmp_path))
    assert {r["verdict"] for r in rows.values()} == {"not attempted"}
    assert "python -m companion run datasets" in rows["rmse"]["reason"]["evidence"]


def test_reference_chapter_is_listed_with_a_note(tmp_path):
    card = scorecard("smoke", root=tmp_path)
    assert ("datasets", "Datasets and metrics", "reference chapter: no paper targets") in card.chapters
    assert "reference chapter" in card.to_html()


def test_damaged_record_fails_the_scorecard(tmp_path, datasets_with_targets):
    path = _write(tmp_path, "smoke", [])
    path.write_text("{")
    with pytest.raises(DamagedResultError, match=str(path)):
        scorecard("smoke", root=tmp_path)


def test_vs_paper_follows_the_declared_direction():
    assert [vs_paper(RMSE, v) for v in (0.05, 0.2, 0.1, None)] == ["better", "worse", "equal", None]
    higher = Target("acc", "accuracy", 0.9, 2, "", "T", "m", "P: text", "higher")
    assert vs_paper(higher, 0.95) == "better" and vs_paper(CORR, 0.5) is None and vs_paper(BEATS, 1) is None


@pytest.mark.parametrize(("value", "text"), [
    (2000.0, "2000"), (2190.0, "2190"), (0.123456, "0.1235"), (-0.0004837, "-0.0004837"),
    (9.68e-15, "9.680e-15"), (0.0, "0"), (None, "—"), ("yes", "yes"), (123456.0, "1.235e+05"),
])
def test_numbers_have_one_format(value, text):
    assert format_value(value) == text


def test_the_stale_mark_is_the_records_code_hash_against_the_current_one(monkeypatch):
    monkeypatch.setattr(pipeline, "code_hash", lambda chapter: "abc")
    assert pipeline.staleness("x", {"code": "abc"})[0] == "current"
    status, detail = pipeline.staleness("x", {"code": "def", "scale": "paper"})
    assert status == "stale" and "def" in detail and "python -m companion verify x --scale paper" in detail
    assert pipeline.staleness("x", {"code": None})[0] == "stale"


def test_html_shows_summary_badges_sections_and_folded_reasons(tmp_path, datasets_with_targets):
    _write(tmp_path, "book", [numeric_row(RMSE, 0.2, reason=Reason("sample size", "Table 2, 3 seeds: ..."))])
    page = scorecard("book", root=tmp_path).to_html()
    assert page.index("All chapters") < page.index('id="sc-datasets"')
    assert 'class="hu-badge"' in page and "<details><summary>why</summary>sample size: Table 2" in page
    assert "misses by reason: sample size 1" in page
    assert page.count("Samson RMSE") == 1


def test_key_results_box_counts_this_run_and_the_committed_one(tmp_path, datasets_with_targets):
    assert "No committed paper-scale run" in key_results("datasets", root=tmp_path).text
    _write(tmp_path, "paper", [numeric_row(RMSE, 0.05), numeric_row(CORR, None, not_attempted="absent")])
    live = [numeric_row(RMSE, 0.1), numeric_row(CORR, 0.8)]
    box = key_results("datasets", live, scale="book", root=tmp_path).text
    assert "This run (scale book)</b> (2 targets)" in box and "reproduced 2" in box
    assert "Committed run (paper protocol)</b> (2 targets)" in box
    assert "not reproduced — ours better 1" in box and "not attempted 1" in box
    with pytest.raises(SummaryError, match="this run of datasets"):
        key_results("datasets", [dict(live[0], verdict="partly")], scale="book", root=tmp_path)


def test_overview_links_each_chapter_with_its_claim_and_committed_verdicts(tmp_path, datasets_with_targets):
    _write(tmp_path, "paper", [numeric_row(RMSE, 0.1), numeric_row(CORR, None, not_attempted="absent")])
    page = overview({"datasets": "the claim"}, root=tmp_path).text
    assert '<a href="../notebooks/datasets.html">Datasets and metrics</a>' in page
    assert "the claim" in page and "reproduced 1" in page and "not attempted 2" in page
    assert '<a href="../notebooks/mtl.html">' in page and "no committed paper-scale run" in page
