"""Test configuration: staged data next to the project when HU_DATA_DIR is unset; one thread per
xdist worker (``addopts = -n auto``: the workers share the cores)."""

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
STAGED = REPO.parent / "shared" / "data"

if os.environ.get("PYTEST_XDIST_WORKER"):  # one worker per core: each worker single-threaded
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, "1")

if "HU_DATA_DIR" not in os.environ and STAGED.is_dir():
    os.environ["HU_DATA_DIR"] = str(STAGED)


@pytest.fixture
def staged_data_dir() -> Path:
    """The data directory the tests read (fails clearly when there is none)."""
    value = os.environ.get("HU_DATA_DIR")
    if not value or not Path(value).is_dir():
        pytest.fail("set HU_DATA_DIR to a directory laid out like shared/data")
    return Path(value)


def run_chapter_smoke(chapter: str, tmp_path: Path, params: tuple[str, ...] = (),
                      env: dict | None = None) -> tuple[list[dict], dict]:
    """Run ``python -m companion run CHAPTER --scale smoke`` with results under ``tmp_path``.

    ``params`` are ``name=value`` overrides (``-p``); ``env`` adds environment variables. Asserts
    it succeeded without error outputs; returns the executed notebook's code-cell outputs and the
    chapter's ``summary.json`` record.
    """
    import json
    import subprocess
    import sys

    env = {**os.environ, "HU_RESULTS_DIR": str(tmp_path / "results"), **(env or {})}
    command = [sys.executable, "-m", "companion", "run", chapter, "--scale", "smoke",
               "--output", str(tmp_path / "runs"), *(arg for p in params for arg in ("-p", p))]
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    notebook = json.loads((tmp_path / "runs" / f"{chapter}-smoke.ipynb").read_text())
    outputs = [o for c in notebook["cells"] if c["cell_type"] == "code" for o in c["outputs"]]
    assert not [o for o in outputs if o["output_type"] == "error"]
    record = json.loads((tmp_path / "results" / chapter / "smoke" / "summary.json").read_text())
    return outputs, record
