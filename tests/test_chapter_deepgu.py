"""The DeepGU chapter runs end to end at smoke scale, writes its verdicts and resumes."""

from conftest import run_chapter_smoke


def test_deepgu_smoke_run_writes_results_and_resumes(tmp_path):
    outputs, record = run_chapter_smoke("deepgu", tmp_path)
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 3
    verdicts = {row["quantity"]: row["verdict"] for row in record["comparison"]}
    assert verdicts["DC1 DeepGU RMSE_A (rel.)"] == "not attempted"     # smoke runs DC2 only
    for method in ("DeepGU", "FCLS", "ELMM"):
        assert verdicts[f"DC2 {method} RMSE_A (rel.)"] != "not attempted"
    assert verdicts["DC2 GLMM RMSE_A (rel.)"] == "not attempted"       # smoke runs ELMM only
    assert "DC2: DeepGU has the lowest RMSE_A (relative)" in verdicts
    assert record["data"]["real"] == {}
    runs = tmp_path / "results/deepgu/smoke/runs"
    assert sorted(p.name for p in runs.iterdir()) == ["cal_dc2_0.05_0.json", "dc2_seed0.json"]
    stamp = (runs / "dc2_seed0.json").stat().st_mtime_ns
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
