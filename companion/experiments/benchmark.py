"""The benchmark: every blind method of the book on the same scenes under one protocol.

Protocol (one record per method, scene, start and seed; :func:`compute`):

* **scene**: a :data:`SCENES` entry; every method gets all its pixels (``Y: (bands, pixels)``).
* **start**: one :class:`companion.methods.Start` per (scene, initialisation, seed), built once
  and handed, as the same object, to every method (:func:`start_for`). The main run uses VCA
  (seed = run seed), the sensitivity run SiVM (deterministic).
* **scoring** (:func:`score`, the same function for every method): endmembers matched to the
  truth by the Hungarian method on the spectral angle (``metrics.match_endmembers``,
  ``"hungarian"``); SAD per endmember and mean (rad); abundance error
  ``metrics.rmse_per_pixel_mean`` of the matched abundances over all pixels; reconstruction
  error ``metrics.rmse_per_pixel_mean`` between ``Y`` and the model's reconstruction.
* **time**: wall seconds of the method's adapter plus, for the methods that need the start, the
  start's own time (VCA + FCLS is charged exactly that); one thread.

A method that refuses a problem, or a scene that cannot be loaded (a user-supplied image that is
absent), gives a record with ``"status"`` and ``"reason"`` instead of numbers.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import metrics, ranking
from ..data import MissingImage
from ..data.hsi import HSI
from ..data.scenes import SCENE_SEED, SCENES, load_scene, scene_family
from ..methods import METHODS, Estimate, Problem, Start, make_start
from ..runtime import Timer
from ..study import run_study

__all__ = ["CLAIMS", "CLAIM_METRICS", "MATCHING", "RankAnalysis", "claim_rows",
           "compute", "configs", "inputs_digest", "match", "not_run_reason", "rank_analysis",
           "record_key", "run", "score", "seed_values", "start_for", "table_matrix",
           "winner_rows"]

MATCHING = "hungarian"


@functools.cache
def start_for(scene: str, init: str, seed: int) -> Start:
    """The one start of (scene, initialisation, seed) that every method receives."""
    hsi = load_scene(scene)
    return make_start(init, hsi.Y, hsi.p, seed, truth=hsi.endmembers)


def match(E_true: np.ndarray, E_est: np.ndarray) -> np.ndarray:
    """The protocol's matching: Hungarian assignment on SAD (``E: (bands, p)``) -> permutation."""
    return metrics.match_endmembers(E_true, E_est, method=MATCHING)


