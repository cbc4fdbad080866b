"""The stability chapter runs end to end at smoke scale, writes its verdicts and resumes."""

from conftest import run_chapter_smoke


def test_stability_smoke_run_writes_results_and_resumes(tmp_path):
    outputs, record = run_chapter_smoke("stability", tmp_path)
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 3
    verdicts = {row["quantity"]: row["verdict"] for row in record["comparison"]}
    assert "Table 3: whole-network reinit. lowers RMSE" in verdicts
    assert verdicts["Table 2: share of cells with significant H"] != "not attempted"
    runs = tmp_path / "results/stability/smoke/runs"
    assert sorted(p.name for p in runs.iterdir()) == ["exp1_init0-2.json", "exp4_init0-2.json",
                                                       "reinit_exp4_keep.json", "reinit_exp4_reset.json",
                                                       "reinit_exp4_wd0.0001.json"]
    assert any(row["quantity"].startswith("Sec. 2.6: Spearman") and row["verdict"] != "not attempted"
               for row in record["comparison"])                            # one row per experiment and scheme
    stamp = (runs / "exp4_init0-2.json").stat().st_mtime_ns
    run_chapter_smoke("stability", tmp_path)
    assert (runs / "exp4_init0-2.json").stat().st_mtime_ns == stamp           # reused, not recomputed
