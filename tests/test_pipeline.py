"""The chapter pipeline: run on any executor, load stored records, summarise with the records' code
hash, and verify: re-stamp only when a recomputed sample is identical, refuse otherwise."""

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from companion import pipeline, study
from companion.results import Provenance, read_result


def square(config):
    return {"y": config["x"] ** 2, "curve": [config["x"] * 0.1, float("nan")]}


def shifted(config):
    return square(config) | {"y": config["x"] ** 2 + (1e-9 if config["x"] == 0 else 0)}


@pytest.fixture
def toy(tmp_path, monkeypatch):
    """A chapter 'toy' whose plan has two studies (folders runs and runs/extra)."""
    monkeypatch.setenv("HU_RESULTS_DIR", str(tmp_path))
    state = {"compute": square}

    def plan(P):
        return {name: study.StudyDefinition("toy", P["scale"], {f"{name}{i}": {"x": i} for i in range(n)},
                                            {"v": 1}, lambda c: state["compute"](c), [], name, folder)
                for name, n, folder in (("main", 4, "runs"), ("extra", 2, "runs/extra"))}

    monkeypatch.setattr(pipeline, "plan", lambda chapter, P: plan(P))
    monkeypatch.setattr(pipeline, "code_hash", lambda chapter: state.get("code", "c1"))
    monkeypatch.setattr(study, "code_fingerprint", lambda roots=None: state.get("code", "c1"))
    monkeypatch.setattr(pipeline, "experiments_module", lambda chapter: type("M", (), {"__name__": "toy"}))
    return state


def test_run_on_an_executor_equals_the_serial_run(toy, tmp_path):
    serial = pipeline.run("toy", {"scale": "smoke"})
    assert serial["main"]["main3"]["y"] == 9 and set(serial["extra"]) == {"extra0", "extra1"}
    assert (tmp_path / "toy" / "smoke" / "runs" / "extra" / "extra1.json").is_file()
    for path in (tmp_path / "toy").rglob("*.json"):
        path.unlink()
    with ThreadPoolExecutor(2) as pool:
        threaded = pipeline.run("toy", {"scale": "smoke"}, executor=pool)
    assert json.dumps(threaded, sort_keys=True) == json.dumps(serial, sort_keys=True)
    assert pipeline.load_records("toy", {"scale": "smoke"})["main"]["main2"]["y"] == 4


def test_load_records_names_the_missing_record_and_the_command(toy, tmp_path):
    pipeline.run("toy", {"scale": "smoke"})
    (tmp_path / "toy" / "smoke" / "runs" / "main1.json").unlink()
    with pytest.raises(FileNotFoundError, match="(?s)main1.json.*companion study toy --scale smoke"):
        pipeline.load_records("toy", {"scale": "smoke"})


def test_summary_carries_the_records_code_and_goes_stale_with_it(toy):
    P = {"scale": "smoke"}
    pipeline.run("toy", P)
    prov = Provenance.start("toy", P, "cpu").finish()
    pipeline.write_summary("toy", P, pipeline.Report([], {"n": 1}), prov)
    summary = read_result("toy", "smoke", "summary")
    assert summary["code"] == "c1" and pipeline.staleness("toy", summary)[0] == "current"
    toy["code"] = "c2"
    assert pipeline.staleness("toy", summary)[0] == "stale"


def test_verify_restamps_every_record_when_the_sample_is_identical(toy, tmp_path):
    P = {"scale": "smoke"}
    pipeline.run("toy", P)
    toy["code"] = "c2"                                  # a code change that leaves the numbers alone
    outcome = pipeline.verify("toy", P, commit="abc", log=lambda _: None)
    assert len(outcome["sample"]) == 4 and outcome["restamped"] == 6
    docs = [json.loads(p.read_text()) for p in (tmp_path / "toy" / "smoke").rglob("*.json")]
    assert {d["code"] for d in docs} == {"c2"} and {d["verified"]["commit"] for d in docs} == {"abc"}
    assert all(d["verified"]["previous"]["code"] == "c1" for d in docs)
    # the re-stamped records are reused as they are: nothing recomputes
    toy["compute"] = lambda c: pytest.fail("recomputed")
    assert pipeline.run("toy", P)["main"]["main3"]["y"] == 9


def test_verify_refuses_when_a_recomputed_record_differs(toy, tmp_path):
    P = {"scale": "smoke"}
    pipeline.run("toy", P)
    before = {p: p.read_text() for p in (tmp_path / "toy").rglob("*.json")}
    toy["code"], toy["compute"] = "c2", shifted     # main0 changes by 1e-9: not bit for bit
    with pytest.raises(pipeline.VerificationError, match="extra0 differs .* at /y"):
        pipeline.verify("toy", P, commit="abc", log=lambda _: None)
    assert {p: p.read_text() for p in (tmp_path / "toy").rglob("*.json")} == before


