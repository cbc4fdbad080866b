"""Results records: atomic writing, provenance and the book's tables (verdicts: test_verdicts.py)."""

import json
import os
import re

import pytest
import torch

from companion.chapters import resolve_parameters
from companion.results import (
    DamagedResultError,
    Provenance,
    Table,
    finite_mean_std,
    format_mean_std,
    read_result,
    write_result,
)
from companion.verdicts import Target, numeric_row

TARGET = Target("sad", "mean SAD on Samson", 3.0, 1, "deg", "Table 2", "metrics.sad", "P: text", "lower")


@pytest.fixture
def prov():
    params = resolve_parameters("datasets", "smoke")
    return Provenance.start("datasets", params, torch.device("cpu"), checksums={"a.mat": "ab" * 32})


def test_provenance_records_what_a_reader_needs(prov):
    record = prov.finish().to_dict()
    assert record["scale"] == "smoke" and record["params"]["scale"] == "smoke"
    assert record["device"].startswith("CPU")
    assert record["versions"]["torch"] == torch.__version__
    assert record["versions"]["numpy"]
    assert record["git_commit"]  # a hash or "unknown"
    assert record["checksums"] == {"a.mat": "ab" * 32}
    assert record["started"].endswith("+00:00")
    assert record["wall_time_s"] >= 0
    assert not any(key.startswith("_") for key in record)


def test_provenance_box_shows_wall_time_only_when_finished(prov):
    assert "running" in prov.to_html()
    assert "running" not in prov.finish().to_html()
    assert "a.mat" in prov.to_html()


def test_write_is_atomic_and_round_trips(tmp_path, prov):
    import numpy as np

    data = {"x": np.float64(1.5), "v": np.arange(3)}
    path = write_result("datasets", "baselines", data, prov.finish(), root=tmp_path)
    assert path == tmp_path / "datasets" / "smoke" / "baselines.json"
    assert [p.name for p in path.parent.iterdir()] == ["baselines.json"]  # no temp file left
    record = read_result("datasets", "smoke", "baselines", root=tmp_path)
    assert record["data"] == {"x": 1.5, "v": [0, 1, 2]}
    assert record["provenance"]["wall_time_s"] is not None
    assert read_result("datasets", "paper", "baselines", root=tmp_path) is None


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path, prov):
    path = write_result("datasets", "r", {"v": 1}, prov, root=tmp_path)
    with pytest.raises(TypeError):
        write_result("datasets", "r", {"v": object()}, prov, root=tmp_path)
    assert json.loads(path.read_text())["data"] == {"v": 1}
    assert os.listdir(path.parent) == ["r.json"]


def test_table_renders_markdown_and_escaped_html():
    table = Table([{"a": 1.23456789, "b": None, "c": "x|<y>"}], caption="cap")
    md = table.to_markdown()
    assert "| 1.235 | — | x\\|<y> |" in md and md.startswith("cap")
    assert "&lt;y&gt;" in table.to_html() and "<caption>cap</caption>" in table.to_html()


# ------------------------------------------------------------------ divergence
def test_tables_show_diverged_for_nan_and_an_underflow_as_minus_infinity():
    table = Table([{"a": float("nan"), "b": float("-inf"), "c": 0.5, "d": float("inf")}])
    assert "| diverged | −∞ | 0.5 | ∞ |" in table.to_markdown()
    assert "nan" not in table.to_html() and "diverged" not in table.to_markdown().split("|")[2]


def test_finite_mean_std_and_its_text_leave_diverged_runs_out():
    assert finite_mean_std([1.0, 3.0, float("nan"), None]) == (2.0, 1.0, 2)
    assert finite_mean_std([float("nan"), None]) == (None, None, 0)
    assert format_mean_std([1.0, 3.0]) == "2.0000 ± 1.0000"
    assert format_mean_std([1.0, 3.0, float("inf")], ".1f") == "2.0 ± 1.0 (1 of 3 diverged)"
    assert format_mean_std([float("nan")]) == "diverged"


def test_summary_json_is_strict_with_a_list_of_non_finite_fields(tmp_path, prov):
    comparison = [numeric_row(TARGET, float("nan"))]
    path = write_result("datasets", "summary", {"loss": [0.5, float("nan")], "best": float("-inf")},
                        prov.finish(), comparison=comparison, root=tmp_path)
    text = path.read_text()
    record = json.loads(text, parse_constant=lambda name: pytest.fail(f"non-standard token {name}"))
    assert record["data"] == {"loss": [0.5, None], "best": None}
    assert record["non_finite"] == {"/data/loss/1": "nan", "/data/best": "-inf"}
    assert record["comparison"][0]["verdict"] == "diverged"
    assert read_result("datasets", "smoke", "summary", root=tmp_path)["data"]["loss"] == [0.5, None]


