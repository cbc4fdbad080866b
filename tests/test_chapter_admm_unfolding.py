"""The U-ADMM chapter runs end to end at smoke scale and writes its verdicts."""

from conftest import run_chapter_smoke


def test_admm_unfolding_smoke_run_writes_results_and_resumes(tmp_path):
    outputs, record = run_chapter_smoke("admm_unfolding", tmp_path)
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 6
    verdicts = {row["quantity"]: row["verdict"] for row in record["comparison"]}
    assert verdicts["Jasper U-ADMM-AENet-II RMSE"] == "not attempted"       # real=False at smoke
    assert verdicts["Urban BUNet-II SAD mean (deg)"] == "not attempted"
    assert "Fig. 11: U-ADMM converges ~3x faster" in verdicts
    assert "Fig. 21: BUNet-II has the best SAD" in verdicts
    runs = tmp_path / "results/admm_unfolding/smoke/runs"
    assert sorted(p.name for p in runs.iterdir()) == [
        "fig11.json", "fig12_K1.json", "fig13_n256.json", "fig14_snr15.json", "fig18.json",
        "fig19_K1.json", "fig20_n256.json", "fig21_snr15.json"]
    stamp = (runs / "fig11.json").stat().st_mtime_ns
    run_chapter_smoke("admm_unfolding", tmp_path)
    assert (runs / "fig11.json").stat().st_mtime_ns == stamp           # reused, not recomputed
