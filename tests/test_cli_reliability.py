"""The command line as a new user meets it: relative paths, full disks, unwritable folders,
interrupts and bad parameters each end in one or two lines that say what to do, before any work
where they can be found before it."""

import errno
import os

import pytest

from companion import cli, pipeline, study


def toy_plan(tmp_path, calls):
    """A chapter plan of two records that counts its computations."""
    def compute(config):
        calls.append(config["x"])
        return {"y": config["x"]}

    def plan(chapter, P):
        return {"main": study.StudyDefinition(chapter, P["scale"], {"c0": {"x": 0}, "c1": {"x": 1}}, {},
                                              compute, [], "toy study")}
    return plan


@pytest.fixture
def toy(tmp_path, monkeypatch):
    """Every chapter given a toy study plan (records under tmp_path/results)."""
    calls = []
    monkeypatch.setenv("HU_RESULTS_DIR", str(tmp_path / "results"))
    monkeypatch.setattr(pipeline, "has_pipeline", lambda chapter: True)
    monkeypatch.setattr(pipeline, "plan", toy_plan(tmp_path, calls))
    return calls


def _lines(text):
    return [line for line in text.splitlines() if line.strip()]


def test_relative_environment_paths_reach_the_kernel_absolute(tmp_path, monkeypatch, capsys):
    seen = {}
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HU_RESULTS_DIR", "my-results")
    monkeypatch.setenv("HU_CACHE_DIR", "~/cache")
    monkeypatch.setattr(cli, "run_chapter", lambda *a: seen.update(os.environ))
    assert cli.main(["run", "datasets", "--scale", "smoke", "--output", str(tmp_path / "out")]) == 0
    assert seen["HU_RESULTS_DIR"] == str(tmp_path / "my-results")
    assert seen["HU_CACHE_DIR"] == os.path.expanduser("~/cache")


def test_relative_results_dir_puts_study_records_where_the_user_meant(tmp_path, monkeypatch, toy):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HU_RESULTS_DIR", "rel")
    assert cli.main(["study", "mtl", "--scale", "smoke"]) == 0
    assert sorted(p.name for p in (tmp_path / "rel" / "mtl" / "smoke" / "runs").glob("*.json")) == [
        "c0.json", "c1.json"]


def test_scale_given_as_a_parameter_says_use_scale(capsys):
    assert cli.main(["run", "datasets", "-p", "scale=paper"]) == 2
    err = capsys.readouterr().err
    assert "use --scale paper" in err and len(_lines(err)) == 1


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("command", ["run", "study"])
def test_cuda_without_a_gpu_is_one_line_before_any_work(command, toy, capsys):
    assert cli.main([command, "mtl", "--scale", "smoke", "-p", "device=cuda"]) == 2
    err = capsys.readouterr().err
    assert len(_lines(err)) == 1 and "no CUDA GPU" in err and toy == []


def test_a_huge_value_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["run", "datasets", "-p", "datasets=" + "[" * 200_001])
    assert stop.value.code == 2 and "characters (at most 100,000)" in capsys.readouterr().err


def test_an_unwritable_study_folder_is_found_before_any_record(tmp_path, toy, capsys):
    runs = tmp_path / "results" / "mtl" / "smoke" / "runs"
    runs.parent.mkdir(parents=True)
    runs.write_text("a file where the records folder should be")
    assert cli.main(["study", "mtl", "--scale", "smoke"]) == 2
    err = capsys.readouterr().err
    assert "study records folder" in err and str(runs) in err and toy == [] and len(_lines(err)) == 1


def test_a_full_disk_on_output_is_one_line_and_leaves_no_empty_notebook(tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"

    def full(chapter, params, overrides, output):
        (output / f"{chapter}-smoke.ipynb").write_text("")
        raise OSError(errno.ENOSPC, "No space left on device", str(output / f"{chapter}-smoke.ipynb"))

    monkeypatch.setattr(cli, "run_chapter", full)
    assert cli.main(["run", "datasets", "--scale", "smoke", "--output", str(out)]) == 1
    err = capsys.readouterr().err
    assert "No space left on device" in err and "--output" in err and len(_lines(err)) == 1
    assert not (out / "datasets-smoke.ipynb").exists()


def test_a_full_disk_for_the_archive_keeps_the_time_limit_exit_code(tmp_path, monkeypatch, toy, capsys):
    def stop(*args, **kwargs):
        raise study.TimeLimitReached(["c0"], ["c1"])

    monkeypatch.setattr(pipeline, "run", stop)
    monkeypatch.setattr(cli, "archive_study", lambda *a: (_ for _ in ()).throw(
        OSError(errno.ENOSPC, "No space left on device")))
    code = cli.main(["study", "mtl", "--scale", "smoke", "--time-limit", "60",
                     "--archive", str(tmp_path / "a.tar.gz")])
    err = capsys.readouterr().err
    assert code == cli.EXIT_TIME_LIMIT and "Traceback" not in err
    assert "could not write the archive" in err and "No space left on device" in err


def test_ctrl_c_exits_130_with_one_line_on_what_is_kept(tmp_path, monkeypatch, toy, capsys):
    monkeypatch.setattr(cli, "run_chapter", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt))
    assert cli.main(["run", "datasets", "--scale", "smoke", "--output", str(tmp_path / "o")]) == 130
    err = capsys.readouterr().err
    assert len(_lines(err)) == 1 and "interrupted" in err and "rerunning the same command resumes" in err


def test_a_failed_run_of_a_chapter_without_studies_promises_no_resume(tmp_path, monkeypatch, capsys):
    from papermill import PapermillExecutionError

    def fails(*args):
        raise PapermillExecutionError(3, 1, "x = 1", "ValueError", "bad", [])

    monkeypatch.setattr(cli, "run_chapter", fails)
    assert cli.main(["run", "datasets", "--scale", "smoke", "--output", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "cell 1 raised ValueError: bad" in err and "resume" not in err
