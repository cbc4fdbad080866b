"""The benchmark's protocol: every method gets the same start object and pixels, is scored by
the same matching and metric functions, and records say why a method did not run; its plan
matches the committed records; its report judges the claims by the sign test, with reasons
from the budget check, and regenerates the committed summary from the committed records."""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from companion import metrics, pipeline, study, verdicts
from companion.chapters import benchmark as chapter
from companion.chapters import resolve_parameters, targets
from companion.data import MissingImage
from companion.experiments import benchmark as bench
from companion.jsonio import to_strict
from companion.methods import METHODS, Estimate, Problem, make_start
from companion.reports import benchmark as report_of

REPO = Path(__file__).resolve().parents[1]
COMMITTED = REPO / "results" / "benchmark" / "paper" / "summary.json"

SCENE = "urban_crop"
BUDGET = {"nmf_iterations": 1, "ae_epochs": 1, "unrolled_epochs": 1, "nmf_sae_iterations": 1,
          "mtl_iterations": 1, "nlaeu_iterations": 1, "elmm_iterations": 1, "deepgu_epochs": 1,
          "deepgu_outer": 1, "aa_iterations": 1, "edaa_outer": 1, "sisal_iterations": 1}


def config(method, init="vca", seed=0, scene=SCENE):
    return {"method": method, "scene": scene, "init": init, "seed": seed, "budget": BUDGET, "device": "cpu"}


@pytest.fixture
def spied(monkeypatch):
    """Every method replaced by a spy that records what it was given and returns the start."""
    seen = {}

    def spy(key):
        def run(problem: Problem) -> Estimate:
            seen[key] = problem
            E, A = problem.start.endmembers, problem.start.abundances
            return Estimate(E.copy(), A.copy(), E @ A)
        return run

    fakes = {k: dataclasses.replace(m, run=spy(k)) for k, m in METHODS.items()}
    monkeypatch.setattr(bench, "METHODS", fakes)
    return seen


def test_every_method_gets_the_same_start_object_and_pixels(spied):
    for key in METHODS:
        bench.compute(config(key))
    problems = list(spied.values())
    assert set(spied) == set(METHODS)
    start, Y = problems[0].start, problems[0].Y
    assert all(p.start is start and p.Y is Y for p in problems)
    assert start.name == "vca" and start.seed == 0
    hsi = bench.load_scene(SCENE)
    np.testing.assert_array_equal(Y, hsi.Y)                                    # every pixel
    np.testing.assert_array_equal(start.endmembers, make_start("vca", hsi.Y, hsi.p, 0).endmembers)
    bench.compute(config("l1_nmf", seed=1))
    assert spied["l1_nmf"].start is not start and spied["l1_nmf"].start.seed == 1


def test_every_method_is_scored_by_the_same_matching(spied, monkeypatch):
    calls = []
    original = metrics.match_endmembers

    def recording(E_true, E_est, method="hungarian"):
        calls.append(method)
        return original(E_true, E_est, method=method)

    monkeypatch.setattr(bench.metrics, "match_endmembers", recording)
    records = {key: bench.compute(config(key)) for key in METHODS}
    assert calls == ["hungarian"] * 2 * len(METHODS)     # the protocol's fields, then score_estimate's
    assert all(r["metrics"]["sad"]["sad_mean_rad"] == r["sad_mean"] for r in records.values())
    # the spies all return the start: identical scores for every method
    assert len({(r["sad_mean"], r["rmse_a"], r["rmse_y"]) for r in records.values()}) == 1


def test_a_method_that_changes_the_shared_inputs_is_an_error(monkeypatch):
    def vandal(problem):
        problem.start.endmembers[0, 0] += 1.0
        return Estimate(problem.start.endmembers, problem.start.abundances, problem.Y)

    monkeypatch.setattr(bench, "METHODS", {"vca_fcls": dataclasses.replace(METHODS["vca_fcls"], run=vandal)})
    with pytest.raises(RuntimeError, match="modified its inputs"):
        bench.compute(config("vca_fcls", seed=7))


def test_score_matches_a_permuted_truth_exactly():
    hsi = bench.load_scene(SCENE)
    perm = [2, 0, 3, 1]
    E, A = hsi.endmembers[:, perm] * 3.0, hsi.abundances[perm]                 # SAD is scale-free
    s = bench.score(hsi, Estimate(E, A, hsi.endmembers @ hsi.abundances))
    assert s["status"] == "ok" and s["sad_mean"] == pytest.approx(0.0, abs=1e-6)
    assert s["rmse_a"] == pytest.approx(0.0, abs=1e-12)
    assert s["rmse_y"] == pytest.approx(metrics.rmse_per_pixel_mean(hsi.Y, hsi.endmembers @ hsi.abundances))
    bad = bench.score(hsi, Estimate(E * np.nan, A, hsi.Y))
    assert bad["status"] == "diverged"


