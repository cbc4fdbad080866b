"""The supervised and library tracks: the library holds the scene's spectra where the truth says,
pruned as stated; estimators recover planted abundances; records are scored without matching;
ranks treat SRE (higher is better) the right way round."""

import numpy as np
import pytest

from companion import tracks
from companion.data.scenes import load_scene
from companion.experiments import benchmark as bench
from companion.methods import Estimate
from companion.reports import benchmark as report_of
from companion.study import run_study


@pytest.mark.parametrize("scene", ["gbm_snr30", "dc2_snr30"])
def test_the_library_holds_the_scenes_spectra_and_is_pruned(scene):
    hsi = load_scene(scene)
    lib = tracks.scene_library(scene, hsi.names)
    assert lib.spectra.shape[0] == hsi.bands
    assert lib.names[:hsi.p] == hsi.names and lib.truth == list(range(hsi.p))
    unit = lib.spectra / np.linalg.norm(lib.spectra, axis=0)
    angles = np.degrees(np.arccos(np.clip(unit.T @ unit, -1, 1))) + 180 * np.eye(unit.shape[1])
    assert angles.min() >= tracks.PRUNE_DEG
    if scene.startswith("gbm"):          # drawn from the library itself: the same spectra
        np.testing.assert_array_equal(lib.spectra[:, :hsi.p], hsi.endmembers)
    X = lib.abundances(hsi.abundances)
    np.testing.assert_array_equal(X[:hsi.p], hsi.abundances)
    assert not X[hsi.p:].any()


def test_supervised_estimators_recover_planted_abundances():
    hsi = load_scene("gbm_snr30")
    A = hsi.abundances[:, :300]
    Y = hsi.endmembers @ A                                    # noiseless, linear: FCLS is exact
    est = tracks.SUPERVISED["fcls"].run(Y, hsi.endmembers, 15, 20, {}, "cpu")
    np.testing.assert_allclose(est.abundances, A, atol=1e-8)
    ncls = tracks.SUPERVISED["ncls"]
    est = ncls.run(Y, hsi.endmembers, 15, 20, ncls.with_budget(5000), "cpu")
    np.testing.assert_allclose(est.abundances, A, atol=1e-4)
    scored = bench.score_track(hsi, Estimate(hsi.endmembers, hsi.abundances, hsi.Y), hsi.abundances)
    assert scored["rmse_a"] == 0.0 and scored["armse_percent"] == 0.0 and scored["sre_db"] > 200


def test_tv_with_shared_endmembers_equals_the_per_pixel_form():
    """A library of many spectra (shared M) takes one inverse, not one per pixel: same result as the
    per-pixel form with M repeated at every pixel."""
    from companion.classic import unmix_tv

    rng = np.random.default_rng(0)
    rows, cols, L, m = 6, 7, 30, 12
    M = rng.uniform(0.1, 1.0, (L, m))
    A = rng.dirichlet(np.ones(m), rows * cols).T
    Y = M @ A + 0.01 * rng.standard_normal((L, rows * cols))
    shared = unmix_tv(Y, M, rows, cols, lam=1e-2, iterations=60, tol=0.0, device="cpu")
    per_pixel = unmix_tv(Y, np.broadcast_to(M, (rows * cols, L, m)).copy(), rows, cols, lam=1e-2,
                         iterations=60, tol=0.0, device="cpu")
    np.testing.assert_allclose(shared, per_pixel, atol=1e-10)
    assert np.abs(shared - 1.0 / m).max() > 1e-3          # it moved away from the uniform start


def test_track_ranks_put_the_highest_sre_first():
    scenes, methods = ["gbm_snr30", "dc2_snr30", "minerals_snr30"], ["ncls", "sunsal", "sclsu"]
    sre = {"ncls": 5.0, "sunsal": 20.0, "sclsu": 10.0}
    records = {bench.record_key(m, s, "library", 0):
               {"status": "ok", "sre_db": sre[m] + i, "rmse_a": 1 / sre[m]}
               for i, s in enumerate(scenes) for m in methods}
    for metric in ("sre_db", "rmse_a"):
        a = report_of.rank_analysis(records, methods, scenes, metric, "library")
        assert list(a.average) == [3.0, 1.0, 2.0]
        np.testing.assert_allclose(a.scores[0], [np.float64(v) for v in
                                                 ([5, 20, 10] if metric == "sre_db" else [0.2, 0.05, 0.1])])
    one = report_of._rank_or_reason(records, methods, scenes[:1], "sre_db", "library")
    assert "unranked" in one


def test_track_records_keep_their_abundances(tmp_path):
    configs = bench.track_configs("supervised", ["fcls"], ["gbm_snr30"], 10)
    records = run_study(configs, bench.compute, tmp_path, {}, progress=False)
    key = "gbm_snr30+fcls+truth+0"
    E, A = bench.load_estimate(tmp_path, key)
    hsi = load_scene("gbm_snr30")
    assert E is None and A.shape == hsi.abundances.shape          # the given truth is not saved again
    rescored = bench.score_track(hsi, Estimate(hsi.endmembers, A, hsi.endmembers @ A), hsi.abundances)
    assert rescored["rmse_a"] == pytest.approx(records[key]["rmse_a"], rel=1e-5)
