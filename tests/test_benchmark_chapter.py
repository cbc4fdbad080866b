"""The benchmark chapter runs end to end at smoke scale: tables, figures, claims, resumable
records, and its summary is plan -> compute -> report of the package on the same records."""

import json

from conftest import run_chapter_smoke

from companion import pipeline
from companion.chapters import benchmark as chapter
from companion.chapters import resolve_parameters, targets
from companion.jsonio import to_strict
from companion.methods import METHODS
from companion.verdicts import check_rows


def test_benchmark_smoke_run_writes_ranks_and_claims(tmp_path, monkeypatch):
    outputs, summary = run_chapter_smoke("benchmark", tmp_path)
    # heat maps, CD, time, maps, tracks, yours
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 7
    rows = {row["key"]: row for row in summary["comparison"]}
    assert list(rows) == [c.key for c in chapter.CLAIMS]                 # findings are not targets
    attempted = {k for k, r in rows.items() if r["verdict"] != "not attempted"}
    assert attempted == {"claim_mtl", "claim_mtl_home", "claim_uadmm_bunet_ii", "claim_nmf_sae",
                         "claim_deepgu"}
    assert rows["claim_deepgu_home"]["ours"] is None
    assert rows["claim_deepgu_home"]["reason"]["evidence"] == \
        "no scene of the paper's kind (dc1, dc2) in this run"             # no DC1 / DC2 at smoke
    assert all(rows[k]["wins"] + rows[k]["losses"] + rows[k]["ties"] > 0 for k in attempted)
    check_rows(summary["comparison"], targets("benchmark"), "smoke summary", "benchmark")
    assert [f["key"] for f in summary["data"]["findings"]] == ["first_urban_crop", "first_gbm_snr30"]
    ranks = summary["data"]["ranks"]["sad_mean"]
    assert sorted(ranks["methods"]) == sorted(METHODS) and len(ranks["average"]) == len(METHODS)

    # the same plan, records and report in this process give the notebook's numbers
    monkeypatch.setenv("HU_RESULTS_DIR", str(tmp_path / "results"))
    folder = tmp_path / "results/benchmark/smoke/runs"
    P = resolve_parameters("benchmark", "smoke")
    assert summary["provenance"]["params"] == P
    records = pipeline.load_records("benchmark", P)
    assert {name: len(study) for name, study in records.items()} == {"main": 30, "sensitivity": 30,
                                                                      "supervised": 6, "library": 8}
    # the tracks: ranked, every estimator with a result on every scene; estimates saved
    tracks = summary["data"]["tracks"]
    assert not tracks["library"]["ranks"]["sre_db"]["dropped"]
    assert all(r["status"] == "ok" for track in ("supervised", "library") for r in records[track].values())
    assert sorted(tracks["supervised"]["ranks"]["rmse_a"]["methods"]) == ["fcls", "ncls", "sunsal_tv"]
    assert set(summary["data"]["user_metrics"]) == {"sad", "abundances"}
    assert len(list(folder.glob("*.npz"))) == 58              # every ok record (NLAEU skips SiVM)
    # every (method, scene) of the main run has a record; NLAEU says why it skips the SiVM start
    assert records["sensitivity"]["gbm_snr30+nlaeu+sivm+0"]["status"] == "not run"
    assert all(r["status"] == "ok" for r in records["main"].values())
    result = pipeline.report("benchmark", P, records)
    fresh = json.loads(json.dumps(to_strict({"comparison": result.comparison, "data": result.data})[0]))
    assert fresh == {"comparison": summary["comparison"], "data": summary["data"]}

    stamp = {p.name: p.stat().st_mtime_ns for p in folder.glob("*.json")}
    assert len(stamp) == 60
    run_chapter_smoke("benchmark", tmp_path)                              # resumes: nothing recomputed
    assert {p.name: p.stat().st_mtime_ns for p in folder.glob("*.json")} == stamp
