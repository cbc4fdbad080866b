"""The command line: fast parameter errors, literal parsing, and a real smoke run."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from companion.cli import main, parse_assignment

REPO = Path(__file__).resolve().parents[1]


def run_cli(*args, env=None, timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "companion", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("seed=3", ("seed", 3)),
        ("device=cuda", ("device", "cuda")),
        ("datasets=['samson', 'jasper']", ("datasets", ["samson", "jasper"])),
        ("lr=1e-3", ("lr", 0.001)),
        ("name=a=b", ("name", "a=b")),
        (" x =True", ("x", True)),
    ],
)
def test_parse_assignment_uses_python_literals_else_strings(text, expected):
    assert parse_assignment(text) == expected


def test_misspelled_parameter_fails_fast_with_a_helpful_message():
    started = time.perf_counter()
    result = run_cli("run", "datasets", "--scale", "smoke", "-p", "devcie=cuda")
    elapsed = time.perf_counter() - started
    assert result.returncode == 2
    assert elapsed < 10, f"took {elapsed:.1f} s"
    assert "unknown parameter" in result.stderr and "did you mean 'device'" in result.stderr
    assert "seed (int, >= 0" in result.stderr  # lists valid names, types and ranges


def test_wrong_type_and_unknown_chapter_fail_before_any_kernel(capsys):
    assert main(["run", "datasets", "-p", "seed=one"]) == 2
    assert "'seed' must be int" in capsys.readouterr().err
    assert main(["run", "stabilty"]) == 2
    assert "chapters: [" in (err := capsys.readouterr().err) and "'datasets'" in err


def test_bad_scale_is_rejected_by_the_parser():
    result = run_cli("run", "datasets", "--scale", "huge")
    assert result.returncode == 2 and "invalid choice: 'huge'" in result.stderr


def test_list_shows_chapters_scales_and_parameters(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "datasets" in out and "smoke, book, paper" in out and "vca_runs (int, >= 1)" in out


def test_smoke_run_end_to_end(tmp_path):
    """`python -m companion run datasets --scale smoke` executes the chapter and writes results."""
    started = time.perf_counter()
    result = run_cli(
        "run",
        "datasets",
        "--scale",
        "smoke",
        "-p",
        "seed=2",
        "--output",
        str(tmp_path / "runs"),
        env={"HU_RESULTS_DIR": str(tmp_path / "results")},
        timeout=300,
    )
    elapsed = time.perf_counter() - started
    assert result.returncode == 0, result.stderr[-3000:]
    executed = tmp_path / "runs" / "datasets-smoke.ipynb"
    assert f"executed notebook: {executed}" in result.stdout
    assert "Executing" in result.stderr  # papermill's progress bar
    notebook = json.loads(executed.read_text())
    outputs = [o for c in notebook["cells"] if c["cell_type"] == "code" for o in c["outputs"]]
    assert not [o for o in outputs if o["output_type"] == "error"]
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 3
    record = json.loads((tmp_path / "results/datasets/smoke/baselines.json").read_text())
    assert record["provenance"]["params"]["seed"] == 2
    assert record["provenance"]["wall_time_s"] > 0
    assert set(record["data"]["baselines"]) == {"samson"}
    sad_vca = record["data"]["baselines"]["samson"]["VCA + FCLS"]["sad_deg"][0]
    assert 0 < sad_vca < 20  # VCA finds Samson's three materials to within a few degrees
    assert elapsed < 120, f"smoke run took {elapsed:.0f} s"


# ------------------------------------------------------------------ reliability cases (issue 16)
@pytest.mark.parametrize(
    ("param", "expected"),
    [("runs=0", "'runs': 0 is not valid"), ("lr=1e400", "'lr': inf is not valid"),
     ("seed=-1", "'seed': -1 is not valid"), ("device=gpu", "'device': 'gpu' is not valid"),
     ("real_runs=9", "must not exceed runs")],
)
def test_out_of_range_values_exit_2_before_any_kernel(capsys, param, expected):
    assert main(["run", "mtl", "--scale", "smoke", "-p", param]) == 2
    assert expected in capsys.readouterr().err


def test_output_that_is_a_file_or_unwritable_results_exit_2(tmp_path, capsys, monkeypatch):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    assert main(["run", "datasets", "--scale", "smoke", "--output", str(a_file)]) == 2
    assert f"output folder (--output) {a_file} is a file" in capsys.readouterr().err
    assert main(["run", "datasets", "--scale", "smoke", "--output", str(a_file / "sub")]) == 2
    assert "is not writable" in capsys.readouterr().err
    monkeypatch.setenv("HU_RESULTS_DIR", str(a_file / "results"))  # under a file: cannot be created
    assert main(["run", "datasets", "--scale", "smoke", "--output", str(tmp_path / "out")]) == 2
    assert "results folder" in (err := capsys.readouterr().err) and "not writable" in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores folder permissions")
def test_read_only_results_folder_exit_2(tmp_path, capsys, monkeypatch):
    results = tmp_path / "results"
    results.mkdir()
    results.chmod(0o555)
    monkeypatch.setenv("HU_RESULTS_DIR", str(results))
    assert main(["run", "datasets", "--scale", "smoke", "--output", str(tmp_path / "out")]) == 2
    assert "not writable" in capsys.readouterr().err


def test_dead_kernel_says_that_a_rerun_resumes(tmp_path, capsys, monkeypatch):
    """A kernel killed mid-run (as by the out-of-memory killer) gives two lines, not a traceback;
    the second says what is kept (the chapter has studies)."""
    import companion.cli as cli

    (tmp_path / "mtl.md").write_text(
        "---\njupytext:\n  text_representation:\n    extension: .md\n    format_name: myst\n"
        "    format_version: 0.13\nkernelspec:\n  display_name: Python 3\n  language: python\n"
        "  name: python3\n"
        "---\n\n```{code-cell} ipython3\n:tags: [parameters]\n\nscale = None\n```\n\n"
        "```{code-cell} ipython3\nimport os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n```\n"
    )
    monkeypatch.setattr(cli, "NOTEBOOKS", tmp_path)
    monkeypatch.setenv("HU_RESULTS_DIR", str(tmp_path / "results"))
    assert main(["run", "mtl", "--scale", "smoke", "--output", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "the kernel running mtl died" in err and "out-of-memory" in err
    assert "rerunning the same command resumes" in err and "Traceback" not in err


def test_staged_data_next_to_the_checkout_is_used_when_hu_data_dir_is_unset(tmp_path, monkeypatch, capsys):
    import companion.cli as cli

    monkeypatch.setattr(cli, "STAGED_DATA", tmp_path)
    monkeypatch.delenv("HU_DATA_DIR", raising=False)
    cli.use_staged_data()
    assert os.environ["HU_DATA_DIR"] == str(tmp_path) and "using staged data" in capsys.readouterr().out
    monkeypatch.setenv("HU_DATA_DIR", "/elsewhere")
    cli.use_staged_data()
    assert os.environ["HU_DATA_DIR"] == "/elsewhere"  # an explicit setting wins


def test_study_notes_repeat_damaged_and_recomputed_records_on_the_terminal():
    import nbformat

    from companion.cli import study_notes

    cell = nbformat.v4.new_code_cell("")
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stderr",
                               text="x.py:1: DamagedRecordWarning: study record a.json is damaged\n"),
        nbformat.v4.new_output("stream", name="stdout",
                               text="claims: recomputing 2 stored record(s) in d: code changed\nok\n"),
    ]
    notebook = nbformat.v4.new_notebook(cells=[cell])
    notes = study_notes(notebook)
    assert len(notes) == 2 and "a.json is damaged" in notes[0] and "code changed" in notes[1]
