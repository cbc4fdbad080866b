"""Chapter registry: presets, validation errors and the notebooks' parameters cells."""

import re
from pathlib import Path

import pytest

from companion.chapters import SCALES, Param, available, get_chapter, resolve_parameters

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def test_datasets_chapter_is_registered_with_all_scales():
    assert "datasets" in available()
    module = get_chapter("datasets")
    assert set(module.PRESETS) == set(SCALES)
    assert module.PAPER_TARGETS == []


@pytest.mark.parametrize("scale", SCALES)
def test_resolve_returns_every_parameter_of_the_preset(scale, monkeypatch):
    monkeypatch.delenv("HU_SCALE", raising=False)
    params = resolve_parameters("datasets", scale)
    module = get_chapter("datasets")
    assert params == {"scale": scale, **module.PRESETS[scale]}


def test_override_wins_and_none_keeps_the_preset(monkeypatch):
    monkeypatch.delenv("HU_SCALE", raising=False)
    params = resolve_parameters("datasets", "smoke", seed=7, vca_runs=None)
    assert params["seed"] == 7
    assert params["vca_runs"] == get_chapter("datasets").PRESETS["smoke"]["vca_runs"]


def test_resolved_lists_are_copies_not_the_preset_itself():
    params = resolve_parameters("datasets", "book")
    params["datasets"].append("bogus")
    assert "bogus" not in get_chapter("datasets").PRESETS["book"]["datasets"]


def test_scale_comes_from_argument_then_env_then_book(monkeypatch):
    monkeypatch.delenv("HU_SCALE", raising=False)
    assert resolve_parameters("datasets")["scale"] == "book"
    monkeypatch.setenv("HU_SCALE", "smoke")
    assert resolve_parameters("datasets")["scale"] == "smoke"
    assert resolve_parameters("datasets", "paper")["scale"] == "paper"


def test_unknown_scale_lists_the_valid_ones(monkeypatch):
    with pytest.raises(ValueError, match=r"unknown scale 'huge'.*smoke.*book.*paper"):
        resolve_parameters("datasets", "huge")
    monkeypatch.setenv("HU_SCALE", "tiny")
    with pytest.raises(ValueError, match="tiny"):
        resolve_parameters("datasets")


def test_unknown_parameter_suggests_and_lists_names_and_types():
    with pytest.raises(ValueError) as err:
        resolve_parameters("datasets", "smoke", devcie="cpu")
    message = str(err.value)
    assert "devcie" in message and "did you mean 'device'" in message
    assert "seed (int, >= 0, <= 2147483647)" in message
    assert "datasets (list[str], at least one item)" in message


@pytest.mark.parametrize(
    ("name", "value"),
    [("seed", 1.5), ("seed", True), ("seed", "3"), ("datasets", "samson"), ("datasets", [1]), ("device", 0)],
)
def test_wrong_type_is_a_type_error_naming_the_expected_type(name, value):
    with pytest.raises(TypeError, match=rf"{name}' must be"):
        resolve_parameters("datasets", "smoke", **{name: value})


def test_invalid_choice_lists_the_choices():
    with pytest.raises(ValueError, match=r"'samsom'.*'samson', 'jasper', 'urban'"):
        resolve_parameters("datasets", "smoke", datasets=["samsom"])
    with pytest.raises(ValueError, match="hungarian"):
        resolve_parameters("datasets", "smoke", match="best")


def test_tuple_becomes_list_and_int_becomes_float():
    assert resolve_parameters("datasets", "smoke", datasets=("jasper",))["datasets"] == ["jasper"]
    assert Param(float, "a rate").check("rate", 1) == 1.0


def test_unknown_chapter_lists_the_chapters():
    with pytest.raises(ValueError, match=r"unknown chapter 'datasts'.*did you mean 'datasets'"):
        get_chapter("datasts")


@pytest.mark.parametrize("chapter", available())
def test_notebook_has_one_parameters_cell_with_exactly_the_schema(chapter):
    import jupytext

    notebook = jupytext.read(NOTEBOOKS / f"{chapter}.md")
    assert notebook.metadata["kernelspec"]["name"] == "python3"
    cells = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1
    names = set(re.findall(r"^(\w+)\s*=", cells[0].source, flags=re.MULTILINE))
    assert names == {"scale", *get_chapter(chapter).PARAMETERS}