def test_damaged_results_file_names_itself_and_the_fix(tmp_path, prov):
    path = write_result("datasets", "summary", {}, prov.finish(), root=tmp_path)
    for damaged in (path.read_text()[:40], "", "[]"):
        path.write_text(damaged)
        expected = r"summary\.json is damaged(.|\n)*python -m companion run datasets"
        with pytest.raises(DamagedResultError, match=expected):
            read_result("datasets", "smoke", "summary", root=tmp_path)


@pytest.mark.parametrize(("value", "text"), [
    (2000.0, "2000"), (2190.0, "2190"), (0.123456, "0.1235"), (-0.0004837, "-0.0004837"), (5e-5, "5.000e-05"),
    (0.0, "0"), (12345.6, "12346"), (123456.0, "1.235e+05"),
])
def test_tables_use_one_number_format(value, text):
    assert Table([{"v": value}]).to_markdown().endswith(f"| {text} |")
    assert Table([{"v": value}], floatfmt=".1f").to_markdown().endswith(f"| {value:.1f} |")


def test_html_keeps_mean_std_on_one_line_and_notes_repeated_reasons():
    reason = "not run: the Urban image is not staged (see the data section)"
    rows = [{"m": f"r{k}", "why": reason} for k in range(3)] + [{"m": "0.1 ± 0.02", "why": "ok"}]
    page = Table(rows).to_html()
    assert page.count(reason) == 1 and page.count("<i>note 1</i>") == 3 and "Note 1: not run" in page
    assert '<span style="white-space: nowrap">0.1 ± 0.02</span>' in page
    two = Table(rows[:2]).to_html()
    assert two.count(reason) == 2 and "note" not in two


def test_a_table_wider_than_the_column_is_split_repeating_its_key_columns():
    from companion.results import COLUMN_BUDGET_CHARS, column_groups

    assert column_groups([10, 30, 30], keys=1) == [[0, 1, 2]]
    assert column_groups([10, 50, 50, 50], keys=1, budget=100) == [[0, 1], [0, 2], [0, 3]]
    # as few parts as fit, spread evenly: 4, 3, 3, 3 value columns rather than 4, 4, 4, 1
    assert [len(g) - 1 for g in column_groups([10] + [20] * 13, keys=1, budget=95)] == [4, 3, 3, 3]
    # uneven widths: the even split would overflow, so the greedy one stays
    assert column_groups([10, 85, 5, 5, 5, 5, 5], keys=1, budget=100) == [[0, 1, 2], [0, 3, 4, 5, 6]]
    rows = [{"image": f"gbm_{k}", "snr": 30, **{f"m{j}": f"0.{k}123 ± 0.0{j}45" for j in range(12)}}
            for k in range(3)]
    page = Table(rows, caption="wide").to_html()
    parts = page.split("</table>")[:-1]
    assert len(parts) > 1 and "wide (continued)" in parts[1]
    assert all("<th>image</th><th>snr</th>" in part for part in parts)   # keys repeated
    assert sum(part.count("<th>m") for part in parts) == 12               # every value column once
    first_row = [re.findall(r"<td>(?:<span[^>]*>)?([^<]*)", part.split("<tbody>")[1].split("</tr>")[0])
                 for part in parts]
    assert max(sum(len(cell) + 2 for cell in row) for row in first_row) <= COLUMN_BUDGET_CHARS
    narrow = Table(rows[:1], {"image": "image", "m0": "m0"}).to_html()
    assert narrow.count("<table") == 1


def test_a_summary_gives_back_its_parameters_exactly_and_measured_non_finite_values_as_none(tmp_path):
    params = {**resolve_parameters("datasets", "smoke"), "snrs": [30.0, float("inf")]}
    prov = Provenance.start("datasets", params, torch.device("cpu")).finish()
    write_result("datasets", "summary", {"x": float("nan")}, prov, root=tmp_path)
    record = read_result("datasets", "smoke", "summary", root=tmp_path)
    assert record["provenance"]["params"]["snrs"] == [30.0, float("inf")] and record["data"]["x"] is None


def test_require_clean_tree_refuses_uncommitted_changes(tmp_path):
    import subprocess

    from companion.results import require_clean_tree

    with pytest.raises(SystemExit, match="not clean"):
        require_clean_tree(tmp_path)                                   # no checkout: "unknown"
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    (tmp_path / "f.txt").write_text("a")
    subprocess.run([*git, "add", "f.txt"], check=True)
    subprocess.run([*git, "commit", "-qm", "c"], check=True)
    commit = require_clean_tree(tmp_path)
    assert len(commit) == 40
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "runs_log.json").write_text("{}")
    subprocess.run([*git, "add", "results"], check=True)
    subprocess.run([*git, "commit", "-qm", "log"], check=True)
    (tmp_path / "results" / "runs_log.json").write_text('{"runs": []}')   # a study's own output
    assert require_clean_tree(tmp_path) == subprocess.run(
        [*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    (tmp_path / "f.txt").write_text("b")                                 # code changed: refused
    with pytest.raises(SystemExit, match=r"\+dirty"):
        require_clean_tree(tmp_path)
