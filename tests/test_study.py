"""Resumable studies: interrupted runs resume without losing or duplicating work."""

import json
import math
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from companion import study
from companion.data import registry
from companion.study import DamagedRecordWarning, run_study

REPO = Path(__file__).resolve().parents[1]


class Interrupted(Exception):
    """Stands in for the user stopping a study (e.g. Ctrl-C or a killed kernel)."""


def test_interrupted_study_resumes_without_duplicates(tmp_path):
    configs = {f"c{i}": {"x": i} for i in range(5)}
    calls, stop_at = [], [3]

    def flaky(config):
        if config["x"] in stop_at:
            stop_at.clear()
            raise Interrupted  # the study is stopped once, during the fourth configuration
        calls.append(config["x"])
        return {"y": config["x"] ** 2}

    with pytest.raises(Interrupted):
        run_study(configs, flaky, tmp_path, protocol={"v": 1}, progress=False)
    assert calls == [0, 1, 2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c0.json", "c1.json", "c2.json"]

    results = run_study(configs, flaky, tmp_path, protocol={"v": 1}, progress=False)
    assert calls == [0, 1, 2, 3, 4]                      # only the missing ones ran
    assert [r["y"] for r in results.values()] == [0, 1, 4, 9, 16]
    assert list(results) == list(configs)


def test_changed_protocol_recomputes(tmp_path):
    calls = []

    def compute(config):
        calls.append(config["x"])
        return {"y": config["x"]}

    run_study({"a": {"x": 1}}, compute, tmp_path, protocol={"iterations": 10}, progress=False)
    run_study({"a": {"x": 1}}, compute, tmp_path, protocol={"iterations": 10}, progress=False)
    assert calls == [1]
    run_study({"a": {"x": 1}}, compute, tmp_path, protocol={"iterations": 20}, progress=False)
    assert calls == [1, 1]
    stored = json.loads((tmp_path / "a.json").read_text())
    assert stored["config"] == {"x": 1} and stored["record"] == {"y": 1}


def test_a_record_that_did_not_run_is_asked_again_and_computed_once_it_can(tmp_path, capsys):
    """A configuration declined for an absent user-supplied image is computed once the image
    is there; while it still cannot run, its file is not rewritten and no recomputation is reported."""
    supplied, calls = tmp_path / "supplied", []

    def compute(config):
        calls.append(config["x"])
        if config["x"] == 1 and not supplied.exists():
            return {"status": "not run", "reason": "image not supplied"}
        return {"status": "ok", "y": config["x"]}

    configs = {"a": {"x": 0}, "b": {"x": 1}}
    first = run_study(configs, compute, tmp_path / "runs", protocol={}, progress=False)
    assert first["b"] == {"status": "not run", "reason": "image not supplied"}
    written = {p.name: p.read_bytes() for p in (tmp_path / "runs").iterdir()}
    again = run_study(configs, compute, tmp_path / "runs", protocol={}, progress=False)
    assert again == first and calls == [0, 1, 1]                     # asked again, the rest reused
    assert {p.name: p.read_bytes() for p in (tmp_path / "runs").iterdir()} == written
    assert "recomputing" not in capsys.readouterr().out
    supplied.touch()
    last = run_study(configs, compute, tmp_path / "runs", protocol={}, progress=False)
    assert last["b"] == {"status": "ok", "y": 1} and calls == [0, 1, 1, 1]
    assert json.loads((tmp_path / "runs" / "b.json").read_text())["record"] == last["b"]


def test_unsafe_keys_are_refused(tmp_path):
    with pytest.raises(ValueError, match="file-name safe"):
        run_study({"../evil": {}}, lambda c: {}, tmp_path, protocol={}, progress=False)


# ------------------------------------------------------------------ damaged records
def squares(calls):
    def compute(config):
        calls.append(config["x"])
        return {"y": config["x"] ** 2}
    return compute


@pytest.mark.parametrize(
    "damage",
    [lambda text: text[: len(text) // 2], lambda text: "", lambda text: "[]",
     lambda text: json.dumps({k: v for k, v in json.loads(text).items() if k != "record"})],
    ids=["truncated", "empty", "list", "no-record-key"],
)
def test_damaged_record_is_moved_aside_warned_and_recomputed(tmp_path, damage):
    calls = []
    configs = {"a": {"x": 2}, "b": {"x": 3}}
    run_study(configs, squares(calls), tmp_path, protocol={}, progress=False)
    path = tmp_path / "b.json"
    path.write_text(damage(path.read_text()))
    with pytest.warns(DamagedRecordWarning, match=r"b\.json is damaged.*moved it aside to b\.json\.damaged-"):
        results = run_study(configs, squares(calls), tmp_path, protocol={}, progress=False)
    assert calls == [2, 3, 3] and results["b"] == {"y": 9}
    assert len(list(tmp_path.glob("b.json.damaged-*"))) == 1  # the damaged file is kept, renamed
    assert json.loads(path.read_text())["record"] == {"y": 9}


def test_records_are_strict_json_with_non_finite_flags_and_round_trip(tmp_path):
    record = {"loss": [1.0, float("nan"), float("inf")], "sad": float("-inf"), "ok": 0.5}
    first = run_study({"a": {}}, lambda c: record, tmp_path, protocol={}, progress=False)["a"]
    text = (tmp_path / "a.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    stored = json.loads(text, parse_constant=lambda name: pytest.fail(f"non-standard token {name}"))
    assert stored["record"]["loss"] == [1.0, None, None] and stored["record"]["sad"] is None
    assert stored["non_finite"] == {"/record/loss/1": "nan", "/record/loss/2": "inf", "/record/sad": "-inf"}
    again = run_study({"a": {}}, lambda c: pytest.fail("recomputed"), tmp_path, protocol={},
                      progress=False)["a"]
    for value in (first, again):
        assert math.isnan(value["loss"][1]) and value["loss"][2] == math.inf and value["sad"] == -math.inf


def test_records_are_fsynced_and_get_the_umask_permissions(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    old = os.umask(0o022)
    try:
        run_study({"a": {"x": 1}}, squares([]), tmp_path, protocol={}, progress=False)
    finally:
        os.umask(old)
    assert synced  # the record (and its folder) reached the disk before the rename
    assert stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == 0o644
    assert not list(tmp_path.glob(".*.tmp"))


# ------------------------------------------------------------------ stale reuse: code and data
def test_changed_code_recomputes(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(study, "code_fingerprint", lambda roots=None: "code-v1")
    run_study({"a": {"x": 1}}, squares(calls), tmp_path, protocol={}, progress=False)
    run_study({"a": {"x": 1}}, squares(calls), tmp_path, protocol={}, progress=False)
    monkeypatch.setattr(study, "code_fingerprint", lambda roots=None: "code-v2")
    run_study({"a": {"x": 1}}, squares(calls), tmp_path, protocol={}, progress=False)
    assert calls == [1, 1]


def test_code_fingerprint_covers_the_static_import_closure(tmp_path, monkeypatch):
    closure = study._closure(["companion.experiments.mtl"])
    assert {"companion.data.loaders", "companion.data.registry", "companion.nets.mtl",
            "companion.classic.vca", "companion.optim.irprop"} <= set(closure)
    assert "companion.experiments.stability" not in closure
    assert not [name for name in closure if name.startswith("companion.chapters.")]
    fake = tmp_path / "fake.py"
    fake.write_text("from .data import loaders\n")
    real = study._module_file
    monkeypatch.setattr(study, "_module_file", lambda n: fake if n == "companion.fake" else real(n))
    before = study.code_fingerprint(["companion.fake"])
    assert "companion.data.loaders" in study._closure(["companion.fake"])
    fake.write_text("from .data import loaders  # edited\n")
    assert study.code_fingerprint(["companion.fake"]) != before


def test_bookkeeping_modules_do_not_enter_the_code_fingerprint(tmp_path, monkeypatch):
    roots = ["companion.experiments.stability"]
    closure = study._closure(roots)
    assert "companion.nets.ensemble" in closure and not set(closure) & study.BOOKKEEPING
    before = study.code_fingerprint(roots)
    edited = tmp_path / "study.py"
    edited.write_text(study._module_file("companion.study").read_text() + "\n# edited\n")
    real = study._module_file
    monkeypatch.setattr(study, "_module_file", lambda n: edited if n == "companion.study" else real(n))
    assert study.code_fingerprint(roots) == before                       # bookkeeping edited: reused
    training = tmp_path / "ensemble.py"
    training.write_text(real("companion.nets.ensemble").read_text() + "\n# edited\n")
    monkeypatch.setattr(study, "_module_file",
                        lambda n: training if n == "companion.nets.ensemble" else real(n))
    assert study.code_fingerprint(roots) != before                       # training code edited: recomputed


def test_code_roots_are_the_module_defining_compute_else_every_loaded_module():
    import functools

    from companion.experiments import stability
    from companion.metrics import sad

    compute = stability.Compute(runs=1, epochs=1, device="cpu")
    assert study.code_roots(compute) == ["companion.experiments.stability"]         # callable object
    assert study.code_roots(sad) == ["companion.metrics"]                            # function
    assert study.code_roots(functools.partial(sad)) == ["companion.metrics"]         # partial
    assert study.code_roots(compute.__call__) == ["companion.experiments.stability"]  # method
    assert study.code_roots(lambda c: c) == study.loaded_modules()                   # a notebook's lambda
    assert "companion.study" in study.loaded_modules()


def test_code_fingerprint_of_a_package_compute_ignores_other_loaded_modules(tmp_path, monkeypatch):
    from companion.metrics import sad

    roots = study.code_roots(sad)
    before = study.code_fingerprint(roots)
    monkeypatch.setitem(sys.modules, "companion.unrelated_module", object())  # loaded, not imported by sad
    assert study.code_fingerprint(roots) == before
    assert study.code_fingerprint() != study.code_fingerprint(roots)


def test_stored_record_names_its_code_roots_and_time(tmp_path):
    from companion.metrics import sad

    def compute(config):
        return {"sad": float(sad(*config["pair"]))}

    run_study({"a": {"pair": [[1.0, 0.0], [0.0, 1.0]]}}, compute, tmp_path, protocol={}, progress=False)
    stored = json.loads((tmp_path / "a.json").read_text())
    assert stored["code_roots"] == study.loaded_modules()  # compute is defined here, outside the package
    assert stored["seconds"] >= 0 and stored["record"]["sad"] == pytest.approx(math.pi / 2)


def test_deadline_stops_before_work_that_would_end_after_it_and_rerun_resumes(tmp_path):
    calls = []

    def slow(config):
        calls.append(config["x"])
        time.sleep(0.3)
        return {"y": config["x"]}

    configs = {f"c{i}": {"x": i} for i in range(6)}
    with pytest.raises(study.TimeLimitReached) as stop:
        run_study(configs, slow, tmp_path, {}, progress=False, deadline=time.monotonic() + 0.75)
    # 0.3 s each: c0 and c1 end by 0.6 s; c2 would end at 0.9 s > 0.75 s, so it is not started
    assert calls == [0, 1] and stop.value.done == ["c0", "c1"] and stop.value.left == ["c2", "c3", "c4", "c5"]
    assert sorted(p.stem for p in tmp_path.glob("*.json")) == ["c0", "c1"]
    with pytest.raises(study.TimeLimitReached):  # a deadline already past starts nothing
        run_study(configs, slow, tmp_path, {}, progress=False, deadline=time.monotonic() - 1)
    # a new command knows the stored records' durations: with 0.2 s left it starts nothing
    with pytest.raises(study.TimeLimitReached):
        run_study(configs, slow, tmp_path, {}, progress=False, deadline=time.monotonic() + 0.2)
    assert calls == [0, 1]
    done = run_study(configs, slow, tmp_path, {}, progress=False)
    assert done == {k: {"y": c["x"]} for k, c in configs.items()}
    assert calls == [0, 1, 2, 3, 4, 5]


def test_changed_or_removed_data_file_recomputes(tmp_path, monkeypatch):
    data_dir = tmp_path / "data"
    (data_dir / "user").mkdir(parents=True)
    image = data_dir / "user" / "image.mat"
    image.write_bytes(b"version 1")
    monkeypatch.setenv("HU_DATA_DIR", str(data_dir))
    monkeypatch.setattr(registry, "_LOADED", dict(registry._LOADED))  # the note below ends with the test
    calls = []

    def compute(config):
        registry.note_loaded("user/image.mat", registry.sha256_of(image))
        calls.append(image.read_bytes())
        return {"n": len(calls)}

    runs = tmp_path / "runs"
    run_study({"a": {}}, compute, runs, protocol={}, progress=False)
    run_study({"a": {}}, compute, runs, protocol={}, progress=False)
    assert calls == [b"version 1"]
    assert json.loads((runs / "a.json").read_text())["data"]["user/image.mat"] == registry.sha256_of(image)
    image.write_bytes(b"version 2")
    run_study({"a": {}}, compute, runs, protocol={}, progress=False)
    assert calls == [b"version 1", b"version 2"]


# ------------------------------------------------------------------ kill -9 and resume
KILLABLE = """
import sys, time
from pathlib import Path
from companion.study import run_study

folder = Path(sys.argv[1])
def compute(config):
    with open(folder / "log.txt", "a") as log:
        log.write(f"start {config['x']}\\n")
    time.sleep(0.2)
    return {"y": config["x"] ** 2}

run_study({f"c{i}": {"x": i} for i in range(8)}, compute, folder / "runs", {"v": 1}, progress=False)
"""


def test_kill_9_of_a_running_study_resumes_without_loss_or_duplication(tmp_path):
    script = tmp_path / "killable.py"
    script.write_text(KILLABLE)
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen([sys.executable, str(script), str(tmp_path)], env=env)
    runs = tmp_path / "runs"
    deadline = time.monotonic() + 60
    while len(list(runs.glob("*.json"))) < 3:
        assert process.poll() is None and time.monotonic() < deadline, "study ended or hung"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done_before = {p.stem for p in runs.glob("*.json")}
    assert 3 <= len(done_before) < 8
    subprocess.run([sys.executable, str(script), str(tmp_path)], env=env, check=True, timeout=60)
    starts = [line.split()[1] for line in (tmp_path / "log.txt").read_text().splitlines()]
    finished_first = {int(key[1:]) for key in done_before}
    assert all(starts.count(str(x)) == 1 for x in finished_first)  # nothing recomputed
    assert set(starts) == {str(x) for x in range(8)}                # nothing lost
    assert max(starts.count(str(x)) for x in range(8)) <= 2          # only the one in flight twice
    records = {p.stem: json.loads(p.read_text())["record"] for p in runs.glob("*.json")}
    assert records == {f"c{x}": {"y": x * x} for x in range(8)}


def test_two_runs_of_one_study_at_once_compute_each_record_once(tmp_path):
    """A second run waits for the records the first has claimed instead of computing them again."""
    import threading

    calls = []

    def slow(config):
        calls.append(config["x"])
        time.sleep(0.3)
        return {"y": config["x"] * 2}

    configs = {f"c{i}": {"x": i} for i in range(4)}
    outcomes = {}

    def one(name):
        outcomes[name] = study.run_study(configs, slow, tmp_path, {"v": 1}, progress=False)

    threads = [threading.Thread(target=one, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
        time.sleep(0.1)  # b starts while a holds c0
    for t in threads:
        t.join()
    assert sorted(calls) == [0, 1, 2, 3]                      # none computed twice
    assert outcomes["a"] == outcomes["b"] == {f"c{i}": {"y": 2 * i} for i in range(4)}
    assert not list(tmp_path.glob("*.lock"))


def test_a_lock_left_by_a_dead_run_is_taken_over(tmp_path):
    import socket

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    (tmp_path / "c0.json.lock").write_text(f"{socket.gethostname()} {dead}\n")
    assert study.run_study({"c0": {"x": 1}}, lambda c: {"y": c["x"]}, tmp_path, {}, progress=False) == {
        "c0": {"y": 1}}
    assert not (tmp_path / "c0.json.lock").exists()


def test_waiting_for_another_run_stops_at_the_deadline(tmp_path):
    import socket

    (tmp_path / "c0.json.lock").write_text(f"{socket.gethostname()} {os.getpid()}\n")  # a live holder
    with pytest.raises(study.TimeLimitReached) as stop:
        study.run_study({"c0": {"x": 1}, "c1": {"x": 2}}, lambda c: {"y": c["x"]}, tmp_path, {},
                        progress=False, deadline=time.monotonic() + 1.0)
    assert stop.value.left == ["c0"] and stop.value.done == ["c1"]
    assert (tmp_path / "c0.json.lock").exists()               # the other run's lock is left alone


def test_arrays_are_written_beside_the_record_and_checked_on_resume(tmp_path):
    """A record's arrays go to <key>.npz before the record; a missing or altered file recomputes."""
    calls = []

    def compute(config):
        calls.append(config["x"])
        return {"value": config["x"],
                study.ARRAYS_KEY: {"a": np.arange(6.0, dtype=np.float32).reshape(2, 3) * config["x"]}}

    configs = {"k1": {"x": 1}, "k2": {"x": 2}}
    records = study.run_study(configs, compute, tmp_path, {}, progress=False)
    note = records["k2"][study.ARRAYS_KEY]
    assert note["file"] == "k2.npz" and note["shapes"] == {"a": [2, 3]} and note["dtypes"] == {"a": "float32"}
    assert note["bytes"] == (tmp_path / "k2.npz").stat().st_size
    np.testing.assert_array_equal(study.load_arrays(tmp_path, "k2")["a"], np.arange(6.0).reshape(2, 3) * 2)
    stored = json.loads((tmp_path / "k2.json").read_text())
    assert stored["record"][study.ARRAYS_KEY]["sha256"] == note["sha256"]
    study.run_study(configs, compute, tmp_path, {}, progress=False)
    assert calls == [1, 2]                                                     # resumed, intact
    (tmp_path / "k1.npz").unlink()
    altered = bytearray((tmp_path / "k2.npz").read_bytes())
    altered[40] ^= 0xFF
    (tmp_path / "k2.npz").write_bytes(bytes(altered))
    study.run_study(configs, compute, tmp_path, {}, progress=False)
    assert calls == [1, 2, 1, 2]                                               # both recomputed
    with pytest.raises(FileNotFoundError, match="absent"):
        study.load_arrays(tmp_path, "k3")
