"""Sharded studies on a Dask LocalCluster (two worker processes): the same records as serially,
and a worker killed mid-study loses and duplicates nothing."""

import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest

distributed = pytest.importorskip("distributed")
cloudpickle = pytest.importorskip("cloudpickle")

import torch  # noqa: E402

from companion import pipeline, study  # noqa: E402
from companion.chapters import resolve_parameters  # noqa: E402

cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import this test file


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None,
                                  worker_dashboard_address=None) as cluster, distributed.Client(cluster) as c:
        yield c


def tiny_stability():
    """A real stability study small enough for a test: the Table 1 records of Experiment 1 with
    N = 3 in blocks of 1, k = 2, 1 epoch, two schemes (3 records of 4 models)."""
    P = resolve_parameters("stability", "smoke", experiments=[1], initialisations=3, runs=2, block=1,
                           schemes=["he_normal", "glorot_uniform"])
    definition = pipeline.plan("stability", P)["runs"]
    definition.load_data()  # as the notebook and the CLI do before the study
    return definition, {k: c for k, c in definition.configs.items() if c["kind"] == "table1"}


def stored(folder: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}


def test_sharded_study_equals_the_serial_one_record_for_record(client, tmp_path):
    definition, configs = tiny_stability()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as Dask's workers (OMP_NUM_THREADS=1): same reductions, same bits
    try:
        serial = study.run_study(configs, definition.compute, tmp_path / "serial",
                                 definition.protocol, progress=False)
    finally:
        torch.set_num_threads(threads)
    sharded = study.run_study(configs, definition.compute, tmp_path / "sharded",
                              definition.protocol, progress=False, executor=client.get_executor())
    assert list(sharded) == ["exp1_init0-0", "exp1_init1-1", "exp1_init2-2"] and sharded == serial
    on_disk = {name: stored(tmp_path / name) for name in ("serial", "sharded")}
    for key in configs:
        a, b = on_disk["serial"][key], on_disk["sharded"][key]
        a.pop("seconds"), b.pop("seconds")
        assert a == b
    assert on_disk["sharded"]["exp1_init0-0"]["data"]["samson/samson_1.mat"]  # checksums travel back
    # resume: with every record stored, nothing reaches the cluster (an object without methods)
    again = study.run_study(configs, definition.compute, tmp_path / "sharded", definition.protocol,
                            progress=False, executor=object())
    assert again == serial


