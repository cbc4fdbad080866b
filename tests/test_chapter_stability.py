"""The stability chapter runs end to end at smoke scale, its numbers are the pipeline's, it resumes."""

import json
import re
from pathlib import Path

from conftest import run_chapter_smoke

from companion import pipeline
from companion.chapters import resolve_parameters

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "stability.md"


def test_notebook_only_calls_the_pipeline():
    cells = re.findall(r"```\{code-cell\} ipython3\n(.*?)```", NOTEBOOK.read_text(), flags=re.S)
    assert cells[0].startswith(":tags: [parameters, hide-input]")
    first = cells[1]
    assert not first.startswith(":tags:") and len(first.strip().splitlines()) <= 10  # visible, short
    assert 'pipeline.run("stability", P' in first and 'pipeline.report("stability", P, records)' in first
    code = "\n".join(cells)
    assert not re.search(r"^def |^\s+def ", code, flags=re.M)  # no notebook functions
    for computing in ("np.nanmean", "np.mean", "stats.", "compare(", "verdict"):
        assert computing not in code, computing


def test_stability_smoke_run_equals_the_pipeline_and_resumes(tmp_path, monkeypatch):
    outputs, record = run_chapter_smoke("stability", tmp_path)
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 4
    verdicts = {row["key"]: row["verdict"] for row in record["comparison"]}
    assert verdicts["significant_h_share"] != "not attempted" and "reinit_direction" in verdicts
    runs = tmp_path / "results/stability/smoke/runs"
    assert sorted(p.name for p in runs.iterdir()) == [
        "exp1_init0-2.json",
        "exp4_init0-2.json",
        "reinit_exp4_keep.json",
        "reinit_exp4_reset.json",
        "reinit_exp4_wd0.0001.json",
    ]
    # plan -> compute -> report outside the notebook gives the notebook's numbers
    monkeypatch.setenv("HU_RESULTS_DIR", str(tmp_path / "results"))
    P = resolve_parameters("stability", "smoke")
    assert record["provenance"]["params"] == P
    result = pipeline.report("stability", P, pipeline.load_records("stability", P))
    assert json.loads(json.dumps(result.comparison)) == record["comparison"]
    assert result.data["ours"] == record["data"]["ours"]
    assert record["code"] == pipeline.code_hash("stability")
    stamp = (runs / "exp4_init0-2.json").stat().st_mtime_ns
    run_chapter_smoke("stability", tmp_path)
    assert (runs / "exp4_init0-2.json").stat().st_mtime_ns == stamp  # reused, not recomputed