def score(hsi: HSI, estimate: Estimate) -> dict:
    """The protocol's metrics of ``estimate`` against ``hsi``'s truth, after :func:`match`:
    ``sad`` per true endmember and ``sad_mean`` (rad), ``rmse_a`` (mean per-pixel abundance RMSE)
    and ``rmse_y`` (mean per-pixel reconstruction RMSE, in the image's units). Non-finite
    estimates give ``{"status": "diverged"}``."""
    arrays = (estimate.endmembers, estimate.abundances, estimate.reconstruction)
    if not all(np.isfinite(a).all() for a in arrays):
        return {"status": "diverged", "reason": "non-finite estimates"}
    perm = match(hsi.endmembers, estimate.endmembers)
    sad = metrics.sad(hsi.endmembers, estimate.endmembers[:, perm])
    return {"status": "ok", "sad": sad.tolist(), "sad_mean": float(sad.mean()),
            "rmse_a": metrics.rmse_per_pixel_mean(hsi.abundances, estimate.abundances[perm]),
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
    and a ``reason``."""
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


def run(methods: Sequence[str], scenes: Sequence[str], inits: Mapping[str, Sequence[int]],
        budget: Mapping[str, int], directory: Path, device: str = "cpu",
        progress: bool = True, executor=None) -> dict[str, dict]:
    """Run (resumably) every configuration of :func:`configs` into ``directory``.

    The scenes are loaded before the study starts so that every record carries the checksums of
    the data files it depends on (scenes and starts are cached across records, per process).
    ``executor``: a ``concurrent.futures.Executor`` (a Dask ``client.get_executor()``) whose
    workers compute the records (one thread each, as in the serial run); this process writes them."""
    for scene in scenes:
        try:
            load_scene(scene)
        except MissingImage:
            pass
    todo = configs(methods, scenes, inits, budget, device)
    return run_study(todo, compute, directory, protocol={"matching": MATCHING, "scene_seed": SCENE_SEED},
                     progress=progress, desc="benchmark", executor=executor)


def table_matrix(records: Mapping[str, Mapping], methods: Sequence[str], scenes: Sequence[str],
                 metric: str, init: str = "vca") -> np.ndarray:
    """Mean of ``metric`` over the seeds of ``init``, ``(scenes, methods)``; NaN where a method
    has no finite run on a scene (not run, or diverged on every seed)."""
    sums = np.zeros((len(scenes), len(methods)))
    counts = np.zeros((len(scenes), len(methods)))
    row = {s: i for i, s in enumerate(scenes)}
    col = {m: j for j, m in enumerate(methods)}
    for rec_key, rec in records.items():
        scene, method, rec_init, _ = rec_key.split("+")
        if rec_init == init and scene in row and method in col and rec.get("status") == "ok":
            sums[row[scene], col[method]] += rec[metric]
            counts[row[scene], col[method]] += 1
    with np.errstate(invalid="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def seed_values(records: Mapping[str, Mapping], method: str, scene: str, metric: str,
                init: str = "vca") -> list[float | None]:
    """``metric`` of every seed of (method, scene, init), None for a diverged seed; [] when the
    method did not run on the scene."""
    prefix = f"{scene}+{method}+{init}+"
    found = [rec for k, rec in records.items() if k.startswith(prefix) and rec.get("status") != "not run"]
    return [rec.get(metric) if rec.get("status") == "ok" else None for rec in found]


def not_run_reason(records: Mapping[str, Mapping], method: str, scene: str, init: str = "vca") -> str | None:
    """Why (method, scene, init) has no numbers, or None when it ran."""
    prefix = f"{scene}+{method}+{init}+"
    reasons = {rec["reason"] for k, rec in records.items()
               if k.startswith(prefix) and rec.get("status") == "not run"}
    return "; ".join(sorted(reasons)) or None


# The papers' claims of superiority that the benchmark can test: (chapter, paper source, what the
# paper says, the method, its rivals as the paper names them among the benchmark's methods, the
# scene families of the paper's own experiments).
CLAIMS = [
    ("MTL", "Mehrdad & Janani, abstract", "better SAD and RMSE than linear and nonlinear methods",
     "mtl", ("vca_fcls", "l1_nmf", "rnmf", "nlaeu"), ("gbm",)),
    ("U-ADMM", "Zhou et al., Table II, Figs. 19-21", "U-ADMM-BUNet beats MNN-BU and VCA in blind unmixing",
     "uadmm_bunet_ii", ("mnn_bu_2", "vca_fcls"), ("uadmm",)),
    ("NMF-SAE", "Xiong et al., Fig. 3, Table 1", "lower SAD and RMSE than VCA, L1-NMF and the unrolled nets",
     "nmf_sae", ("vca_fcls", "l1_nmf", "uadmm_bunet_ii", "mnn_bu_2"), ("minerals", "jasper")),
    ("DeepGU", "Borsoi et al., Table III", "lower abundance and endmember errors than FCLS and ELMM",
     "deepgu", ("vca_fcls", "elmm"), ("dc1", "dc2")),
]
CLAIM_METRICS = {"sad_mean": "SAD", "rmse_a": "abundance RMSE"}


def _wins(records: Mapping[str, Mapping], ours: str, rivals: Sequence[str],
          scenes: Sequence[str]) -> tuple[int, int]:
    """(won, total) comparisons of seed means, ``ours`` against each rival, on every scene and
    metric of :data:`CLAIM_METRICS` where both have a number."""
    won = total = 0
    for metric in CLAIM_METRICS:
        M = table_matrix(records, [ours, *rivals], scenes, metric)
        both = np.isfinite(M[:, :1]) & np.isfinite(M[:, 1:])
        won += int(np.sum((M[:, :1] < M[:, 1:]) & both))
        total += int(both.sum())
    return won, total


def _verdict(won: int, total: int) -> str:
    return "supported" if won == total else "partly" if 2 * won >= total else "not supported"


def claim_rows(records: Mapping[str, Mapping], methods: Sequence[str], scenes: Sequence[str],
               average: Mapping[str, Mapping[str, float]], cd: Mapping[str, float]) -> list[dict]:
    """Two rows per claim of :data:`CLAIMS` whose methods all ran: on every scene, and on the
    paper's own scene families only. Each compares the seed means of the method with each rival
    on every scene and metric of :data:`CLAIM_METRICS`: *supported* when it wins every
    comparison, *partly* when at least half, *not supported* otherwise (*not attempted* when no
    scene of the paper's kind ran). The all-scenes reason gives the average-rank leads next to
    the critical difference ``cd[metric]`` (``average[metric]`` maps methods to average ranks)."""
    rows = []
    for chapter, source, says, ours, rivals, home in CLAIMS:
        if ours not in methods or not all(r in methods for r in rivals):
            continue
        claim = f"{chapter}: {METHODS[ours].label} beats " + ", ".join(METHODS[r].label for r in rivals)
        won, total = _wins(records, ours, rivals, scenes)
        gaps = "; ".join(
            f"{CLAIM_METRICS[m]}: " + ", ".join(
                f"{METHODS[r].label} {average[m][r] - average[m][ours]:+.2f}" for r in rivals)
            + f" (CD {cd[m]:.2f})" for m in CLAIM_METRICS if m in average)
        rows.append({"key": f"claim_{ours}", "quantity": f"{claim} (all scenes)", "source": source,
                     "unit": "", "paper": says,
                     "ours": f"wins {won} of {total} (scene, metric, rival) comparisons of seed means",
                     "difference": None, "verdict": _verdict(won, total),
                     "reason": f"average-rank lead over each rival (positive: ahead) {gaps}"})
        own = [s for s in scenes if scene_family(s) in home]
        won, total = _wins(records, ours, rivals, own)
        row = {"key": f"claim_{ours}_home", "quantity": f"{claim} (the paper's kind of scene)",
               "source": source, "unit": "", "paper": says, "difference": None}
        if total:
            row |= {"ours": f"wins {won} of {total} on " + ", ".join(SCENES[s].label for s in own),
                    "verdict": _verdict(won, total),
                    "reason": "seed means, SAD and abundance RMSE, each rival, each scene"}
        else:
            row |= {"ours": None, "verdict": "not attempted",
                    "reason": f"no scene of the paper's kind ({', '.join(home)}) in this run"}
        rows.append(row)
    return rows


def winner_rows(records: Mapping[str, Mapping], methods: Sequence[str], scenes: Sequence[str]) -> list[dict]:
    """Per scene, the method with the lowest seed mean of each metric of :data:`CLAIM_METRICS`
    (a finding of this benchmark, not a paper's claim: no verdict)."""
    rows = []
    tables = {m: table_matrix(records, methods, scenes, m) for m in CLAIM_METRICS}
    for i, scene in enumerate(scenes):
        best = {m: int(np.nanargmin(T[i])) for m, T in tables.items() if np.isfinite(T[i]).any()}
        if not best:
            continue
        rows.append({"key": f"first_{scene}", "quantity": f"{SCENES[scene].label}: ranks first",
                     "source": "this benchmark", "unit": "", "paper": None,
                     "ours": "; ".join(f"{CLAIM_METRICS[m]}: {METHODS[methods[j]].label} "
                                       f"({tables[m][i, j]:.4g})" for m, j in best.items()),
                     "difference": None, "verdict": None,
                     "reason": "lowest mean over seeds, VCA start; SAD in rad, abundance RMSE per pixel"})
    return rows


@dataclass
class RankAnalysis:
    """Ranks of ``methods`` over ``scenes`` (those where every listed method ran) on one metric:
    ``scores (N, k)`` seed means, ``ranks (N, k)``, ``average (k,)``, Friedman ``chi2`` and ``p``,
    Nemenyi ``pvalues (k, k)``, the critical difference ``cd`` (alpha 0.05) and the CD diagram's
    ``groups`` (lists of method keys); ``dropped`` maps left-out methods to the reason."""

    metric: str
    methods: list[str]
    scenes: list[str]
    scores: np.ndarray
    ranks: np.ndarray
    average: np.ndarray
    chi2: float
    p: float
    pvalues: np.ndarray
    cd: float
    groups: list[list[str]]
    dropped: dict[str, str]


def rank_analysis(records: Mapping[str, Mapping], methods: Sequence[str], scenes: Sequence[str],
                  metric: str, init: str = "vca") -> RankAnalysis:
    """Friedman and Nemenyi on the seed means of ``metric``: scenes where no method ran are left
    out, then methods missing on a remaining scene (complete blocks are needed)."""
    T = table_matrix(records, methods, scenes, metric, init)
    keep_scenes = np.isfinite(T).any(axis=1)
    keep_methods = np.isfinite(T[keep_scenes]).all(axis=0)
    dropped = {m: "no result on " + ", ".join(s for s, ok in zip(np.array(scenes)[keep_scenes],
                                                                 np.isfinite(T[keep_scenes, j]), strict=True)
                                              if not ok)
               for j, m in enumerate(methods) if not keep_methods[j]}
    scores = T[np.ix_(keep_scenes, keep_methods)]
    kept = [m for m, ok in zip(methods, keep_methods, strict=True) if ok]
    average = ranking.average_ranks(scores)
    chi2, p = ranking.friedman(scores)
    cd = ranking.critical_difference(len(kept), scores.shape[0])
    return RankAnalysis(metric, kept, [s for s, ok in zip(scenes, keep_scenes, strict=True) if ok], scores,
                        ranking.rank_matrix(scores), average, chi2, p, ranking.nemenyi_pvalues(scores), cd,
                        [[kept[i] for i in g] for g in ranking.cd_groups(average, cd)], dropped)