def test_same_numbers_is_bit_for_bit_unless_told_otherwise():
    assert pipeline.same_numbers({"a": [1.0, float("nan")]}, {"a": [1.0, float("nan")]}) is None
    assert "/a/0" in pipeline.same_numbers({"a": [1.0]}, {"a": [1.0 + 2e-16]})
    assert pipeline.same_numbers({"a": [1.0]}, {"a": [1.0 + 2e-16]}, atol=1e-12) is None
    assert "keys differ" in pipeline.same_numbers({"a": 1}, {"b": 1})
    assert pipeline.same_numbers({"s": "x"}, {"s": "y"}) == "/s: 'x' != 'y'"
    # declared wall-clock keys are left out, anywhere in the record
    assert pipeline.same_numbers({"r": [{"time_s": 1.0, "sad": 2.0}]}, {"r": [{"time_s": 9.0, "sad": 2.0}]},
                                 ignore=frozenset({"time_s"})) is None


def test_the_sample_is_the_three_cheapest_and_the_most_expensive():
    stored = {("s", f"k{i}"): {"seconds": float(i), "config": {}, "record": {}} for i in range(10)}
    assert pipeline.sample_keys(stored, None) == [("s", "k0"), ("s", "k1"), ("s", "k2"), ("s", "k9")]
    stored["s", "k0"]["record"] = {"status": "not run", "reason": "image absent"}   # proves nothing
    assert pipeline.sample_keys(stored, None) == [("s", "k1"), ("s", "k2"), ("s", "k3"), ("s", "k9")]
    unpriced = {("s", "a"): {"config": {"n": 5}}, ("s", "b"): {"config": {"n": 1}}}
    assert pipeline.sample_keys(unpriced, lambda c: c["n"], cheapest=1) == [("s", "b"), ("s", "a")]
    with pytest.raises(ValueError, match="cost"):
        pipeline.sample_keys(unpriced, None)


def test_a_report_only_summary_keeps_the_provenance_of_the_computation(toy):
    P = {"scale": "smoke"}
    pipeline.run("toy", P)
    computed = Provenance.start("toy", P, "CPU: a Xeon").finish()
    pipeline.write_summary("toy", P, pipeline.Report([], {}), computed)
    for _ in range(2):   # reported twice: the computation's provenance survives both
        pipeline.write_summary("toy", P, pipeline.Report([], {}),
                               Provenance.start("toy", P, pipeline.REPORT_ONLY).finish())
        summary = read_result("toy", "smoke", "summary")
        assert summary["computed"]["device"] == "CPU: a Xeon"
        assert summary["provenance"]["device"] == pipeline.REPORT_ONLY


def test_a_report_after_a_rerun_names_the_runs_that_computed_its_records(toy):
    """The summary's ``computed`` is the study run of the records' code (every run of that code
    when the study was resumed), not the computation of the summary it replaces."""
    P = {"scale": "smoke"}
    pipeline.run("toy", P)
    pipeline.write_summary("toy", P, pipeline.Report([], {}), Provenance.start("toy", P, "CPU: old").finish())
    report_only = lambda: Provenance.start("toy", P, pipeline.REPORT_ONLY).finish()  # noqa: E731
    pipeline.record_run("toy", "smoke", {"device": "CPU: other code", "code": "c0"})
    pipeline.write_summary("toy", P, pipeline.Report([], {}), report_only())
    # c0 computed none of these records: the earlier computation stays
    assert read_result("toy", "smoke", "summary")["computed"]["device"] == "CPU: old"
    for part in ("first", "resumed"):
        pipeline.record_run("toy", "smoke", {"device": f"CPU: {part}", "code": "c1", "records_left": 0})
    pipeline.write_summary("toy", P, pipeline.Report([], {}), report_only())
    computed = read_result("toy", "smoke", "summary")["computed"]
    assert computed["device"] == "CPU: resumed"
    assert [r["device"] for r in computed["runs"]] == ["CPU: first", "CPU: resumed"]
    assert [r["code"] for r in pipeline.read_runs("toy", "smoke")] == ["c0", "c1", "c1"]


def test_runs_of_code_that_a_verification_restamped_still_computed_the_records(toy):
    """Records computed by code c1 and verified into c2 were computed by c1's runs: a report names
    them with the runs of c2 that computed the rest, but not a run of unrelated code."""
    P = {"scale": "smoke"}
    pipeline.run("toy", P)
    pipeline.record_run("toy", "smoke", {"device": "CPU: first", "code": "c1"})
    pipeline.record_run("toy", "smoke", {"device": "CPU: unrelated", "code": "c0"})
    toy["code"] = "c2"
    pipeline.verify("toy", P, commit="abc", log=lambda _: None)
    pipeline.record_run("toy", "smoke", {"device": "CPU: after", "code": "c2"})
    assert pipeline.verified_codes("toy", P) == {"c1"}
    pipeline.write_summary("toy", P, pipeline.Report([], {}),
                           Provenance.start("toy", P, pipeline.REPORT_ONLY).finish())
    computed = read_result("toy", "smoke", "summary")["computed"]
    assert computed["device"] == "CPU: after"
    assert [r["device"] for r in computed["runs"]] == ["CPU: first", "CPU: after"]


def test_the_stale_mark_cites_the_last_failed_verification(toy, tmp_path):
    pipeline.write_verification("toy", "paper", {"commit": "abcdef123", "device": "CPU: EPYC",
                                                 "outcome": "runs/a differs at /sad/0 by 4e-13"})
    status, detail = pipeline.staleness("toy", {"code": None, "scale": "paper"})
    assert status == "stale" and "verify at abcdef1 on CPU: EPYC: runs/a differs at /sad/0 by 4e-13" in detail
