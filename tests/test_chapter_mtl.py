"""The MTL chapter runs end to end at smoke scale, writes its claims table and resumes."""

import json

from conftest import run_chapter_smoke


def test_mtl_smoke_run_writes_claims_and_resumes(tmp_path):
    outputs, record = run_chapter_smoke("mtl", tmp_path)
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 3
    verdicts = {row["quantity"]: row["verdict"] for row in record["comparison"]}
    assert verdicts["Cuprite (12 endmembers)"] == "not attempted"
    claims = [q for q in verdicts if q[0] in "123"]
    assert len(claims) == 3                                           # p_large = 0, no real scene
    assert all(verdicts[q] in ("supported", "partly", "not supported") for q in claims)
    runs = tmp_path / "results/mtl/smoke/runs"
    assert sorted(p.name for p in runs.glob("*.json")) == ["gbm_p4_snr30.json"]
    assert sorted(p.name for p in (runs / "sensitivity").iterdir()) == ["alpha_0.1.json"]
    stamp = (runs / "gbm_p4_snr30.json").stat().st_mtime_ns
    damaged = runs / "sensitivity" / "alpha_0.1.json"
    damaged.write_text(damaged.read_text()[:100])  # e.g. a disk that filled up mid-write
    outputs, _ = run_chapter_smoke("mtl", tmp_path)
    assert (runs / "gbm_p4_snr30.json").stat().st_mtime_ns == stamp  # reused, not recomputed
    texts = ["".join(o["text"]) for o in outputs if o.get("name") == "stderr"]
    warned = [text for text in texts if "DamagedRecordWarning" in text]
    assert len(warned) == 1 and "alpha_0.1.json" in warned[0]      # named, then recomputed:
    assert json.loads(damaged.read_text())["record"]["mtl"]["sad"]
    assert len(list((runs / "sensitivity").glob("alpha_0.1.json.damaged-*"))) == 1  # kept aside
