"""The DeepGU chapter runs end to end at smoke scale, writes its verdicts and resumes."""

from conftest import run_chapter_smoke


def test_deepgu_smoke_run_writes_results_and_resumes(tmp_path):
    outputs, record = run_chapter_smoke("deepgu", tmp_path)
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 3
    verdicts = {row["quantity"]: row["verdict"] for row in record["comparison"]}
    assert verdicts["DC1 DeepGU RMSE_A"] == "not attempted"            # smoke runs DC2 only
    assert verdicts["DC2 DeepGU RMSE_A"] != "not attempted"
    assert "DC2: DeepGU has the lowest RMSE_A" in verdicts
    assert record["data"]["real"] == {}
    runs = tmp_path / "results/deepgu/smoke/runs"
    assert sorted(p.name for p in runs.iterdir()) == ["dc2.json"]
    stamp = (runs / "dc2.json").stat().st_mtime_ns
    run_chapter_smoke("deepgu", tmp_path)
    assert (runs / "dc2.json").stat().st_mtime_ns == stamp             # reused, not recomputed