def test_records_say_why_a_method_or_scene_did_not_run(monkeypatch):
    record = bench.compute(config("nlaeu", init="sivm"))
    assert record["status"] == "not run" and "sivm" in record["reason"]

    def absent(name):
        raise MissingImage("urban/Urban_R162.mat is not in HU_DATA_DIR\nput it there")

    monkeypatch.setattr(bench, "load_scene", absent)
    record = bench.compute(config("vca_fcls", scene="urban"))
    assert record == {"status": "not run",
                      "reason": "image not supplied: urban/Urban_R162.mat is not in HU_DATA_DIR"}


def test_vca_fcls_record_is_the_start_and_runs_resume(tmp_path):
    records = bench.run(["vca_fcls", "l1_nmf"], [SCENE], {"vca": [0]}, BUDGET, tmp_path, progress=False)
    hsi = bench.load_scene(SCENE)
    start = bench.start_for(SCENE, "vca", 0)
    first = records[bench.record_key("vca_fcls", SCENE, "vca", 0)]
    expected = metrics.sad(hsi.endmembers, start.endmembers[:, metrics.match_endmembers(hsi.endmembers,
                                                                                        start.endmembers)])
    np.testing.assert_allclose(first["sad"], expected)
    stamp = {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("*.json")}
    bench.run(["vca_fcls", "l1_nmf"], [SCENE], {"vca": [0]}, BUDGET, tmp_path, progress=False)
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("*.json")} == stamp


def planted(methods, scenes, sad, rmse=None, init="vca", seeds=(0, 1)):
    """Records of ``methods`` on ``scenes``: ``sad[m][i]`` (+ 0.01 per seed) and ``rmse`` (default
    the same numbers) as seed values."""
    rmse = rmse or sad
    return {bench.record_key(m, s, init, seed): {"status": "ok", "sad_mean": sad[m][i] + 0.01 * seed,
                                                 "rmse_a": rmse[m][i] + 0.01 * seed, "time_s": 1.0 + i}
            for m in methods for i, s in enumerate(scenes) for seed in seeds}


def params(**overrides):
    return resolve_parameters("benchmark", "smoke",
                              **{"sensitivity_seeds": [], "check_scenes": [], **overrides})


def test_table_matrix_and_winners_from_planted_records():
    scenes = ["samson", "jasper", "urban_crop"]
    methods = ["mtl", "vca_fcls", "l1_nmf", "rnmf", "nlaeu"]
    sad = {m: [0.1 * (j + 1)] * 3 for j, m in enumerate(methods)}
    rmse = {**sad, "rnmf": [0.4, 0.01, 0.4]}          # rnmf's lower RMSE on jasper
    records = planted(methods, scenes, sad, rmse)
    T = report_of.table_matrix(records, methods, scenes, "sad_mean")
    np.testing.assert_allclose(T[:, 0], [0.105] * 3)
    winners = report_of.winner_rows(records, methods, scenes)
    assert winners[1]["key"] == "first_jasper" and winners[1]["verdict"] is None
    assert winners[1]["ours"] == "SAD: MTL (0.105); abundance RMSE: rNMF (0.015)"


def claim(rows, key):
    return next(r for r in rows if r["key"] == key)


