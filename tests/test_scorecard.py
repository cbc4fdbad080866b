"""The scorecard: one row per distinct target, committed and live values side by side, the
better/worse mark of error metrics, the stale mark, and its HTML."""

import json
import subprocess

import pytest
import torch

from companion.chapters import Target, get_chapter, resolve_parameters
from companion.results import DamagedResultError, Provenance, compare, read_result, write_result
from companion.scorecard import (
    duplicate_targets,
    format_value,
    is_error_metric,
    preset_differences,
    scorecard,
    staleness,
    verified_commit,
    vs_paper,
)

RMSE = Target("rmse", "Samson RMSE", 0.10, "", "Table 2", tolerance=0.01)
CORR = Target("rho", "Spearman(dead, RMSE)", 0.8, "", "Sec. 2", tolerance=0.05)


def _prov(scale, **params):
    return Provenance.start("datasets", {**resolve_parameters("datasets", scale), **params},
                            torch.device("cpu")).finish()


@pytest.fixture
def datasets_with_targets(monkeypatch):
    import companion.chapters.datasets as module

    monkeypatch.setattr(module, "PAPER_TARGETS", [RMSE, CORR])
    return module


def _rows(card, chapter="datasets"):
    return {r["key"]: r for r in card.rows if r["chapter"] == chapter}


def test_each_target_is_listed_once_with_committed_and_live_values(tmp_path, datasets_with_targets):
    committed = compare([RMSE, CORR], {"rmse": 0.05, "rho": 0.81})
    write_result("datasets", "summary", {}, _prov("paper"), committed, root=tmp_path)
    live = compare([RMSE, CORR], {"rmse": 0.104})
    write_result("datasets", "summary", {}, _prov("book"), live, root=tmp_path)
    card = scorecard("book", root=tmp_path)
    assert duplicate_targets(card.rows) == []
    rows = _rows(card)
    assert set(rows) == {"rmse", "rho"}
    rmse = rows["rmse"]
    assert (rmse["committed"], rmse["live"]) == (0.05, 0.104)
    # the headline verdict is the committed run's; the live one is kept beside it
    assert (rmse["verdict"], rmse["live_verdict"]) == ("not reproduced", "reproduced")
    assert rmse["vs_paper"] == "better" and rows["rho"]["vs_paper"] is None
    assert rows["rho"]["live_verdict"] == "not attempted"
    assert card.counts("datasets") == {"not reproduced": 1, "reproduced": 1}


def test_a_target_listed_twice_is_detected():
    rows = [{"chapter": "a", "key": "x"}, {"chapter": "a", "key": "y"}, {"chapter": "a", "key": "x"},
            {"chapter": "b", "key": "x"}]
    assert duplicate_targets(rows) == [("a", "x")]


def test_the_committed_book_scorecard_lists_no_target_twice():
    card = scorecard("book")
    assert card.rows and duplicate_targets(card.rows) == []


def test_reduced_paper_runs_are_labelled_with_what_differs(tmp_path, datasets_with_targets):
    same = compare([RMSE], {"rmse": 0.1})
    write_result("datasets", "summary", {}, _prov("paper", seed=7), same, root=tmp_path)
    label = _rows(scorecard("book", root=tmp_path))["rmse"]["committed_label"]
    assert label.startswith("paper (reduced: ") and "seed=7 (preset 0)" in label
    write_result("datasets", "summary", {}, _prov("paper"), compare([RMSE], {"rmse": 0.1}), root=tmp_path)
    assert _rows(scorecard("book", root=tmp_path))["rmse"]["committed_label"] == "paper"


def test_where_and_how_a_run_computed_does_not_make_it_reduced():
    preset = get_chapter("benchmark").PRESETS["paper"]
    assert preset_differences("benchmark", {**preset, "workers": 8, "device": "cuda"}) == []
    assert preset_differences("benchmark", {**preset, "workers": 8, "seeds": [0]}) == [
        "seeds=[0] (preset [0, 1, 2, 3, 4])"]
    committed = read_result("benchmark", "paper", "summary")["provenance"]["params"]
    assert committed["workers"] == 2 and preset_differences("benchmark", committed) == []


def test_chapter_without_records_gets_not_attempted_rows_with_the_command(tmp_path, datasets_with_targets):
    rows = _rows(scorecard("smoke", root=tmp_path))
    assert {r["verdict"] for r in rows.values()} == {"not attempted"}
    assert "python -m companion run datasets" in rows["rmse"]["reason"]


def test_reference_chapter_is_listed_with_a_note(tmp_path):
    card = scorecard("smoke", root=tmp_path)
    assert ("datasets", "Datasets and metrics", "reference chapter: no paper targets") in card.chapters
    assert "reference chapter" in card.to_html()


def test_damaged_record_fails_the_scorecard(tmp_path, datasets_with_targets):
    path = write_result("datasets", "summary", {}, _prov("smoke"), root=tmp_path)
    path.write_text("{")
    with pytest.raises(DamagedResultError):
        scorecard("smoke", root=tmp_path)


