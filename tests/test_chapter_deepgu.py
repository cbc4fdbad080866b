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