def test_claims_are_judged_by_the_sign_test_at_its_boundaries():
    """MTL against four rivals on GBM scenes: 5 wins and no loss is p = 1/32 (supported); 4 and
    none is p = 1/16 (partly); ties are left out of the test but shown."""
    methods = ["mtl", "vca_fcls", "l1_nmf", "rnmf", "nlaeu"]
    worse = {"vca_fcls": [0.2], "l1_nmf": [0.3], "rnmf": [0.4], "nlaeu": [0.5]}
    P = params(methods=methods, scenes=["gbm_snr30"], sensitivity_scenes=[])
    # one scene: 4 rivals x 2 metrics = 8 comparisons; make 3 of them ties, 5 wins
    sad = {"mtl": [0.1], **worse}
    rmse = {"mtl": [0.2], **worse}                        # ties with vca_fcls on RMSE
    rows = report_of.claim_rows(P, planted(methods, ["gbm_snr30"], sad, rmse), {}, {})[0]
    row = claim(rows, "claim_mtl_home")
    assert (row["wins"], row["losses"], row["ties"]) == (7, 0, 1)
    assert row["verdict"] == "supported" and row["ours"] == "wins 7 of 8 on GBM 30 dB (1 ties)"
    # four wins, four ties: p = 1/16 -> partly, a miss with a reason
    rmse = {"mtl": [0.5], "vca_fcls": [0.5], "l1_nmf": [0.5], "rnmf": [0.5], "nlaeu": [0.5]}
    row = claim(report_of.claim_rows(P, planted(methods, ["gbm_snr30"], sad, rmse), {}, {})[0], "claim_mtl")
    assert (row["wins"], row["losses"], row["ties"]) == (4, 0, 4)
    assert row["p_value"] == pytest.approx(1 / 16) and row["verdict"] == "partly"
    assert row["reason"] == {"class": "unexplained", "evidence": ""}           # no budget check to ask
    # six wins, two losses: p = 0.14 -> partly; three wins, five losses -> not supported
    rmse = {"mtl": [0.35], **worse}
    row = claim(report_of.claim_rows(P, planted(methods, ["gbm_snr30"], sad, rmse), {}, {})[0], "claim_mtl")
    assert (row["wins"], row["losses"]) == (6, 2) and row["verdict"] == "partly"
    sad = {"mtl": [0.45], **worse}
    row = claim(report_of.claim_rows(P, planted(methods, ["gbm_snr30"], sad, rmse), {}, {})[0], "claim_mtl")
    assert (row["wins"], row["losses"]) == (3, 5) and row["verdict"] == "not supported"


def test_claims_not_attempted_say_why():
    methods = ["mtl", "vca_fcls", "l1_nmf", "rnmf", "nlaeu"]
    sad = {m: [0.1 * (j + 1)] * 2 for j, m in enumerate(methods)}
    P = params(methods=methods, scenes=["samson", "jasper"], sensitivity_scenes=[])
    records = planted(methods, ["samson", "jasper"], sad)
    rows = {r["key"]: r for r in report_of.claim_rows(P, records, {}, {})[0]}
    assert list(rows) == [c.key for c in chapter.CLAIMS]
    assert rows["claim_mtl"]["verdict"] == "supported" and rows["claim_mtl"]["wins"] == 16
    assert rows["claim_mtl_home"]["verdict"] == "not attempted" and rows["claim_mtl_home"]["ours"] is None
    assert "no scene of the paper's kind (gbm)" in rows["claim_mtl_home"]["reason"]["evidence"]
    assert rows["claim_deepgu"]["verdict"] == "not attempted"
    assert rows["claim_deepgu"]["reason"]["evidence"] == "not in this run: deepgu, elmm"
    verdicts.check_rows(list(rows.values()), targets("benchmark"), "planted", "benchmark")


def test_a_missed_claims_reason_comes_from_the_budget_check():
    """DeepGU loses at the benchmark's budget; if it wins at each paper's budget, the miss is the
    budget (an open protocol choice); if it loses there too, it is unexplained, with the numbers."""
    methods, scenes = ["deepgu", "vca_fcls", "elmm"], ["urban_crop", "gbm_snr30", "dc1_snr30"]
    P = params(methods=methods, scenes=scenes, sensitivity_scenes=[],
               check_scenes=["urban_crop", "gbm_snr30"])
    main = planted(methods, scenes, {"deepgu": [0.3] * 3, "vca_fcls": [0.2] * 3, "elmm": [0.1] * 3})
    wins = planted(methods, P["check_scenes"],
                   {"deepgu": [0.05] * 2, "vca_fcls": [0.2] * 2, "elmm": [0.1] * 2}, seeds=(0,))
    row = claim(report_of.claim_rows(P, main, wins, {})[0], "claim_deepgu")
    assert row["verdict"] == "not supported"
    assert row["reason"]["class"] == "open protocol choice: iteration budget"
    evidence = row["reason"]["evidence"]
    assert "at each paper's own budget DeepGU wins 8 and loses 0" in evidence
    assert "at the benchmark's budget, same seed and scenes, it wins 0 and loses 8" in evidence
    loses = planted(methods, P["check_scenes"],
                    {"deepgu": [0.15] * 2, "vca_fcls": [0.2] * 2, "elmm": [0.1] * 2}, seeds=(0,))
    row = claim(report_of.claim_rows(P, main, loses, {})[0], "claim_deepgu_home")
    assert row["reason"]["class"] == "unexplained" and "wins 4 and loses 4" in row["reason"]["evidence"]


