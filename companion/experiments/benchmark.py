"""The benchmark: every blind method of the book on the same scenes under one protocol.

Protocol (one record per method, scene, start and seed; :func:`compute`):

* **scene**: a :data:`companion.data.scenes.SCENES` entry; every method gets all its pixels
  (``Y: (bands, pixels)``).
* **start**: one :class:`companion.methods.Start` per (scene, initialisation, seed), built once
  and handed, as the same object, to every method (:func:`start_for`). The main run uses VCA
  (seed = run seed), the sensitivity run SiVM (deterministic).
* **scoring** (:func:`score`, the same function for every method): endmembers matched to the
  truth by the Hungarian method on the spectral angle (``metrics.match_endmembers``,
  ``"hungarian"``); SAD per endmember and mean (rad); abundance error
  ``metrics.rmse_per_pixel_mean`` of the matched abundances over all pixels; reconstruction
  error ``metrics.rmse_per_pixel_mean`` between ``Y`` and the model's reconstruction.
* **time**: wall seconds of the method's adapter plus, for the methods that need the start, the
  start's own time (VCA + FCLS is charged exactly that); one torch thread
  (:func:`companion.runtime.torch_threads`), wherever the record is computed.

A method that refuses a problem, or a scene that cannot be loaded (a user-supplied image that is
absent), gives a record with ``"status"`` and ``"reason"`` instead of numbers.

:func:`plan` gives the chapter's three studies: the main run (VCA start, every seed), the
sensitivity run (a second start) and the budget check (every method once at its own paper's
budget, ``protocol_budget/``). The tables, ranks and claims are in
:mod:`companion.reports.benchmark`.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from .. import metrics
from ..chapters.benchmark import PROTOCOL_BUDGET
from ..data import MissingImage
from ..data.hsi import HSI
from ..data.scenes import SCENE_SEED, load_scene
from ..methods import BUDGET_KEYS, METHODS, Estimate, Problem, Start, make_start
from ..runtime import Timer, resolve_device, torch_threads
from ..study import StudyDefinition, run_study

__all__ = ["MATCHING", "PROTOCOL", "SceneStudy", "VERIFY_IGNORE", "compute", "configs", "inputs_digest",
           "plan", "record_key", "run", "score", "start_for"]

MATCHING = "hungarian"
PROTOCOL = {"matching": MATCHING, "scene_seed": SCENE_SEED}   # every study's protocol
# wall times: measured, never reproduced; a recomputed record equals its stored one without them
VERIFY_IGNORE = ("time_s", "start_s")


@functools.cache
def start_for(scene: str, init: str, seed: int) -> Start:
    """The one start of (scene, initialisation, seed) that every method receives."""
    hsi = load_scene(scene)
    return make_start(init, hsi.Y, hsi.p, seed, truth=hsi.endmembers)


def score(hsi: HSI, estimate: Estimate) -> dict:
    """The protocol's metrics of ``estimate`` against ``hsi``'s truth, after :func:`match`:
    ``sad`` per true endmember and ``sad_mean`` (rad), ``rmse_a`` (mean per-pixel abundance RMSE)
    and ``rmse_y`` (mean per-pixel reconstruction RMSE, in the image's units). Non-finite
    estimates give ``{"status": "diverged"}``."""
    arrays = (estimate.endmembers, estimate.abundances, estimate.reconstruction)
    if not all(np.isfinite(a).all() for a in arrays):
        return {"status": "diverged", "reason": "non-finite estimates"}
    run = metrics.score_runs(hsi.endmembers, hsi.abundances, estimate.endmembers[None],
                             estimate.abundances[None], matching=MATCHING)
    return {"status": "ok", "sad": run["sad"][0], "sad_mean": run["sad_mean"][0], "rmse_a": run["rmse"][0],
            "rmse_y": metrics.rmse_per_pixel_mean(hsi.Y, estimate.reconstruction)}


def inputs_digest(problem: Problem) -> str:
    """sha256 of what every method shares (pixels and start): a method must leave them intact."""
    digest = hashlib.sha256()
    for array in (problem.Y, problem.start.endmembers, problem.start.abundances):
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def record_key(method: str, scene: str, init: str, seed: int) -> str:
    """File-name-safe study key of one configuration."""
    return f"{scene}+{method}+{init}+{seed}"


def configs(methods: Sequence[str], scenes: Sequence[str], inits: Mapping[str, Sequence[int]],
            budget: Mapping[str, int], device: str = "cpu") -> dict[str, dict]:
    """Every (method, scene, start, seed) configuration; ``inits`` maps an initialisation to its
    seeds (e.g. ``{"vca": [0, 1, 2], "sivm": [0]}``). Ordered by start, seed, scene, method, so
    that an interrupted run leaves whole seeds."""
    return {record_key(m, s, i, seed): {"method": m, "scene": s, "init": i, "seed": seed,
                                        "budget": dict(budget), "device": device}
            for i, seeds in inits.items() for seed in seeds for s in scenes for m in methods}


def compute(config: Mapping) -> dict:
    """One record: ``config`` holds ``method``, ``scene``, ``init``, ``seed``, ``budget``, ``device``.

    Returns the metrics of :func:`score` with ``time_s`` (the method, plus the start's time when
    it needs the start) and ``start_s`` (the start's time), or ``status`` "not run" / "diverged"
    and a ``reason``. Runs with one torch thread (as every committed record was computed)."""
    with torch_threads(1):
        return _compute(config)


def _compute(config: Mapping) -> dict:
    try:
        hsi = load_scene(config["scene"])
    except MissingImage as err:
        return {"status": "not run", "reason": f"image not supplied: {str(err).splitlines()[0]}"}
    start = start_for(config["scene"], config["init"], config["seed"])
    problem = Problem(hsi.Y, hsi.rows, hsi.cols, hsi.p, start, config["seed"], config["budget"],
                      config["device"])
    method = METHODS[config["method"]]
    reason = method.refuse(problem)
    if reason is not None:
        return {"status": "not run", "reason": reason}
    before = inputs_digest(problem)
    with Timer() as t:
        estimate = method.run(problem)
    if inputs_digest(problem) != before:
        raise RuntimeError(f"{config['method']} modified its inputs (image or shared start)")
    charged = start.seconds if method.charged_start else 0.0
    return {**score(hsi, estimate), "time_s": t.seconds + charged, "start_s": start.seconds}


class SceneStudy(StudyDefinition):
    """A benchmark study: its :meth:`load_data` loads the scenes of its configurations
    (:func:`companion.data.scenes.load_scene`, real or synthetic), so that every record lists the
    checksums of the data files they read; an absent user-supplied image is left out (its
    records say "not run")."""

    def load_data(self) -> dict[str, str]:
        files = {}
        for scene in dict.fromkeys(config["scene"] for config in self.configs.values()):
            try:
                files |= load_scene(scene).files
            except MissingImage:
                pass
        return files


def _study(P: Mapping, configs_: dict[str, dict], desc: str, folder: str = "runs") -> SceneStudy:
    scenes = list(dict.fromkeys(config["scene"] for config in configs_.values()))
    return SceneStudy("benchmark", P["scale"], configs_, PROTOCOL, compute, scenes, desc, folder)


def plan(P: Mapping) -> dict[str, StudyDefinition]:
    """The studies of resolved parameters ``P``, in the order of computation: ``main`` (every
    method, scene and seed from the VCA start), ``sensitivity`` (the second start
    ``sensitivity_init`` on ``sensitivity_scenes`` and ``sensitivity_seeds``; absent when either
    is empty) and ``budget`` (every method once, seed 0, VCA start, at
    :data:`companion.chapters.benchmark.PROTOCOL_BUDGET` on ``check_scenes``, in
    ``protocol_budget/``; absent without check scenes). ``main`` and ``sensitivity`` share the
    folder ``runs/``."""
    device = str(resolve_device(P["device"]))
    budget = {k: P[k] for k in BUDGET_KEYS}
    studies = {"main": _study(P, configs(P["methods"], P["scenes"], {"vca": P["seeds"]}, budget, device),
                              "benchmark")}
    if P["sensitivity_seeds"] and P["sensitivity_scenes"]:
        studies["sensitivity"] = _study(P, configs(P["methods"], P["sensitivity_scenes"],
                                                   {P["sensitivity_init"]: P["sensitivity_seeds"]},
                                                   budget, device), "benchmark (second start)")
    if P["check_scenes"]:
        studies["budget"] = _study(P, configs(P["methods"], P["check_scenes"], {"vca": [0]}, PROTOCOL_BUDGET,
                                              device), "benchmark (budget check)", "protocol_budget")
    return studies


def run(methods: Sequence[str], scenes: Sequence[str], inits: Mapping[str, Sequence[int]],
        budget: Mapping[str, int], directory: Path, device: str = "cpu",
        progress: bool = True, executor=None) -> dict[str, dict]:
    """Run (resumably) every configuration of :func:`configs` into ``directory``, outside a
    chapter's plan (tests, scripts; the chapter runs :func:`plan` with
    :func:`companion.pipeline.run`).

    The scenes are loaded before the study starts so that every record carries the checksums of
    the data files it depends on (scenes and starts are cached across records, per process).
    ``executor``: a ``concurrent.futures.Executor`` (a Dask ``client.get_executor()``) whose
    workers compute the records; this process writes them."""
    todo = configs(methods, scenes, inits, budget, device)
    SceneStudy("benchmark", "", todo, PROTOCOL, compute, list(scenes)).load_data()
    return run_study(todo, compute, directory, protocol=PROTOCOL, progress=progress, desc="benchmark",
                     executor=executor)