@pytest.mark.parametrize(("quantity", "paper", "expected"), [
    ("Jasper U-ADMM-AENet-I RMSE", 0.05, True), ("DC1 PLMM SAM_M (mean, rad)", 0.1, True),
    ("Table 4: Exp. 4 abundance error, KHN", 0.36, True), ("Jasper SAD tree (rad)", 0.05, True),
    ("Sec. 2.6: Spearman(dead, init. mean RMSE), Exp. 4", 0.8, False),
    ("Table 2: share of cells with significant H", 0.95, False),
    ("Fig. 3: NMF-SAE beats the baselines", "better SAD", False),
])
def test_error_metrics_are_recognised_by_name(quantity, paper, expected):
    assert is_error_metric({"quantity": quantity, "paper": paper}) is expected


def test_vs_paper_says_lower_is_better_for_errors_only():
    row = {"quantity": "RMSE", "paper": 0.1}
    assert [vs_paper(row, v) for v in (0.05, 0.2, 0.1, None)] == ["better", "worse", "equal", None]
    assert vs_paper({"quantity": "accuracy", "paper": 0.9}, 0.5) is None


@pytest.mark.parametrize(("value", "text"), [
    (2000.0, "2000"), (2190.0, "2190"), (0.123456, "0.1235"), (-0.0004837, "-0.0004837"),
    (9.68e-15, "9.680e-15"), (0.0, "0"), (None, "—"), ("yes", "yes"), (123456.0, "1.235e+05"),
])
def test_numbers_have_one_format(value, text):
    assert format_value(value) == text


def _git(repo, *args):
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True)
    return head.stdout.strip()


def test_stale_mark_follows_the_computing_code(tmp_path, monkeypatch):
    import companion.scorecard as sc

    repo = tmp_path / "repo"
    (repo / "companion" / "experiments").mkdir(parents=True)
    (repo / "notebooks").mkdir()
    code, notebook = repo / "companion" / "experiments" / "x.py", repo / "notebooks" / "x.md"
    code.write_text("A = 1\n")
    notebook.write_text("text\n")
    _git(repo, "init", "-q")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "add", ".")
    first = _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    monkeypatch.setattr(sc, "computing_files", lambda chapter: ["companion/experiments/x.py"])
    assert staleness("x", first, repo=repo)[0] == "current"
    notebook.write_text("presentation only\n")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "two")
    assert staleness("x", first, repo=repo)[0] == "current"
    code.write_text("A = 2\n")
    checked = _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "three")
    status, detail = staleness("x", first, repo=repo)
    assert status == "stale" and "companion/experiments/x.py" in detail
    assert staleness("x", first, repo=repo, verified=checked)[0] == "current"
    assert staleness("x", "0" * 40, repo=repo)[0] == "not checked"
    assert staleness("x", first + "+dirty", repo=repo)[0] == "not checked"


def test_verified_commit_applies_to_its_record_only(tmp_path):
    (tmp_path / "verified.json").write_text(json.dumps({"x": {"commit": "c" * 40, "record": "abc1234"}}))
    assert verified_commit("x", "abc1234" + "0" * 33, root=tmp_path) == "c" * 40
    assert verified_commit("x", "def5678" + "0" * 33, root=tmp_path) is None
    assert verified_commit("y", "abc1234", root=tmp_path) is None


def test_html_shows_summary_badges_sections_and_folded_reasons(tmp_path, datasets_with_targets):
    write_result("datasets", "summary", {}, _prov("book"), compare([RMSE], {"rmse": 0.2}), root=tmp_path)
    page = scorecard("book", root=tmp_path).to_html()
    assert page.index("All chapters") < page.index('id="sc-datasets"')
    assert 'class="hu-badge"' in page and "<details><summary>why</summary>" in page
    assert page.count("Samson RMSE") == 1


def test_key_results_box_counts_this_run_and_the_committed_one(tmp_path, datasets_with_targets):
    from companion.scorecard import key_results

    assert "No committed paper-scale run" in key_results("datasets", root=tmp_path).text
    write_result("datasets", "summary", {}, _prov("paper"), compare([RMSE, CORR], {"rmse": 0.05}),
                 root=tmp_path)
    live = compare([RMSE, CORR], {"rmse": 0.1, "rho": 0.8})
    box = key_results("datasets", live, scale="book", root=tmp_path).text
    assert "This run (scale book)</b> (2 targets)" in box and "reproduced 2" in box
    assert "Committed paper-scale run</b> (2 targets)" in box
    assert "not reproduced 1" in box and "1 of the misses are errors lower (better)" in box


def test_overview_links_each_chapter_with_its_claim_and_committed_verdicts(tmp_path, datasets_with_targets):
    from companion.scorecard import overview

    write_result("datasets", "summary", {}, _prov("paper"), compare([RMSE, CORR], {"rmse": 0.1}),
                 root=tmp_path)
    page = overview({"datasets": "the claim"}, root=tmp_path).text
    assert '<a href="../notebooks/datasets.html">Datasets and metrics</a>' in page
    assert "the claim" in page and "reproduced 1" in page and "not attempted 1" in page
    assert '<a href="../notebooks/mtl.html">' in page and "no committed paper-scale run" in page