def test_the_plan_matches_the_committed_records():
    P = json.loads(COMMITTED.read_text())["provenance"]["params"]
    studies = pipeline.plan("benchmark", P)
    assert {name: (len(d.configs), d.folder) for name, d in studies.items()} == {
        "main": (975, "runs"), "sensitivity": (120, "runs"), "budget": (30, "protocol_budget"),
        "supervised": (52, "supervised"), "library": (32, "library")}
    assert {k: P[k] for k in ("library_methods", "library_scenes", "library_iterations")} == {
        k: chapter.PRESETS["paper"][k] for k in ("library_methods", "library_scenes", "library_iterations")}
    for definition in studies.values():
        assert definition.protocol == {"matching": "hungarian", "scene_seed": 0}
        for key in list(definition.configs)[::37]:
            stored = json.loads((definition.directory() / f"{key}.json").read_text())
            assert stored["config"] == definition.configs[key]
            assert stored["fingerprint"] == study.fingerprint(definition.protocol, definition.configs[key])
    # the start-free methods are in every study of the blind track, at the declared budgets
    assert {"aa", "edaa", "sisal"} <= set(P["methods"])
    assert studies["budget"].configs["urban_crop+deepgu+vca+0"]["budget"] == chapter.PROTOCOL_BUDGET
    smoke = pipeline.plan("benchmark", params())
    assert list(smoke) == ["main", "supervised", "library"]     # no second start, no budget check


def test_the_experiments_module_imports_no_reporting_code():
    closure = study._closure(["companion.experiments.benchmark"])
    forbidden = [m for m in closure if m.startswith("companion.reports") or m in (
        "companion.results", "companion.scorecard", "companion.plots", "companion.verdicts",
        "companion.ranking", "companion.pipeline")]
    assert "companion.methods" in closure and not forbidden


def test_the_committed_summary_is_the_report_of_the_committed_records():
    summary = json.loads(COMMITTED.read_text())
    P = summary["provenance"]["params"]
    result = pipeline.report("benchmark", P, pipeline.load_records("benchmark", P))
    checked = verdicts.check_rows(summary["comparison"], targets("benchmark"), COMMITTED, "benchmark")
    assert [r["key"] for r in checked] == [c.key for c in chapter.CLAIMS]
    fresh = json.loads(json.dumps(to_strict({"comparison": result.comparison, "data": result.data})[0]))
    assert fresh["comparison"] == summary["comparison"]
    assert fresh["data"] == summary["data"]
    # the findings (who ranks first) are data, not comparison rows
    assert {f["key"] for f in summary["data"]["findings"]} == {f"first_{s}" for s in P["scenes"]}


def test_the_committed_records_keep_estimates_that_rescore_to_their_numbers(staged_data_dir):
    """The committed run saved every estimate (float32): reloaded and scored again against the
    scene's truth, one gives its record's SAD and abundance RMSE, and a library record's saved
    abundances give its RMSE and SRE against the truth spread over the rebuilt library; the
    report's user metrics and both tracks are there."""
    from companion import tracks
    from companion.data.scenes import load_scene

    summary = json.loads(COMMITTED.read_text())
    assert "user_metrics" in summary["data"] and list(summary["data"]["tracks"]) == ["supervised", "library"]
    key = "samson+edaa+vca+0"
    stored = json.loads((COMMITTED.parent / "runs" / f"{key}.json").read_text())["record"]
    E, A = bench.load_estimate(COMMITTED.parent / "runs", key)
    hsi = load_scene("samson")
    assert E.shape == (hsi.Y.shape[0], 3) and A.shape == (3, hsi.n_pixels)
    again = metrics.score_runs(hsi.endmembers, hsi.abundances, E[None], A[None], matching=bench.MATCHING)
    assert again["sad_mean"][0] == pytest.approx(stored["sad_mean"], rel=1e-5)
    assert again["rmse"][0] == pytest.approx(stored["rmse_a"], rel=1e-5)
    key, scene = "minerals_snr30+sunsal+library+0", "minerals_snr30"
    stored = json.loads((COMMITTED.parent / "library" / f"{key}.json").read_text())["record"]
    E, A = bench.load_estimate(COMMITTED.parent / "library", key)
    hsi = load_scene(scene)
    truth = tracks.scene_library(scene, hsi.names).abundances(hsi.abundances)
    assert E is None and A.shape == truth.shape == (stored["columns"], hsi.n_pixels)
    assert metrics.rmse_per_pixel_mean(truth, A) == pytest.approx(stored["rmse_a"], rel=1e-5)
    assert metrics.sre_db(truth, A) == pytest.approx(stored["sre_db"], rel=1e-5)


