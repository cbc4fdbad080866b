"""The NMF-SAE chapter runs end to end at smoke scale and writes its verdicts."""

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_nmf_sae_smoke_run_writes_results_and_resumes(tmp_path):
    env = {**os.environ, "HU_RESULTS_DIR": str(tmp_path / "results")}
    command = [sys.executable, "-m", "companion", "run", "nmf_sae", "--scale", "smoke",
               "--output", str(tmp_path / "runs")]
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    notebook = json.loads((tmp_path / "runs" / "nmf_sae-smoke.ipynb").read_text())
    outputs = [o for c in notebook["cells"] if c["cell_type"] == "code" for o in c["outputs"]]
    assert not [o for o in outputs if o["output_type"] == "error"]
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 3
    record = json.loads((tmp_path / "results/nmf_sae/smoke/summary.json").read_text())
    verdicts = {row["quantity"]: row["verdict"] for row in record["comparison"]}
    assert verdicts["Jasper mean SAD (rad)"] == "not attempted"        # jasper=False at smoke
    assert "Fig. 3: NMF-SAE beats the baselines" in verdicts
    study = sorted(p.name for p in (tmp_path / "results/nmf_sae/smoke/runs").iterdir())
    assert study == ["snr25.json", "train256.json"]
    stamp = (tmp_path / "results/nmf_sae/smoke/runs/snr25.json").stat().st_mtime_ns
    rerun = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    # the study's records were reused, not recomputed
    assert (tmp_path / "results/nmf_sae/smoke/runs/snr25.json").stat().st_mtime_ns == stamp
