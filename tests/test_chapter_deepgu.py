"""The DeepGU chapter runs end to end at smoke scale, equals its pipeline, writes its verdicts and
resumes."""

import json

from conftest import run_chapter_smoke

from companion import pipeline


def test_deepgu_smoke_run_equals_the_pipeline_and_resumes(tmp_path, monkeypatch):
    outputs, record = run_chapter_smoke("deepgu", tmp_path)
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 3
    verdicts = {row["key"]: row["verdict"] for row in record["comparison"]}
    assert verdicts["dc1_deepgu_rel_a"] == "not attempted"                  # smoke runs DC2 only
    for method in ("deepgu", "fcls", "elmm"):
        assert verdicts[f"dc2_{method}_rel_a"] != "not attempted"
    assert verdicts["dc2_glmm_rel_a"] == "not attempted"                    # smoke runs ELMM only
    assert verdicts["dc1_ranking"] == "not attempted" and verdicts["dc2_ranking"] != "not attempted"
    claim = next(r for r in record["comparison"] if r["key"] == "dc2_ranking")
    assert claim["wins"] + claim["losses"] + claim["ties"] == 2              # 1 seed x 2 rivals
    assert all(r["verdict"] is None for r in record["comparison"] if r["kind"] == "sensitivity")
    assert record["data"]["real"] == {}
    runs = tmp_path / "results/deepgu/smoke/runs"
    assert sorted(p.name for p in runs.iterdir()) == ["cal_dc2_0.05_0.json", "dc2_seed0.json"]
    stamp = (runs / "dc2_seed0.json").stat().st_mtime_ns
    # plan -> compute -> report here gives the notebook's numbers, reusing its records
    monkeypatch.setenv("HU_RESULTS_DIR", str(tmp_path / "results"))
    P = record["provenance"]["params"]
    result = pipeline.report("deepgu", P, pipeline.run("deepgu", P))
    assert json.loads(json.dumps(result.comparison)) == record["comparison"]
    assert json.loads(json.dumps(result.data["ours"])) == record["data"]["ours"]
    run_chapter_smoke("deepgu", tmp_path)
    assert (runs / "dc2_seed0.json").stat().st_mtime_ns == stamp       # reused, not recomputed


def test_houston_row_runs_on_a_user_supplied_image(tmp_path, staged_data_dir):
    """A Houston stand-in (Drumetz's endmembers mixed, 30 x 40 pixels) in HU_DATA_DIR is verified,
    unmixed by every method and scored by RMSE_Y only (no reference abundances)."""
    import numpy as np
    import scipy.io

    from companion import data

    data_dir = tmp_path / "data"
    data_dir.mkdir()
    for folder in staged_data_dir.iterdir():
        if folder.name != "houston":
            (data_dir / folder.name).symlink_to(folder)
    (data_dir / "houston").mkdir()
    reference = "houston/endmembers_houston.mat"
    (data_dir / reference).symlink_to(staged_data_dir / reference)
    M = data.houston_endmembers().M
    rng = np.random.default_rng(0)
    Y = M @ rng.dirichlet(np.full(4, 0.5), size=1200).T + 0.002 * rng.standard_normal((144, 1200))
    scipy.io.savemat(data_dir / "houston/real_data_1.mat", {"data": Y.T.reshape(30, 40, 144) * 5000})

    _, record = run_chapter_smoke("deepgu", tmp_path, params=("real=['houston']",),
                                  env={"HU_DATA_DIR": str(data_dir)})
    houston = record["data"]["real"]["houston"]
    assert {"fcls", "elmm", "deepgu_0.05"} <= set(houston)
    assert houston["fcls"]["rmse_y"] < 0.02 and "rmse_a" not in houston["fcls"]
    assert "houston/real_data_1.mat" in record["provenance"]["checksums"]
