"""The NMF-SAE chapter runs end to end at smoke scale, writes its verdicts and resumes."""

from conftest import run_chapter_smoke


def test_nmf_sae_smoke_run_writes_results_and_resumes(tmp_path):
    outputs, record = run_chapter_smoke("nmf_sae", tmp_path)
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 3
    verdicts = {row["quantity"]: row["verdict"] for row in record["comparison"]}
    assert verdicts["Jasper mean SAD (rad)"] == "not attempted"        # jasper=False at smoke
    assert "Fig. 3: NMF-SAE beats the baselines" in verdicts
    runs = tmp_path / "results/nmf_sae/smoke/runs"
    assert sorted(p.name for p in runs.iterdir()) == ["snr25.json", "train256.json"]
    stamp = (runs / "snr25.json").stat().st_mtime_ns
    run_chapter_smoke("nmf_sae", tmp_path)
    assert (runs / "snr25.json").stat().st_mtime_ns == stamp           # reused, not recomputed
