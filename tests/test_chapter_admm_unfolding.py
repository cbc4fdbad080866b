"""The U-ADMM chapter runs end to end at smoke scale and writes its verdicts."""

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_admm_unfolding_smoke_run_writes_results_and_resumes(tmp_path):
    env = {**os.environ, "HU_RESULTS_DIR": str(tmp_path / "results")}
    command = [sys.executable, "-m", "companion", "run", "admm_unfolding", "--scale", "smoke",
               "--output", str(tmp_path / "runs")]
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    notebook = json.loads((tmp_path / "runs" / "admm_unfolding-smoke.ipynb").read_text())
    outputs = [o for c in notebook["cells"] if c["cell_type"] == "code" for o in c["outputs"]]
    assert not [o for o in outputs if o["output_type"] == "error"]
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 6
    record = json.loads((tmp_path / "results/admm_unfolding/smoke/summary.json").read_text())
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
    rerun = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert (runs / "fig11.json").stat().st_mtime_ns == stamp           # reused, not recomputed
