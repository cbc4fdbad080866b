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
  error ``metrics.rmse_per_pixel_mean`` between ``Y`` and the model's reconstruction. Besides
  these (the fields every record has had), ``metrics`` holds :func:`companion.metrics.score_estimate`
  under each matching of :data:`companion.metrics.MATCH_ON` (SAD in rad and deg per endmember
  and mean, global aRMSE %, per-pixel RMSE, per-endmember RMSE, SRE dB).
* **estimates**: every record keeps the method's endmembers ``(bands, p)`` and abundances ``(p,
  pixels)`` as float32 in ``<key>.npz`` beside it (written atomically before the record,
  :mod:`companion.study`); :func:`load_estimate` reads them back for plotting or re-scoring.
* **time**: wall seconds of the method's adapter plus, for the methods that need the start, the
  start's own time (VCA + FCLS is charged exactly that); one torch thread
  (:func:`companion.runtime.torch_threads`), wherever the record is computed.

**Tracks.** Besides this blind track, :func:`plan` adds the *supervised* track (the true
endmembers given: :data:`companion.tracks.SUPERVISED`, records ``scene+estimator+truth+0`` in
``supervised/``) and the *library* track (the pruned USGS 1995 library given, sparse unmixing:
:data:`companion.tracks.LIBRARY`, records ``scene+estimator+library+0`` in ``library/``), scored
by :func:`score_track`.

**Bring your own method.** A user's ``function(Y, p, start, seed) -> (E, A)`` runs under the
same protocol (:func:`byo_configs`, records in ``byo/<name>/``): its configuration names the
function (``"module:qualname"``) and the hash of its source, so an edited function recomputes.

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
import importlib
import inspect
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from .. import methods, metrics, tracks
from ..chapters.benchmark import PROTOCOL_BUDGET
from ..classic.convergence import noted
from ..data import MissingImage
from ..data.hsi import HSI
from ..data.scenes import SCENE_SEED, load_scene
from ..methods import METHODS, Estimate, Method, Problem, Start, budget_of, make_start
from ..runtime import Timer, resolve_device, torch_threads
from ..study import ARRAYS_KEY, StudyDefinition, load_arrays, run_study

__all__ = ["BYO_PREFIX", "MATCHING", "PROTOCOL", "SceneStudy", "TRACK_INIT", "VERIFY_IGNORE", "byo_configs",
           "byo_function", "compute", "configs", "inputs_digest", "load_estimate", "placement", "plan", "record_key", "run",
           "score", "score_track", "start_for", "track_configs"]

MATCHING = "hungarian"
PROTOCOL = {"matching": MATCHING, "scene_seed": SCENE_SEED}   # every study's protocol
# wall times: measured, never reproduced; a recomputed record equals its stored one without them
# (the saved estimates are checked through the metrics computed from them)
VERIFY_IGNORE = ("time_s", "start_s", ARRAYS_KEY)
TRACK_INIT = {"supervised": "truth", "library": "library"}   # the init field of a track's record keys
BYO_PREFIX = "byo:"   # a configuration's method "byo:<module>:<qualname>" is a user's function


@functools.cache
def start_for(scene: str, init: str, seed: int, device: str = "cpu") -> Start:
    """The one start of (scene, initialisation, seed) that every method receives; its FCLS runs
    on ``device``."""
    hsi = load_scene(scene)
    return make_start(init, hsi.Y, hsi.p, seed, truth=hsi.endmembers, device=device)


def placement(P: Mapping) -> dict[str, str]:
    """Where each part of the chapter's compute runs with parameters ``P``, for the provenance."""
    return methods.placement(P["device"])


def _saved(estimate: Estimate) -> dict:
    """The arrays a record keeps: ``endmembers (bands, p)`` and ``abundances (p, pixels)``, float32
    (relative precision 6e-8, far below any difference the chapter reads)."""
    return {ARRAYS_KEY: {"endmembers": np.asarray(estimate.endmembers, dtype=np.float32),
                         "abundances": np.asarray(estimate.abundances, dtype=np.float32)}}


def score(hsi: HSI, estimate: Estimate) -> dict:
    """The protocol's metrics of ``estimate`` against ``hsi``'s truth, after :func:`match`:
    ``sad`` per true endmember and ``sad_mean`` (rad), ``rmse_a`` (mean per-pixel abundance RMSE)
    and ``rmse_y`` (mean per-pixel reconstruction RMSE, in the image's units); ``metrics``:
    :func:`companion.metrics.score_estimate` under each matching (``{"sad": ..., "abundances":
    ...}``). Non-finite estimates give ``{"status": "diverged"}``."""
    arrays = (estimate.endmembers, estimate.abundances, estimate.reconstruction)
    if not all(np.isfinite(a).all() for a in arrays):
        return {"status": "diverged", "reason": "non-finite estimates"}
    run = metrics.score_runs(hsi.endmembers, hsi.abundances, estimate.endmembers[None],
                             estimate.abundances[None], matching=MATCHING)
    return {"status": "ok", "sad": run["sad"][0], "sad_mean": run["sad_mean"][0], "rmse_a": run["rmse"][0],
            "rmse_y": metrics.rmse_per_pixel_mean(hsi.Y, estimate.reconstruction),
            "metrics": {m: metrics.score_estimate(hsi.endmembers, hsi.abundances, estimate.endmembers,
                                                  estimate.abundances, match_on=m) for m in metrics.MATCH_ON}}


