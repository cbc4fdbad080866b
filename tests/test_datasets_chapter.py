"""The Datasets and metrics chapter: its numbers come from companion.reports.datasets, and the
notebook writes exactly what those functions compute."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from companion import classic, data, metrics
from companion.chapters import resolve_parameters
from companion.pipeline import has_pipeline, same_numbers
from companion.reports import datasets as rep


@pytest.fixture(scope="module")
def samson():
    return data.load("samson")


def test_score_of_the_truth_is_perfect(samson):
    s = rep.score(samson, samson.endmembers, samson.abundances)
    assert set(s) == set(rep.METRICS)
    assert s["sad_deg"] < 1e-5 and s["rmse_global"] == 0.0 and s["rmse_per_pixel_mean"] == 0.0
    assert s["sre_db"] == np.inf or s["sre_db"] > 100


def test_baselines_are_the_mean_and_std_of_the_vca_runs(samson):
    P = resolve_parameters("datasets", "smoke", vca_runs=2)
    scenes = {"samson": samson}
    found = rep.baselines(P, scenes, "cpu")
    rows = found.table["samson"]
    assert set(rows) == {"FCLS, true E", "VCA + FCLS"}
    assert all(std == 0.0 for _, std in rows["FCLS, true E"].values())
    runs = []
    for seed in (P["seed"], P["seed"] + 1):
        E = classic.vca(samson.Y, samson.p, seed=seed)[0]
        E_hat, A_hat = rep.matched_fcls(samson, E, "hungarian", "cpu")
        runs.append(rep.score(samson, E_hat, A_hat))
    for key in rep.METRICS:
        mean, std = rows["VCA + FCLS"][key]
        assert mean == pytest.approx(np.mean([r[key] for r in runs]), rel=1e-12)
        assert std == pytest.approx(np.std([r[key] for r in runs]), rel=1e-9, abs=1e-15)
    matching = rep.matching_rows(P, scenes, found)
    assert list(matching[0]) == ["scene", *metrics.MATCHING_METHODS]
    assert matching[0]["hungarian"] == pytest.approx(rows["VCA + FCLS"]["sad_deg"][0], rel=1e-9)


def test_samson_scale_fits_better_than_the_given_endmembers(samson):
    scale = rep.samson_scale(samson, "cpu")
    assert scale["residual_scaled"] < scale["residual_given"]
    assert scale["rescaled"]["re"] < scale["given"]["re"]
    assert scale["pure_means"].shape == samson.endmembers.shape


def test_urban_falls_back_to_its_crop_only_when_absent():
    hsi, note = rep.scene_with_fallback("urban")
    if note:
        assert (hsi.rows, hsi.cols) == (34, 78)
    else:
        assert (hsi.rows, hsi.cols) == (307, 307)
    assert rep.scene_with_fallback("samson")[1] == ""


def test_datasets_chapter_has_no_pipeline():
    """No study: the chapter computes in its report module and has no experiments module."""
    assert not has_pipeline("datasets")


def _smoke_run(tmp_path: Path) -> tuple[list[dict], dict]:
    """``python -m companion run datasets --scale smoke`` with results under ``tmp_path``: the
    executed notebook's code-cell outputs and ``baselines.json`` (conftest's helper reads a
    ``summary.json``, which this chapter does not write)."""
    env = {**os.environ, "HU_RESULTS_DIR": str(tmp_path / "results")}
    command = [sys.executable, "-m", "companion", "run", "datasets", "--scale", "smoke", "--output",
               str(tmp_path / "runs")]
    result = subprocess.run(command, cwd=Path(__file__).resolve().parents[1], env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    notebook = json.loads((tmp_path / "runs" / "datasets-smoke.ipynb").read_text())
    outputs = [o for c in notebook["cells"] if c["cell_type"] == "code" for o in c["outputs"]]
    assert not [o for o in outputs if o["output_type"] == "error"]
    return outputs, json.loads((tmp_path / "results" / "datasets" / "smoke" / "baselines.json").read_text())


def test_datasets_smoke_run_writes_what_the_report_computes(tmp_path, samson):
    outputs, record = _smoke_run(tmp_path)
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 4
    assert record["comparison"] == []
    P = record["provenance"]["params"]
    scenes, notes = rep.load_scenes(P)
    found = rep.baselines(P, scenes, "cpu")
    expected = rep.result_data(scenes, notes, found, rep.matching_rows(P, scenes, found),
                               rep.samson_scale(scenes["samson"], "cpu"))
    stored = json.loads(json.dumps(record["data"]))
    assert same_numbers(json.loads(json.dumps(expected, default=lambda a: np.asarray(a).tolist())),
                        stored) is None