def killed_once(config):
    """Squares ``config["x"]``, logging each start; ``x == 3`` kills its worker process (SIGKILL)
    the first time, once the client has written at least one record."""
    folder = Path(config["folder"])
    with open(folder / "starts.txt", "a") as log:
        log.write(f"{config['x']} {os.getpid()}\n")
    if config["x"] == 3 and not (folder / "killed").exists():
        deadline = time.monotonic() + 30
        while not list((folder / "runs").glob("*.json")) and time.monotonic() < deadline:
            time.sleep(0.05)
        (folder / "killed").write_text(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(0.2)
    return {"y": config["x"] ** 2}


def test_a_worker_killed_mid_study_loses_and_duplicates_nothing(client, tmp_path, monkeypatch):
    writes = []
    real_write = study.write_json_atomically
    monkeypatch.setattr(study, "write_json_atomically", lambda path, doc: (writes.append(path.stem),
                                                                          real_write(path, doc))[1])
    configs = {f"c{i}": {"x": i, "folder": str(tmp_path)} for i in range(8)}
    results = study.run_study(configs, killed_once, tmp_path / "runs", {"v": 1}, progress=False,
                              executor=client.get_executor(), retries=0)
    assert (tmp_path / "killed").exists()                     # a worker really died mid-study
    starts = [int(line.split()[0]) for line in (tmp_path / "starts.txt").read_text().splitlines()]
    assert starts.count(3) == 2                               # its configuration ran again elsewhere
    assert results == {f"c{i}": {"y": i * i} for i in range(8)}
    assert sorted(writes) == sorted(configs)                  # every record written once
    assert {k: v["record"] for k, v in stored(tmp_path / "runs").items()} == results
    assert not list((tmp_path / "runs").glob("*.damaged-*")) and not list((tmp_path / "runs").glob(".*"))


def test_a_worker_with_other_code_is_refused(client, tmp_path, monkeypatch):
    monkeypatch.setattr(study, "code_fingerprint", lambda roots=None: "client-code")  # workers compute theirs
    with pytest.raises(RuntimeError, match="computed by other code"):
        study.run_study({"a": {"x": 1, "folder": str(tmp_path)}}, killed_once, tmp_path / "runs", {},
                        progress=False, executor=client.get_executor())
    assert not list((tmp_path / "runs").glob("*.json"))


def doubled(config):
    return {"y": 2 * config["x"]}


def test_cli_runs_a_study_on_a_scheduler_address(client, tmp_path, monkeypatch, capsys):
    from companion import cli

    monkeypatch.setenv("HU_RESULTS_DIR", str(tmp_path / "results"))
    definition = study.StudyDefinition("stability", "smoke", {f"c{i}": {"x": i} for i in range(4)}, {},
                                       doubled, [], "sharded study")
    monkeypatch.setattr(pipeline, "plan", lambda chapter, P: {"runs": definition})
    address = client.scheduler.address
    assert cli.main(["study", "stability", "--scale", "smoke", "--scheduler", address]) == 0
    assert f"Dask workers of {address}" in capsys.readouterr().out
    records = stored(tmp_path / "results" / "stability" / "smoke" / "runs")
    assert {k: v["record"] for k, v in records.items()} == {f"c{i}": {"y": 2 * i} for i in range(4)}


def test_benchmark_records_on_a_cluster_equal_the_serial_ones(client, tmp_path):
    """The benchmark chapter's ``workers`` path: same keys, configurations, fingerprints, code and
    data checksums; the same numbers (torch methods bit for bit; numpy methods to float rounding,
    since this process's BLAS may use more threads than the one-thread workers)."""
    import numpy as np

    from companion.chapters import benchmark as chapter
    from companion.experiments import benchmark as bench
    from companion.methods import BUDGET_KEYS

    budget = {k: chapter.PRESETS["smoke"][k] for k in BUDGET_KEYS}
    args = (["vca_fcls", "l1_nmf", "ae_basic", "mnn_bu_2"], ["urban_crop"], {"vca": [0, 1]}, budget)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        serial = bench.run(*args, tmp_path / "serial", progress=False)
    finally:
        torch.set_num_threads(threads)
    client.run(torch.set_num_threads, 1)
    scenes_loaded = lambda: bench.load_scene.cache_info().currsize  # noqa: E731
    before = sum(client.run(scenes_loaded).values())
    sharded = bench.run(*args, tmp_path / "sharded", progress=False, executor=client.get_executor())
    assert sum(client.run(scenes_loaded).values()) > before  # the workers computed the records
    assert list(sharded) == list(serial) and len(serial) == 8
    for key, a in serial.items():
        b = sharded[key]
        assert a["status"] == b["status"] == "ok"
        for metric in ("sad", "sad_mean", "rmse_a", "rmse_y"):
            np.testing.assert_allclose(b[metric], a[metric], rtol=1e-10, atol=0, err_msg=f"{key} {metric}")
        if "+ae_basic+" in key or "+mnn_bu_2+" in key:
            assert b["sad"] == a["sad"] and b["rmse_a"] == a["rmse_a"]
    on_disk = {name: stored(tmp_path / name) for name in ("serial", "sharded")}
    for key in serial:
        a, b = on_disk["serial"][key], on_disk["sharded"][key]
        for field in ("key", "fingerprint", "code", "code_roots", "data", "config"):
            assert a[field] == b[field], f"{key}: {field}"


def test_cli_workers_parameter_starts_a_local_cluster(tmp_path, monkeypatch, capsys):
    """``-p workers=2`` runs the records on two one-thread worker processes (it once ran them all in
    this process, silently) and records where they ran."""
    from companion import cli

    monkeypatch.setenv("HU_RESULTS_DIR", str(tmp_path / "results"))
    definition = study.StudyDefinition("benchmark", "smoke", {f"c{i}": {"x": i} for i in range(4)}, {},
                                       worker_pid, [], "sharded study")
    monkeypatch.setattr(pipeline, "plan", lambda chapter, P: {"runs": definition})
    assert cli.main(["study", "benchmark", "--scale", "smoke", "-p", "workers=2"]) == 0
    assert "2 Dask worker processes, one thread each" in capsys.readouterr().out
    records = stored(tmp_path / "results" / "benchmark" / "smoke" / "runs")
    pids = {v["record"]["pid"] for v in records.values()}
    assert len(records) == 4 and os.getpid() not in pids
    assert {v["record"]["threads"] for v in records.values()} == {1}


def worker_pid(config):
    return {"pid": os.getpid(), "threads": torch.get_num_threads()}