@pytest.mark.parametrize(
    ("chapter", "name", "value", "expected"),
    [
        ("mtl", "runs", 0, "'runs': 0 is not valid, expected >= 1"),
        ("mtl", "runs", -3, "'runs': -3 is not valid, expected >= 1"),
        ("mtl", "iterations", 0, "'iterations': 0 is not valid, expected >= 1"),
        ("datasets", "vca_runs", 0, "'vca_runs': 0 is not valid, expected >= 1"),
        ("datasets", "seed", -1, "'seed': -1 is not valid, expected >= 0"),
        ("mtl", "lr", 1e400, "'lr': inf is not valid, expected finite, > 0"),
        ("mtl", "lr", 0.0, "'lr': 0.0 is not valid, expected finite, > 0"),
        ("mtl", "alphas", [0.1, -1.0], r"'alphas': \[-1.0\] is not valid, expected finite, >= 0"),
        ("mtl", "snrs", [float("nan")], r"'snrs': \[nan\] is not valid, expected finite"),
        ("datasets", "datasets", [], "'datasets' must have at least one item"),
        ("datasets", "device", "gpu", "'device': 'gpu' is not valid, expected matching"),
        ("mtl", "real_runs", 5, "'real_runs' \\(5\\) must not exceed runs"),
    ],
)
def test_out_of_range_values_are_refused_naming_value_and_range(chapter, name, value, expected):
    with pytest.raises(ValueError, match=expected):
        resolve_parameters(chapter, "smoke", **{name: value})


def test_range_bounds_are_inclusive_and_list_items_are_checked():
    param = Param(int, "count", minimum=1, maximum=3)
    assert [param.check("n", v) for v in (1, 3)] == [1, 3]
    with pytest.raises(ValueError):
        param.check("n", 4)
    assert Param(list, "rates", item=float, positive=True).check("r", [1, 2.5]) == [1.0, 2.5]
    assert resolve_parameters("datasets", "smoke", device="cuda:1")["device"] == "cuda:1"


def test_allow_inf_accepts_plus_inf_only():
    snrs = Param(list, "SNRs in dB", item=float, allow_inf=True)
    assert snrs.check("snrs", [15, float("inf")]) == [15.0, float("inf")]
    for bad in (float("nan"), float("-inf")):
        with pytest.raises(ValueError, match="expected finite or inf"):
            snrs.check("snrs", [bad])
    with pytest.raises(ValueError, match="expected finite"):
        Param(list, "SNRs in dB", item=float).check("snrs", [float("inf")])


@pytest.mark.parametrize("chapter", available())
def test_every_preset_of_every_chapter_is_in_range(chapter, monkeypatch):
    monkeypatch.delenv("HU_SCALE", raising=False)
    for scale in SCALES:
        assert resolve_parameters(chapter, scale)["scale"] == scale


def test_namespace_supplies_the_parameters_cell_values():
    cell = {"seed": 7, "vca_runs": None, "np": object(), "scale": "ignored", "match": "greedy_euclidean"}
    params = resolve_parameters("datasets", "smoke", namespace=cell)
    preset = get_chapter("datasets").PRESETS["smoke"]
    assert params["seed"] == 7 and params["match"] == "greedy_euclidean"
    assert params["vca_runs"] == preset["vca_runs"] and params["scale"] == "smoke"
    assert resolve_parameters("datasets", "smoke", namespace=cell, seed=3)["seed"] == 3  # explicit wins
    with pytest.raises(ValueError, match="seed"):
        resolve_parameters("datasets", "smoke", namespace={"seed": -1})


def test_progress_bars_follow_tqdm_disable(monkeypatch):
    from companion.chapters import show_progress

    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    assert show_progress() is True                     # a terminal run keeps its bars
    for value, shown in (("1", False), ("true", False), ("0", True), ("", True)):
        monkeypatch.setenv("TQDM_DISABLE", value)
        assert show_progress() is shown


def test_the_book_build_sets_tqdm_disable_for_its_kernels(monkeypatch):
    import importlib.util
    import os

    monkeypatch.setenv("TQDM_DISABLE", "0")   # recorded, so the variable is restored after the test
    path = Path(__file__).resolve().parents[1] / "book" / "_ext" / "quiet_progress.py"
    spec = importlib.util.spec_from_file_location("quiet_progress", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.setup(None)
    assert os.environ["TQDM_DISABLE"] == "1"
