"""The benchmark's protocol: every method gets the same start object and pixels, is scored by
the same matching and metric functions, and records say why a method did not run."""

import dataclasses

import numpy as np
import pytest

from companion import metrics
from companion.data import MissingImage
from companion.experiments import benchmark as bench
from companion.methods import METHODS, Estimate, Problem, make_start

SCENE = "urban_crop"
BUDGET = {"nmf_iterations": 1, "ae_epochs": 1, "unrolled_epochs": 1, "nmf_sae_iterations": 1,
          "mtl_iterations": 1, "nlaeu_iterations": 1, "elmm_iterations": 1, "deepgu_epochs": 1,
          "deepgu_outer": 1}


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
    assert calls == ["hungarian"] * len(METHODS)
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


def test_table_matrix_and_claims_from_planted_records():
    scenes = ["samson", "jasper", "urban_crop"]
    methods = ["mtl", "vca_fcls", "l1_nmf", "rnmf", "nlaeu"]
    # mtl best everywhere except rnmf's lower RMSE on jasper
    sad = {"mtl": [0.1, 0.1, 0.1], "vca_fcls": [0.2, 0.2, 0.2], "l1_nmf": [0.3, 0.3, 0.3],
           "rnmf": [0.4, 0.4, 0.4], "nlaeu": [0.5, 0.5, 0.5]}
    records = {}
    for m in methods:
        for i, s in enumerate(scenes):
            for seed in (0, 1):
                rmse = 0.01 if (m == "rnmf" and s == "jasper") else sad[m][i]
                records[bench.record_key(m, s, "vca", seed)] = {
                    "status": "ok", "sad_mean": sad[m][i] + 0.01 * seed, "rmse_a": rmse}
    T = bench.table_matrix(records, methods, scenes, "sad_mean")
    np.testing.assert_allclose(T[:, 0], [0.105] * 3)
    average = {"sad_mean": dict(zip(methods, [1, 2, 3, 4, 5], strict=True)),
               "rmse_a": dict(zip(methods, [1.3, 2.3, 3.3, 3.0, 5.0], strict=True))}
    rows = bench.claim_rows(records, methods, scenes, average, {"sad_mean": 1.0, "rmse_a": 1.0})
    assert [r["key"] for r in rows] == ["claim_mtl", "claim_mtl_home"]   # other methods did not run
    assert rows[0]["verdict"] == "partly" and rows[0]["ours"].startswith("wins 23 of 24")
    assert rows[1]["verdict"] == "not attempted" and "gbm" in rows[1]["reason"]   # no GBM scene here
    planted = {k.replace("urban_crop+", "gbm_snr30+"): r for k, r in records.items()}
    rows = bench.claim_rows(planted, methods, ["samson", "jasper", "gbm_snr30"], average,
                            {"sad_mean": 1.0, "rmse_a": 1.0})
    assert rows[1]["verdict"] == "supported" and rows[1]["ours"].startswith("wins 8 of 8 on GBM 30 dB")
    winners = bench.winner_rows(records, methods, scenes)
    assert winners[1]["ours"] == "SAD: MTL (0.105); abundance RMSE: rNMF (0.01)"