def score_track(hsi: HSI, estimate: Estimate, truth_abundances: np.ndarray) -> dict:
    """A supervised or library estimate against the truth (no matching: the columns of the given
    endmembers or library are known): ``rmse_a`` (mean per-pixel RMSE), ``armse_percent``
    (global, %), ``sre_db`` (abundances, dB) and ``rmse_per_endmember`` over the rows of
    ``truth_abundances (m, pixels)``; ``rmse_y`` the reconstruction's mean per-pixel RMSE."""
    if not (np.isfinite(estimate.abundances).all() and np.isfinite(estimate.reconstruction).all()):
        return {"status": "diverged", "reason": "non-finite estimates"}
    A, X = np.asarray(estimate.abundances, dtype=np.float64), truth_abundances
    return {"status": "ok", "rmse_a": metrics.rmse_per_pixel_mean(X, A),
            "armse_percent": metrics.rmse_global_percent(X, A), "sre_db": metrics.sre_db(X, A),
            "rmse_per_endmember": np.sqrt(np.mean((X - A) ** 2, axis=1)).tolist(),
            "rmse_y": metrics.rmse_per_pixel_mean(hsi.Y, estimate.reconstruction)}


def load_estimate(directory: Path | str, key: str) -> tuple[np.ndarray | None, np.ndarray]:
    """The saved estimate of record ``key`` in a study folder (e.g. ``results/benchmark/paper/runs``):
    ``(endmembers (bands, p), abundances (p, pixels))`` as float64 (stored float32). A track's
    record keeps no endmembers when the estimator used the given ones (``None``: the truth, or
    the library of :func:`companion.tracks.scene_library`). Raises FileNotFoundError for a record
    without saved estimates (computed before they were kept)."""
    arrays = load_arrays(directory, key)
    E = arrays.get("endmembers")
    return (None if E is None else E.astype(np.float64)), arrays["abundances"].astype(np.float64)


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


def track_configs(track: str, estimators: Sequence[str], scenes: Sequence[str], iterations: int,
                  device: str = "cpu") -> dict[str, dict]:
    """The configurations of the ``"supervised"`` or ``"library"`` track: every estimator (a key
    of :data:`companion.tracks.SUPERVISED` / :data:`companion.tracks.LIBRARY`) on every scene,
    once (the estimators are deterministic: seed 0), iterative ones capped at ``iterations``, on
    the torch ``device``."""
    return {record_key(e, s, TRACK_INIT[track], 0): {"track": track, "method": e, "scene": s,
                                                      "iterations": iterations, "device": device}
            for s in scenes for e in estimators}


def byo_function(name: str) -> Callable:
    """The user's function ``"module:qualname"`` (``__main__`` for a notebook's or script's own)."""
    module, _, qualname = name.partition(":")
    target = sys.modules.get(module) or importlib.import_module(module)
    for part in qualname.split("."):
        target = getattr(target, part)
    return target


def byo_configs(function: str, scenes: Sequence[str], seeds: Sequence[int], device: str = "cpu") -> dict[str, dict]:
    """The configurations of a user's method ``function`` ("module:qualname") on ``scenes`` and
    ``seeds``, VCA start, keyed like the main run's records (method ``byo``). Each holds the sha256
    of the function's source, so that editing it recomputes its records."""
    source = inspect.getsource(byo_function(function))
    digest = hashlib.sha256(source.encode()).hexdigest()[:16]
    return {record_key("byo", s, "vca", seed): {"method": BYO_PREFIX + function, "source": digest, "scene": s,
                                                "init": "vca", "seed": seed, "device": device}
            for seed in seeds for s in scenes}


def compute(config: Mapping) -> dict:
    """One record: ``config`` holds ``method``, ``scene``, ``init``, ``seed``, ``budget``, ``device``
    (blind track), or ``track``, ``method`` and ``scene`` (:func:`track_configs`), or a user's
    method (:func:`byo_configs`).

    Returns the metrics of :func:`score` (:func:`score_track`) with ``time_s`` (the method, plus
    the start's time when it needs the start) and ``start_s`` (the start's time), and the
    estimate to save beside the record (``arrays``), or ``status`` "not run" / "diverged" and a
    ``reason``; a solver that ran out of its budget is noted in ``not_converged`` (message:
    count). Runs with one torch thread (as every committed record was computed)."""
    with torch_threads(1), noted() as not_converged:
        record = _compute_track(config) if "track" in config else _compute(config)
    return {**record, "not_converged": not_converged} if not_converged else record


