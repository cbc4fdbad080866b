"""``python -m companion study``: a chapter's study without Jupyter, resumable, archived."""

import json
import tarfile
import time

import pytest

from companion import cli, pipeline, study
from companion.experiments import stability

# A real but tiny stability study: Experiment 1 (cheap), N = 2 in blocks of 1, k = 1, 1 epoch;
# Table 3 with 1 initialisation per scheme.
TINY = ["-p", "experiments=[1]", "-p", "initialisations=2", "-p", "runs=1", "-p", "block=1",
        "-p", "reinit_initialisations=1", "-p", "adam_reset_initialisations=0", "-p", "weight_decays=[]"]
TINY_KEYS = ["exp1_init0-0", "exp1_init1-1", "reinit_exp4_keep"]


def test_study_runs_archives_and_a_rerun_reuses_every_record(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HU_RESULTS_DIR", str(tmp_path / "results"))
    archive = tmp_path / "out" / "study.tar.gz"
    assert cli.main(["study", "stability", "--scale", "smoke", *TINY, "--archive", str(archive)]) == 0
    runs = tmp_path / "results" / "stability" / "smoke" / "runs"
    assert sorted(p.stem for p in runs.glob("*.json")) == sorted(TINY_KEYS)
    first = {p.name: p.read_text() for p in runs.glob("*.json")}
    record = json.loads(first["exp1_init0-0.json"])
    assert record["code_roots"] == ["companion.experiments.stability"]
    assert len(record["record"]["he_normal"]["rmse"]) == 1 and record["record"]["he_normal"]["rmse"][0][0] > 0
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        notes = [n for n in names if "/study-provenance/" in n]
        assert sorted(n for n in names if n not in notes) == [
            f"results/stability/smoke/runs/{k}.json" for k in sorted(TINY_KEYS)]
        assert len(notes) == 1 and notes[0].startswith("results/stability/smoke/study-provenance/")
        note = json.load(tar.extractfile(notes[0]))
        assert tar.extractfile(f"results/stability/smoke/runs/{TINY_KEYS[0]}.json").read().decode() == \
            first[f"{TINY_KEYS[0]}.json"]
    assert note["exit_code"] == 0 and note["records_left"] == [] and note["params"]["initialisations"] == 2
    assert set(note["seconds_per_record"]) == {f"runs/{k}" for k in TINY_KEYS} and note["wall_time_s"] > 0
    assert "samson/samson_1.mat" in note["checksums"] and note["device"].startswith("CPU")
    logged = pipeline.read_runs("stability", "smoke")       # the run the summary's `computed` names
    assert len(logged) == 1 and logged[0]["code"] == pipeline.code_hash("stability")
    assert (logged[0]["records"], logged[0]["records_left"], logged[0]["exit_code"]) == (3, 0, 0)

    monkeypatch.setattr(stability.Compute, "__call__", lambda self, c: pytest.fail("recomputed"))
    assert cli.main(["study", "stability", "--scale", "smoke", *TINY]) == 0
    assert {p.name: p.read_text() for p in runs.glob("*.json")} == first
    assert "3 of 3 records done" in capsys.readouterr().out
    # the archive carries the study elsewhere: extracted at another checkout's root, it is reused
    with tarfile.open(archive) as tar:
        tar.extractall(tmp_path / "elsewhere", filter="data")
    monkeypatch.setenv("HU_RESULTS_DIR", str(tmp_path / "elsewhere" / "results"))
    assert cli.main(["study", "stability", "--scale", "smoke", *TINY]) == 0


def _slow(config):
    time.sleep(0.4)
    return {"x": config["x"]}


def test_time_limit_stops_cleanly_with_exit_3_and_the_rerun_completes(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HU_RESULTS_DIR", str(tmp_path / "results"))
    definition = study.StudyDefinition("stability", "smoke", {f"c{i}": {"x": i} for i in range(5)}, {"v": 1},
                                       _slow, ["samson"], "slow study")
    monkeypatch.setattr(pipeline, "plan", lambda chapter, P: {"runs": definition})
    archive = tmp_path / "a.tar.gz"
    # 10 s are kept for the archive: the study itself gets 1.2 s, time for one to two 0.4 s records
    # (loading Samson counts too), so it stops with some records left
    limit = str(cli.ARCHIVE_RESERVE_S + 1.2)
    assert cli.main(["study", "stability", "--scale", "smoke", "--time-limit", limit,
                     "--archive", str(archive)]) == cli.EXIT_TIME_LIMIT
    runs = tmp_path / "results" / "stability" / "smoke" / "runs"
    done = sorted(p.stem for p in runs.glob("*.json"))
    left = [f"c{i}" for i in range(len(done), 5)]
    assert done == [f"c{i}" for i in range(len(done))] and 1 <= len(done) <= 3  # in order, none half-written
    err = capsys.readouterr().err
    assert f"stopped at the time limit with {len(done)} of 5 records done" in err and ", ".join(left) in err
    with tarfile.open(archive) as tar:
        note = json.load(tar.extractfile([n for n in tar.getnames() if "provenance" in n][0]))
        assert len([n for n in tar.getnames() if "/runs/" in n]) == len(done)
    assert note["records_left"] == left and note["exit_code"] == cli.EXIT_TIME_LIMIT
    assert cli.main(["study", "stability", "--scale", "smoke"]) == 0
    assert sorted(p.stem for p in runs.glob("*.json")) == [f"c{i}" for i in range(5)]


def test_a_raising_record_exits_1_and_keeps_the_finished_ones(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HU_RESULTS_DIR", str(tmp_path / "results"))

    def fails_on_two(config):
        if config["x"] == 2:
            raise FloatingPointError("diverged")
        return {"x": config["x"]}

    definition = study.StudyDefinition("stability", "smoke", {f"c{i}": {"x": i} for i in range(4)}, {},
                                       fails_on_two, [], "failing study")
    monkeypatch.setattr(pipeline, "plan", lambda chapter, P: {"runs": definition})
    assert cli.main(["study", "stability", "--scale", "smoke"]) == 1
    err = capsys.readouterr().err
    assert "a record raised FloatingPointError: diverged" in err
    assert "rerunning the same command resumes" in err
    runs = tmp_path / "results" / "stability" / "smoke" / "runs"
    assert sorted(p.stem for p in runs.glob("*.json")) == ["c0", "c1"]


@pytest.mark.parametrize(("args", "message"), [
    (["--time-limit", "5"], "--time-limit must exceed 10 s"),
    (["-p", "runs=0"], "runs"),
    (["-p", "experiments=[11]"], "experiments"),
])
def test_bad_input_exits_2_before_any_work(args, message, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HU_RESULTS_DIR", str(tmp_path / "results"))
    monkeypatch.setattr(pipeline, "run", lambda *a, **k: pytest.fail("started"))
    assert cli.main(["study", "stability", "--scale", "smoke", *args]) == 2
    assert message in capsys.readouterr().err


def test_only_chapters_with_a_package_study_are_offered(capsys):
    with pytest.raises(SystemExit):
        cli.main(["study", "datasets"])
    assert "invalid choice: 'datasets'" in capsys.readouterr().err
