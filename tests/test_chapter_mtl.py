"""The MTL chapter runs end to end at smoke scale, its numbers are the pipeline's, and it resumes."""

import json

from conftest import run_chapter_smoke

from companion import pipeline
from companion.chapters import resolve_parameters
from companion.jsonio import to_strict


def test_mtl_smoke_run_is_the_pipeline_and_resumes(tmp_path, monkeypatch):
    outputs, summary = run_chapter_smoke("mtl", tmp_path)
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 3
    verdicts = {row["quantity"]: row["verdict"] for row in summary["comparison"]}
    assert verdicts["Cuprite (12 endmembers)"] == "not attempted"
    assert verdicts["4. the advantage holds with 12 endmembers"] == "not attempted"     # p_large = 0
    claims = [row for row in summary["comparison"] if row["quantity"][0] in "123"]
    assert len(claims) == 3 and all(row["wins"] + row["losses"] > 0 for row in claims)
    runs = tmp_path / "results/mtl/smoke/runs"
    assert sorted(p.name for p in runs.glob("*.json")) == ["gbm_p4_snr30.json"]
    assert sorted(p.name for p in (runs / "sensitivity").iterdir()) == ["alpha_0.1.json"]

    # the notebook's summary is the report of its records (plan -> compute -> report) ...
    monkeypatch.setenv("HU_RESULTS_DIR", str(tmp_path / "results"))
    P = resolve_parameters("mtl", "smoke")
    records = pipeline.load_records("mtl", P)
    assert summary["comparison"] == to_strict(pipeline.report("mtl", P, records).comparison)[0]
    # ... and computing the plan again in this process gives the same records, bit for bit
    monkeypatch.setenv("HU_RESULTS_DIR", str(tmp_path / "again"))
    again = pipeline.run("mtl", P)
    assert pipeline.same_numbers(again, records) is None

    monkeypatch.setenv("HU_RESULTS_DIR", str(tmp_path / "results"))
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