def _byo_method(name: str) -> Method:
    function = byo_function(name)

    def run(pb: Problem) -> Estimate:
        E, A = function(pb.Y, pb.p, pb.start, pb.seed)
        E, A = np.asarray(E, dtype=np.float64), np.asarray(A, dtype=np.float64)
        if E.shape != (pb.Y.shape[0], pb.p) or A.shape != (pb.p, pb.Y.shape[1]):
            raise ValueError(f"{name} returned E {E.shape} and A {A.shape}; expected "
                             f"{(pb.Y.shape[0], pb.p)} and {(pb.p, pb.Y.shape[1])}")
        return Estimate(E, A, E @ A)

    return Method("byo", name, "yours", "start given", "", run)


def _compute(config: Mapping) -> dict:
    try:
        hsi = load_scene(config["scene"])
    except MissingImage as err:
        return {"status": "not run", "reason": f"image not supplied: {str(err).splitlines()[0]}"}
    start = start_for(config["scene"], config["init"], config["seed"], config["device"])
    problem = Problem(hsi.Y, hsi.rows, hsi.cols, hsi.p, start, config["seed"], config.get("budget", {}),
                      config["device"])
    byo = config["method"].startswith(BYO_PREFIX)
    method = _byo_method(config["method"][len(BYO_PREFIX):]) if byo else METHODS[config["method"]]
    reason = method.refuse(problem)
    if reason is not None:
        return {"status": "not run", "reason": reason}
    before = inputs_digest(problem)
    with Timer() as t:
        estimate = method.run(problem)
    if inputs_digest(problem) != before:
        raise RuntimeError(f"{config['method']} modified its inputs (image or shared start)")
    charged = start.seconds if method.charged_start else 0.0
    return {**score(hsi, estimate), "time_s": t.seconds + charged, "start_s": start.seconds, **_saved(estimate)}


def _compute_track(config: Mapping) -> dict:
    hsi = load_scene(config["scene"])
    if config["track"] == "supervised":
        estimator, M, truth = tracks.SUPERVISED[config["method"]], hsi.endmembers, hsi.abundances
    else:
        library = tracks.scene_library(config["scene"], hsi.names)
        estimator, M, truth = tracks.LIBRARY[config["method"]], library.spectra, library.abundances(hsi.abundances)
    with Timer() as t:
        estimate = estimator.run(hsi.Y, M, hsi.rows, hsi.cols, estimator.with_budget(config["iterations"]),
                                 config["device"])
    # the given endmembers or library are not saved again (tracks.scene_library rebuilds it)
    keep = {ARRAYS_KEY: {"abundances": np.asarray(estimate.abundances, dtype=np.float32)}}
    if estimate.endmembers is not M:
        keep[ARRAYS_KEY]["endmembers"] = np.asarray(estimate.endmembers, dtype=np.float32)
    return {**score_track(hsi, estimate, truth), "time_s": t.seconds, "bands": int(M.shape[0]),
            "columns": int(M.shape[1]), **keep}


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
    folder ``runs/``. Then the ``supervised`` and ``library`` tracks (``<track>_methods`` on
    ``<track>_scenes``, folders ``supervised/`` and ``library/``) when the parameters name them."""
    device = str(resolve_device(P["device"]))
    budget = budget_of(P)
    studies = {"main": _study(P, configs(P["methods"], P["scenes"], {"vca": P["seeds"]}, budget, device),
                              "benchmark")}
    if P["sensitivity_seeds"] and P["sensitivity_scenes"]:
        studies["sensitivity"] = _study(P, configs(P["methods"], P["sensitivity_scenes"],
                                                   {P["sensitivity_init"]: P["sensitivity_seeds"]},
                                                   budget, device), "benchmark (second start)")
    if P["check_scenes"]:
        studies["budget"] = _study(P, configs(P["methods"], P["check_scenes"], {"vca": [0]},
                                              budget_of(P, PROTOCOL_BUDGET), device),
                                   "benchmark (budget check)", "protocol_budget")
    for track in TRACK_INIT:      # absent from the parameters of runs made before the tracks
        if P.get(f"{track}_methods") and P.get(f"{track}_scenes"):
            studies[track] = _study(P, track_configs(track, P[f"{track}_methods"], P[f"{track}_scenes"],
                                                     P[f"{track}_iterations"], device),
                                    f"benchmark ({track} track)", track)
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