def test_a_mix_of_old_and_new_records_shows_not_recorded_per_cell():
    methods, scenes = ["vca_fcls", "l1_nmf"], ["samson", "jasper"]
    records = planted(methods, scenes, {"vca_fcls": [0.1, 0.2], "l1_nmf": [0.3, 0.4]})
    new = {"sad_mean_deg": 5.0, "sad_mean_rad": 0.087, "armse_percent": 10.0, "rmse_per_pixel_mean": 0.1,
           "sre_db": 12.0, "sad_deg": [4.0, 6.0], "rmse_per_endmember": [0.1, 0.1]}
    for key in [k for k in records if k.startswith("samson+l1_nmf")]:
        records[key]["metrics"] = {"sad": new, "abundances": new}
    P = params(methods=methods, scenes=scenes, seeds=[0, 1], sensitivity_scenes=[])
    cells = report_of._user_cells(records, P)["abundances"]["sre_db"]
    assert cells["values"] == {"samson": {"l1_nmf": [12.0, 12.0]}}
    assert cells["not_run"]["samson"]["vca_fcls"] == report_of.NOT_RECORDED
    data = {"methods": methods, "scenes": scenes, "seeds": [0, 1],
            "user_metrics": report_of._user_cells(records, P)}
    tables = report_of.user_metric_tables(data, "planted", matching="abundances")
    assert "matched on the abundance maps" in tables[0].caption and "higher is better" in tables[-1].caption


def test_lessons_read_every_number_from_the_data():
    """The chapter's "What we learned" from planted records: ranks and the group within one CD of
    the first, start-free places, the real scene against the start, first places, the budget
    check's bands."""
    scenes = ["samson", "gbm_snr30", "dc1_snr30"]
    methods = ["vca_fcls", "l1_nmf", "ae_basic"]
    sad = {"vca_fcls": [0.2, 0.2, 0.2], "l1_nmf": [0.1, 0.1, 0.3], "ae_basic": [0.9, 0.9, 0.9]}
    records = planted(methods, scenes, sad)
    ranks = {m: report_of.rank_analysis(records, methods, scenes, m).to_dict() for m in report_of.RANKED}
    cells = {m: {"values": {s: {k: report_of.seed_values(records, k, s, m) for k in methods} for s in scenes},
                 "not_run": {}} for m in report_of.METRICS}
    ok = {"status": "ok", "reason": None, "rmse_a": 0.1, "time_s": 1.0}
    pairs = {m: {"gbm_snr30": {"short": ok | {"sad_mean": 0.1}, "full": ok | {"sad_mean": f}}}
             for m, f in zip(methods, (0.1, 0.05, 0.2), strict=True)}
    data = {"methods": methods, "scenes": scenes, "ranks": ranks, "cells": cells, "sensitivity": None,
            "check": {"scenes": ["gbm_snr30"], "pairs": pairs}}
    text = report_of.lessons(data)
    a = ranks["sad_mean"]
    assert a["average"] == pytest.approx([5 / 3, 4 / 3, 3.0])
    assert f"L1-NMF first (average rank 1.33), then VCA + FCLS (1.67). Within one critical difference " \
           f"({a['cd']:.2f} ranks, 3 methods on 3 scenes) of the first: L1-NMF, VCA + FCLS, AE basic" in text
    assert "AE basic (Exp. 10) 3 of 3 by mean SAD" in text
    assert "Samson: L1-NMF 0.1050 rad, the start VCA + FCLS 0.2050" in text
    assert "mean SAD: L1-NMF 2, VCA + FCLS 1" in text
    assert "falls below 0.8× the benchmark budget's for L1-NMF on GBM 30 dB 0.100 → 0.050" in text
    assert "rises above 1.25× for AE basic (Exp. 10) on GBM 30 dB 0.100 → 0.200" in text
    assert "second start" not in text


def test_the_cited_deepgu_diagnosis_quotes_its_record():
    """The DeepGU claims' evidence quotes diagnosis DeepGU 1: its counts, per scene and in all, and
    the commit it ran at are those of results/diagnosis/deepgu_budget.json."""
    record = json.loads((REPO / "results" / "diagnosis" / "deepgu_budget.json").read_text())
    pairs = record["relative_rmse_a"]["pairs"]           # [scene, seed, rival, DeepGU, rival's]
    text = report_of.DIAGNOSES["deepgu"]
    wins = sum(ours < theirs for _, _, _, ours, theirs in pairs)
    assert f"in {wins} of {len(pairs)} comparisons" in text
    for scene, name in record["scene_labels"].items():
        won = sum(ours < theirs for s, _, _, ours, theirs in pairs if s == scene)
        assert f"{name} {won}" in text
    assert f"run at {record['provenance']['git_commit'][:7]}" in text
