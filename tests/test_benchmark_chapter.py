"""The benchmark chapter runs end to end at smoke scale: tables, figures, claims, resumable records."""

from conftest import run_chapter_smoke

from companion.methods import METHODS


def test_benchmark_smoke_run_writes_ranks_and_claims(tmp_path):
    outputs, record = run_chapter_smoke("benchmark", tmp_path)
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 3   # heat maps, CD, time
    rows = {row["key"]: row for row in record["comparison"]}
    claims = [k for k in rows if k.startswith("claim_")]
    assert claims == [f"claim_{m}{home}" for m in ("mtl", "uadmm_bunet_ii", "nmf_sae", "deepgu")
                      for home in ("", "_home")]
    assert all(rows[k]["verdict"] in ("supported", "partly", "not supported") for k in claims
               if k in ("claim_mtl", "claim_mtl_home") or not k.endswith("_home"))
    assert rows["claim_deepgu_home"]["verdict"] == "not attempted"          # no DC1 / DC2 at smoke
    assert {"first_urban_crop", "first_gbm_snr30"} <= set(rows)
    records = record["data"]["records"]
    # every (method, scene) of the main run has a record; NLAEU says why it skips the SiVM start
    assert len(records) == 2 * len(METHODS) * 2
    assert records["gbm_snr30+nlaeu+sivm+0"]["status"] == "not run"
    assert all(r["status"] == "ok" for k, r in records.items() if "+vca+" in k)
    ranks = record["data"]["ranks"]["sad_mean"]
    assert sorted(ranks["methods"]) == sorted(METHODS) and len(ranks["average"]) == len(METHODS)
    stamp = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "results/benchmark/smoke/runs").glob("*.json")}
    run_chapter_smoke("benchmark", tmp_path)                              # resumes: nothing recomputed
    assert {p.name: p.stat().st_mtime_ns
            for p in (tmp_path / "results/benchmark/smoke/runs").glob("*.json")} == stamp
