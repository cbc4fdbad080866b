"""Resumable studies: interrupted runs resume without losing or duplicating work."""

import json

import pytest

from companion.study import run_study


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


def test_unsafe_keys_are_refused(tmp_path):
    with pytest.raises(ValueError, match="file-name safe"):
        run_study({"../evil": {}}, lambda c: {}, tmp_path, protocol={}, progress=False)
