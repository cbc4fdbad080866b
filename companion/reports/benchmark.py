"""The benchmark's report: tables, ranks, figure data and the papers' claims from the records.

:func:`report` is a pure function of the resolved parameters ``P`` and the records of
:func:`companion.experiments.benchmark.plan` (``{"main", "sensitivity", "budget": {key:
record}}``, the last two absent when the plan has none) and of the claims declared in
:mod:`companion.chapters.benchmark`. Its ``data`` holds every number the chapter shows; the
other public functions turn that data (``Report.data``) into the chapter's tables and texts.

Record keys are ``scene+method+init+seed`` (:func:`companion.experiments.benchmark.record_key`).
Everything is ranked and compared on seed means (lower is better for every metric).

Claims (:data:`companion.chapters.benchmark.CLAIMS`): the claimant's seed mean against each
rival's on each scene and metric of :data:`companion.chapters.benchmark.CLAIM_METRICS` where both
have a number is one paired comparison (a tie is left out); :func:`companion.verdicts.claim_row`
judges the wins and losses by the sign test. A missed claim's reason comes from the budget check
(each method once at its own paper's budget): when the claim holds there, the miss is the
benchmark's short budget (``open protocol choice: iteration budget``); otherwise the budget does
not explain it (``unexplained``, with those numbers). The per-scene winners (``first_<scene>``)
are findings of this benchmark, not a paper's claim: they are in ``data["findings"]``, outside
the comparison.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .. import metrics, pipeline, ranking, tracks, verdicts
from ..chapters.benchmark import CLAIM_METRICS, CLAIM_TERMS, CLAIMS, PROTOCOL_BUDGET
from ..data import MissingImage
from ..data.scenes import SCENES, load_scene, scene_family
from ..experiments import benchmark as experiments
from ..experiments.benchmark import TRACK_INIT, record_key
from ..initialisation import INITIALISATIONS
from ..methods import METHODS, budget_of
from ..pipeline import Report
from ..results import Table, format_mean_std
from ..study import run_study

__all__ = ["BYO", "HIGHER_IS_BETTER", "METRICS", "NOT_RECORDED", "PER_ENDMEMBER", "RANKED", "TRACKS",
           "TRACK_METRICS", "TRACK_RANKED", "USER_METRICS", "RankAnalysis", "bring_your_own", "budget_table",
           "byo_summary", "claim_counts", "claims_table", "closing_note", "findings_table", "lessons",
           "methods_table", "metric_tables", "not_run_reason", "per_endmember_table", "protocol_table",
           "rank_analysis", "rank_table", "report", "scene_table", "seed_mean", "seed_values",
           "sensitivity_ranks", "sensitivity_table", "table_matrix", "test_summary", "track_rank_data",
           "track_tables", "user_metric_tables", "winner_rows"]

METRICS = {"sad_mean": ("mean SAD (rad)", ".4f"), "rmse_a": ("abundance RMSE", ".4f"),
           "rmse_y": ("reconstruction RMSE", ".4f"), "time_s": ("wall time (s)", ".1f")}
RANKED = {"sad_mean": "mean SAD", "rmse_a": "abundance RMSE"}
# The metrics users compare with (metrics.score_estimate), per matching of metrics.MATCH_ON;
# records computed before they were kept show NOT_RECORDED.
USER_METRICS = {"sad_mean_deg": ("mean SAD (deg)", ".2f"), "sad_mean_rad": ("mean SAD (rad)", ".4f"),
                "armse_percent": ("global aRMSE (%)", ".2f"),
                "rmse_per_pixel_mean": ("mean per-pixel abundance RMSE", ".4f"),
                "sre_db": ("abundance SRE (dB, higher is better)", ".2f")}
PER_ENDMEMBER = {"sad_deg": ("SAD (deg)", ".2f"), "rmse_per_endmember": ("abundance RMSE", ".4f")}
MATCHING_TEXT = {"sad": "matched on SAD (Hungarian)",
                 "abundances": "matched on the abundance maps (Hungarian on MSE)"}
NOT_RECORDED = "not recorded"
HIGHER_IS_BETTER = frozenset({"sre_db"})
# The tracks with the endmembers given (companion.tracks): what each record holds and what ranks
TRACKS = {"supervised": ("the true endmembers", tracks.SUPERVISED),
          "library": ("the pruned USGS 1995 library", tracks.LIBRARY)}
TRACK_METRICS = {"rmse_a": ("mean per-pixel abundance RMSE", ".4f"),
                 "armse_percent": ("global aRMSE (%)", ".2f"),
                 "sre_db": ("abundance SRE (dB, higher is better)", ".2f"),
                 "rmse_y": ("reconstruction RMSE", ".4f"), "time_s": ("wall time (s)", ".1f")}
TRACK_RANKED = {"rmse_a": "mean per-pixel abundance RMSE", "sre_db": "abundance SRE (dB)"}
BYO = "byo"   # the method key of a user's method in its records


def label(method: str, labels: Mapping[str, str] | None = None) -> str:
    """Display name of a method: ``labels`` (a track's estimators, a user's method) first."""
    return (labels or {}).get(method) or METHODS[method].label


# ----------------------------------------------------------------------------- records -> numbers
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

    def to_dict(self) -> dict:
        """JSON-ready: lists for the arrays."""
        return {"metric": self.metric, "methods": self.methods, "scenes": self.scenes,
                "scores": self.scores.tolist(), "ranks": self.ranks.tolist(),
                "average": self.average.tolist(),
                "chi2": self.chi2, "p": self.p, "pvalues": self.pvalues.tolist(), "cd": self.cd,
                "groups": self.groups, "dropped": self.dropped}


def rank_analysis(records: Mapping[str, Mapping], methods: Sequence[str], scenes: Sequence[str],
                  metric: str, init: str = "vca") -> RankAnalysis:
    """Friedman and Nemenyi on the seed means of ``metric`` (ranked on ``-metric`` when it is in
    :data:`HIGHER_IS_BETTER`; ``scores`` keep the values): scenes where no method ran are left
    out, then methods missing on a remaining scene (complete blocks are needed). Raises
    ValueError when fewer than two scenes or methods remain."""
    T = table_matrix(records, methods, scenes, metric, init)
    keep_scenes = np.isfinite(T).any(axis=1)
    keep_methods = np.isfinite(T[keep_scenes]).all(axis=0)
    dropped = {m: "no result on " + ", ".join(s for s, ok in zip(np.array(scenes)[keep_scenes],
                                                                 np.isfinite(T[keep_scenes, j]), strict=True)
                                              if not ok)
               for j, m in enumerate(methods) if not keep_methods[j]}
    scores = T[np.ix_(keep_scenes, keep_methods)]
    kept = [m for m, ok in zip(methods, keep_methods, strict=True) if ok]
    ranked = -scores if metric in HIGHER_IS_BETTER else scores
    average = ranking.average_ranks(ranked)
    chi2, p = ranking.friedman(ranked)
    cd = ranking.critical_difference(len(kept), scores.shape[0])
    return RankAnalysis(metric, kept, [s for s, ok in zip(scenes, keep_scenes, strict=True) if ok], scores,
                        ranking.rank_matrix(ranked), average, chi2, p, ranking.nemenyi_pvalues(ranked), cd,
                        [[kept[i] for i in g] for g in ranking.cd_groups(average, cd)], dropped)


def claim_counts(records: Mapping[str, Mapping], ours: str, rivals: Sequence[str],
                 scenes: Sequence[str], init: str = "vca") -> tuple[int, int, int]:
    """``(wins, losses, ties)`` of ``ours`` against each rival: one comparison per scene, metric of
    :data:`CLAIM_METRICS` and rival where both have a seed mean (lower wins)."""
    wins = losses = ties = 0
    for metric in CLAIM_METRICS:
        M = table_matrix(records, [ours, *rivals], scenes, metric, init)
        both = np.isfinite(M[:, :1]) & np.isfinite(M[:, 1:])
        wins += int(np.sum((M[:, :1] < M[:, 1:]) & both))
        losses += int(np.sum((M[:, :1] > M[:, 1:]) & both))
        ties += int(np.sum((M[:, :1] == M[:, 1:]) & both))
    return wins, losses, ties


def _finite(value) -> float | None:
    return float(value) if value is not None and np.isfinite(value) else None


def _claim_scenes(P: Mapping, home: Sequence[str] | None) -> list[str]:
    return list(P["scenes"]) if home is None else [s for s in P["scenes"] if scene_family(s) in home]


# Declared diagnosis experiments whose results bear on a method's claims (book/diagnoses.md; the
# results in results/diagnosis/): cited in the evidence of that method's missed claims.
DIAGNOSES = {
    "deepgu": ("diagnosis DeepGU 1 (declared before its result; results/diagnosis/deepgu_budget.json): at "
               "DeepGU's own budget on DC1 and DC2 at 30 and 20 dB, seeds 0-4, DeepGU has the lower relative "
               "RMSE_A in 8 of 40 comparisons with VCA + FCLS and ELMM (DC1 30 dB 8 of 10, DC1 20 dB 0, "
               "DC2 30 dB 0, DC2 20 dB 0): not supported on its own scenes either, in agreement with the "
               "DeepGU chapter's DC1 (supported) and DC2 (not supported) rankings; run at 3a33b9d, from the "
               "same (uniform-draw) VCA starts as these records"),
}


def _budget_evidence(P: Mapping, budget: Mapping[str, Mapping], main: Mapping[str, Mapping], ours: str,
                     rivals: Sequence[str]) -> verdicts.Reason:
    """The reason of a missed claim, from the budget check (see the module docstring)."""
    scenes = list(P["check_scenes"])
    if not budget or not scenes:
        return verdicts.Reason("unexplained", "")
    full = claim_counts(budget, ours, rivals, scenes)
    short = claim_counts({k: r for k, r in main.items() if k.endswith("+0")}, ours, rivals, scenes)
    where = ", ".join(SCENES[s].label for s in scenes)
    evidence = (f"budget check (each method once, seed 0, VCA start, on {where}): at each paper's own "
                f"budget {label(ours)} wins {full[0]} and loses {full[1]} of its comparisons with "
                + ", ".join(label(r) for r in rivals)
                + f" (ties {full[2]}); at the benchmark's budget, same seed and scenes, it wins "
                  f"{short[0]} and loses {short[1]}")
    if sum(full[:2]) and verdicts.judge_claim(full[0], full[1]) == "supported":
        return verdicts.Reason("open protocol choice: iteration budget", evidence)
    diagnosis = f"; {DIAGNOSES[ours]}" if ours in DIAGNOSES else ""
    return verdicts.Reason("unexplained", evidence + "; the papers' budgets do not close the gap" + diagnosis)


def claim_rows(P: Mapping, main: Mapping[str, Mapping], budget: Mapping[str, Mapping],
               analyses: Mapping[str, RankAnalysis]) -> tuple[list[dict], dict]:
    """The comparison rows of :data:`CLAIMS` (``verdicts.claim_row``) and, per claim, the
    counts, scenes and average-rank leads over each rival beside the critical difference."""
    rows, details = [], {}
    for claim in CLAIMS:
        ours, rivals, home = CLAIM_TERMS[claim.key]
        scenes = _claim_scenes(P, home)
        missing = [m for m in (ours, *rivals) if m not in P["methods"]]
        if missing:
            rows.append(verdicts.claim_row(claim, 0, 0, None, not_attempted="not in this run: "
                                           + ", ".join(missing)))
            continue
        wins, losses, ties = claim_counts(main, ours, rivals, scenes)
        if wins + losses + ties == 0:
            why = (f"no scene of the paper's kind ({', '.join(home)}) in this run" if home and not scenes
                   else f"no scene where {label(ours)} and a rival both have a number")
            rows.append(verdicts.claim_row(claim, 0, 0, None, not_attempted=why))
            continue
        if home is None:
            ours_text = (f"wins {wins} of {wins + losses + ties} (scene, metric, rival) comparisons of "
                         "seed means")
        else:
            ours_text = (f"wins {wins} of {wins + losses + ties} on "
                         + ", ".join(SCENES[s].label for s in scenes))
        if ties:
            ours_text += f" ({ties} ties)"
        verdict = verdicts.judge_claim(wins, losses)
        reason = _budget_evidence(P, budget, main, ours, rivals) if verdicts.is_miss(verdict) else None
        rows.append(verdicts.claim_row(claim, wins, losses, ours_text, ties=ties, reason=reason))
        leads = {metric: {r: float(dict(zip(a.methods, a.average, strict=True))[r]
                                   - dict(zip(a.methods, a.average, strict=True))[ours])
                          for r in rivals if r in a.methods}
                 for metric, a in analyses.items() if ours in a.methods}
        details[claim.key] = {"method": ours, "rivals": list(rivals), "scenes": scenes, "wins": wins,
                              "losses": losses, "ties": ties, "rank_leads": leads,
                              "cd": {metric: a.cd for metric, a in analyses.items()}}
    return rows, details


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
                     "ours": "; ".join(f"{CLAIM_METRICS[m]}: {label(methods[j])} "
                                       f"({tables[m][i, j]:.4g})" for m, j in best.items()),
                     "difference": None, "verdict": None,
                     "reason": "lowest mean over seeds, VCA start; SAD in rad, abundance RMSE per pixel"})
    return rows


def _cells(records: Mapping[str, Mapping], P: Mapping) -> dict:
    """Per metric of :data:`METRICS`: the seed values of every (scene, method) and why a pair
    has none."""
    out = {}
    for metric in METRICS:
        values, missing = {}, {}
        for s in P["scenes"]:
            for m in P["methods"]:
                found = seed_values(records, m, s, metric)
                if found:
                    values.setdefault(s, {})[m] = found
                else:
                    missing.setdefault(s, {})[m] = not_run_reason(records, m, s) or "no record"
        out[metric] = {"values": values, "not_run": missing}
    return out


def _user_cells(records: Mapping[str, Mapping], P: Mapping) -> dict | None:
    """Per matching of :data:`companion.metrics.MATCH_ON` and metric of :data:`USER_METRICS` and
    :data:`PER_ENDMEMBER`: the seed values of every (scene, method) (None for a diverged seed), or
    why there are none (:data:`NOT_RECORDED` for records made before the metrics were kept).
    None when no record of the run holds them (an older run)."""
    if not any("metrics" in r for r in records.values()):
        return None
    out = {}
    for matching in metrics.MATCH_ON:
        for metric in (*USER_METRICS, *PER_ENDMEMBER):
            values, missing = {}, {}
            for s in P["scenes"]:
                for m in P["methods"]:
                    prefix = f"{s}+{m}+vca+"
                    found = [r for k, r in records.items()
                             if k.startswith(prefix) and r.get("status") != "not run"]
                    if found and all(r.get("status") != "ok" or "metrics" in r for r in found):
                        values.setdefault(s, {})[m] = [r["metrics"][matching][metric]
                                                       if r.get("status") == "ok" else None for r in found]
                    else:
                        missing.setdefault(s, {})[m] = (NOT_RECORDED if found else
                                                        not_run_reason(records, m, s) or "no record")
            out.setdefault(matching, {})[metric] = {"values": values, "not_run": missing}
    return out


def _rank_or_reason(records: Mapping[str, Mapping], methods: Sequence[str], scenes: Sequence[str],
                    metric: str, init: str) -> dict:
    """:func:`rank_analysis` as a dict, or ``{"unranked": why}`` when too few scenes or methods
    have results (Friedman needs two of each)."""
    try:
        return rank_analysis(records, methods, scenes, metric, init).to_dict()
    except ValueError as err:
        return {"metric": metric, "unranked": str(err)}


def _track(P: Mapping, track: str, records: Mapping[str, Mapping]) -> dict:
    """A track's data: estimators and their labels and settings, cells of :data:`TRACK_METRICS`
    (one record per scene, no seeds), ranks on :data:`TRACK_RANKED`."""
    methods, scenes, init = list(P[f"{track}_methods"]), list(P[f"{track}_scenes"]), TRACK_INIT[track]
    registry = TRACKS[track][1]
    cells = {}
    for metric in TRACK_METRICS:
        values, missing = {}, {}
        for s in scenes:
            for m in methods:
                found = seed_values(records, m, s, metric, init)
                if found:
                    values.setdefault(s, {})[m] = found
                else:
                    missing.setdefault(s, {})[m] = not_run_reason(records, m, s, init) or "no record"
        cells[metric] = {"values": values, "not_run": missing}
    columns = sorted({r["columns"] for r in records.values() if "columns" in r}) if track == "library" else []
    return {"methods": methods, "scenes": scenes, "iterations": P[f"{track}_iterations"],
            "labels": {m: registry[m].label for m in methods},
            "settings": {m: registry[m].describe() for m in methods}, "library_columns": columns,
            "cells": cells,
            "ranks": {m: _rank_or_reason(records, methods, scenes, m, init) for m in TRACK_RANKED}}


def _accuracy_vs_time(records: Mapping[str, Mapping], P: Mapping) -> dict:
    """Per ranked metric: each method's median wall time per scene and median error relative to
    the best method of each scene (None where it has none)."""
    out = {}
    for metric in RANKED:
        err = table_matrix(records, P["methods"], P["scenes"], metric)
        t = table_matrix(records, P["methods"], P["scenes"], "time_s")
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)   # a method with no number on any scene
            x, y = np.nanmedian(t, axis=0), np.nanmedian(err / np.nanmin(err, axis=1, keepdims=True), axis=0)
        out[metric] = {"time": [_finite(v) for v in x], "relative": [_finite(v) for v in y]}
    return out


def _budget_check(P: Mapping, main: Mapping[str, Mapping], budget: Mapping[str, Mapping]) -> dict | None:
    """Per method and check scene: the main run's seed-0 record against the budget check's."""
    if not budget:
        return None
    keep = ("status", "reason", "sad_mean", "rmse_a", "time_s")
    pairs = {m: {s: {"short": {k: main.get(record_key(m, s, "vca", 0), {}).get(k) for k in keep},
                     "full": {k: budget.get(record_key(m, s, "vca", 0), {}).get(k) for k in keep}}
                 for s in P["check_scenes"]} for m in P["methods"]}
    return {"scenes": list(P["check_scenes"]), "budget": budget_of(P, PROTOCOL_BUDGET), "pairs": pairs}


def _sensitivity(P: Mapping, main: Mapping[str, Mapping], second: Mapping[str, Mapping]) -> dict | None:
    """Each method's median ratio of errors (second start / VCA start of the same seed) over the
    sensitivity scenes, and the ranks from the second start."""
    if not (P["sensitivity_seeds"] and P["sensitivity_scenes"]):
        return None
    init, seed, scenes = P["sensitivity_init"], P["sensitivity_seeds"][0], P["sensitivity_scenes"]
    ratios = {}
    for m in P["methods"]:
        for metric in RANKED:
            a = table_matrix({k: r for k, r in main.items() if k.endswith(f"+{seed}")}, [m], scenes, metric,
                             "vca")[:, 0]
            b = table_matrix(second, [m], scenes, metric, init)[:, 0]
            both = np.isfinite(a) & np.isfinite(b)
            ratios.setdefault(m, {})[metric] = (
                {"median": float(np.median(b[both] / a[both])), "scenes": int(both.sum())} if both.any()
                else {"not_run": not_run_reason(second, m, scenes[0], init) or "—"})
    ranks = {metric: rank_analysis(second, P["methods"], scenes, metric, init).to_dict() for metric in RANKED}
    return {"init": init, "seed": seed, "scenes": list(scenes), "ratios": ratios, "ranks": ranks}


def report(P: Mapping, records: Mapping[str, Mapping[str, Mapping]]) -> Report:
    """The benchmark's comparison (the claims) and data: seed values per cell, ranks, findings,
    claim details, the budget check, the sensitivity run and the accuracy-vs-time figure data."""
    main = records["main"]
    budget = records.get("budget", {})
    analyses = {m: rank_analysis(main, P["methods"], P["scenes"], m) for m in RANKED}
    comparison, claims = claim_rows(P, main, budget, analyses)
    data = {"methods": list(P["methods"]), "scenes": list(P["scenes"]), "seeds": list(P["seeds"]),
            "budget": budget_of(P),
            "method_seconds": float(sum(r.get("time_s") or 0.0 for study in records.values()
                                        for r in study.values())),
            "records": sum(len(study) for study in records.values()),
            "cells": _cells(main, P),
            "ranks": {m: a.to_dict() for m, a in analyses.items()},
            "claims": claims,
            "findings": winner_rows(main, P["methods"], P["scenes"]),
            "accuracy_vs_time": _accuracy_vs_time(main, P),
            "check": _budget_check(P, main, budget),
            "sensitivity": _sensitivity(P, main, records.get("sensitivity", {}))}
    # added with the tracks and the saved metrics; absent from the data of an older run (whose
    # committed summary the report regenerates unchanged)
    user = _user_cells(main, P)
    if user is not None:
        data["user_metrics"] = user
    ran = {t: _track(P, t, records[t]) for t in TRACKS if t in records}
    if ran:
        data["tracks"] = ran
    return Report(comparison, data)


# ----------------------------------------------------------------------------- tables and texts
def protocol_table(P: Mapping, device: str) -> Table:
    """What every method gets, each choice labelled P, C or O."""
    sensitivity = bool(P["sensitivity_seeds"] and P["sensitivity_scenes"])
    rows = [
        {"item": "pixels", "choice": "every pixel of the scene, for training and for scoring", "label":
         "O: the papers train some networks on subsets (U-ADMM, NMF-SAE: 1000 pixels); one rule for all"},
        {"item": "start", "choice": f"{INITIALISATIONS['vca']}, seed = run seed, then exact FCLS; one object "
         "per (scene, seed) handed to every method that takes a start", "label":
         "P/C: every paper starts from VCA (U-ADMM's official code takes |VCA|, kept in its adapter)"},
        {"item": "sensitivity start", "choice": (
            f"{INITIALISATIONS[P['sensitivity_init']]}, seeds {P['sensitivity_seeds']}, scenes "
            f"{', '.join(SCENES[s].label for s in P['sensitivity_scenes'])}" if sensitivity
            else "none at this scale"),
         "label": "O: a second, deterministic start (the U-ADMM official code's)"},
        {"item": "matching",
         "choice": "Hungarian assignment on the spectral angle (metrics.match_endmembers)",
         "label": "O: optimal and the same for all (papers: exhaustive, greedy Euclidean, or unstated)"},
        {"item": "endmember error", "choice": "SAD per endmember and its mean over endmembers, radians;"
         " per-pixel models (ELMM, DeepGU) by their pixel-mean endmember",
         "label": "P: all five papers use SAD"},
        {"item": "abundance error", "choice": "mean over pixels of the per-pixel RMSE (rmse_per_pixel_mean)",
         "label": "P: ATE, U-ADMM, NMF-SAE, MTL (DeepGU uses a global RMSE)"},
        {"item": "reconstruction error", "choice": "rmse_per_pixel_mean between Y and the model's own "
         "reconstruction (rNMF: its linear part M A, without the outlier term)", "label": "O"},
        {"item": "statistics", "choice": f"mean ± std over {len(P['seeds'])} seed(s); ranks per scene on the "
         "seed means; Friedman + Nemenyi (alpha 0.05) over scenes", "label": "O: Demšar (2006)"},
        {"item": "claims", "choice": "one-sided sign test on the wins and losses of the (scene, metric, "
         "rival) comparisons of seed means, ties left out", "label": "O: the book's rule for claims"},
        {"item": "time", "choice": f"wall seconds of each method on {device}, plus the start's time for "
         "the methods that need it (VCA + FCLS is that time alone); every record on one torch thread",
         "label": "O"},
        {"item": "budgets", "choice": ", ".join(f"{k} {v}" for k, v in budget_of(P).items()), "label":
         "O: far below each paper's protocol (CPU time); see the methods table"},
        {"item": "metrics users compare with", "choice": "per record, under each matching (SAD: Hungarian "
         "on the spectral angle; abundances: Hungarian on the abundance maps' MSE): SAD per endmember and "
         "mean in rad and deg, global aRMSE (%), mean per-pixel RMSE, per-endmember RMSE, abundance SRE (dB)",
         "label": "O: HySUPP matches on abundances and reports aRMSE % and SAD deg; the papers match on SAD"},
        {"item": "saved estimates", "choice": "every record keeps the method's endmembers and abundances "
         "(float32, compressed .npz beside it, written before it); experiments.benchmark.load_estimate",
         "label": "O: re-scoring or plotting without recomputing"},
        {"item": "supervised track", "choice": (
            f"true endmembers given; {', '.join(P['supervised_methods'])} on "
            f"{len(P['supervised_scenes'])} scene(s), iteration cap {P['supervised_iterations']}"
            if P.get("supervised_methods") else "none at this scale"),
         "label": "O: abundance estimation alone, no matching (the columns are known)"},
        {"item": "library track", "choice": (
            f"the USGS 1995 library on the scene's channels, pruned to {tracks.PRUNE_DEG} deg with the "
            f"scene's spectra kept first; {', '.join(P['library_methods'])} on "
            f"{len(P['library_scenes'])} scene(s), iteration cap {P['library_iterations']}, tolerance 1e-7"
            if P.get("library_methods") else
            "none at this scale"),
         "label": "P: Iordache et al. (2011) prune to 4.44 deg; O: truth kept first, "
                  "so it is in the library"},
        {"item": "track ranks",
         "choice": "Friedman + Nemenyi over scenes on the mean per-pixel abundance RMSE "
                   "and the abundance SRE (dB, higher is better)", "label": "O: as the blind track"},
    ]
    return Table(rows, {"item": "protocol item", "choice": "what every method gets", "label": "P / C / O"},
                 caption="The common protocol")


def methods_table(P: Mapping) -> Table:
    return Table([{"label": m.label, "chapter": m.chapter, "start": m.start_use,
                   "start_free": "yes" if m.start_free else "no", "settings": m.settings}
                  for k, m in METHODS.items() if k in P["methods"]],
                 {"label": "method", "chapter": "chapter", "start": "uses the shared start",
                  "start_free": "start-free", "settings": "stated configuration"},
                 caption="The methods (one configuration each)")


def scene_table(P: Mapping) -> Table:
    """Every scene of the run with its size, or why it cannot be loaded."""
    rows = []
    for name in P["scenes"]:
        spec = SCENES[name]
        row = {"scene": spec.label, "source": spec.source, "kind": spec.kind,
               "snr": "—" if spec.snr_db is None else f"{spec.snr_db:g} dB"}
        try:
            hsi = load_scene(name)
            row["size"] = f"{hsi.bands} bands, {hsi.rows} x {hsi.cols} pixels, p = {hsi.p}"
        except MissingImage as err:
            row["size"] = f"not run: {str(err).splitlines()[0]}"
        rows.append(row)
    return Table(rows, {"scene": "scene", "source": "source", "kind": "kind", "snr": "SNR", "size": "size"},
                 caption="The scenes (synthetic scenes drawn once, seed 0)")


def metric_tables(data: Mapping, where: str) -> list[Table]:
    """One table per metric of :data:`METRICS`: mean ± std over seeds, or why there is none."""
    out = []
    for metric, (name, fmt) in METRICS.items():
        cells = data["cells"][metric]

        def cell(m, s, cells=cells, fmt=fmt):
            values = cells["values"].get(s, {}).get(m)
            return format_mean_std(values, fmt) if values else "not run: " + cells["not_run"][s][m]

        rows = [{"method": label(m, data.get("labels")), **{s: cell(m, s) for s in data["scenes"]}}
                for m in data["methods"]]
        columns = {"method": "method", **{s: SCENES[s].label for s in data["scenes"]}}
        out.append(Table(rows, columns, caption=f"{name}, mean ± std over {len(data['seeds'])} seed(s), VCA "
                                                f"start, matched on SAD ({where}); lower is better"))
    return out


def _groups(groups: Sequence[Sequence[str]], labels: Mapping[str, str] | None = None) -> str:
    return "; ".join("{" + ", ".join(label(m, labels) for m in g) + "}" for g in groups) or "none"


def rank_table(data: Mapping, caption: str) -> Table:
    """Average ranks, best first, per ranked metric of ``data["ranks"]`` (the main run's, or a
    track's or a user's method's data: :func:`track_rank_data`, :func:`bring_your_own`)."""
    names, labels = data.get("ranked", RANKED), data.get("labels")
    rows = []
    for metric, a in data["ranks"].items():
        if "unranked" in a:
            continue
        order = np.argsort(a["average"], kind="stable")
        rows += [{"metric": names[metric], "place": k + 1, "method": label(a["methods"][j], labels),
                  "average rank": float(a["average"][j])} for k, j in enumerate(order)]
    return Table(rows, caption=caption, floatfmt=".2f")


def test_summary(data: Mapping) -> str:
    """Markdown: Friedman, the CD and its groups per ranked metric (see :func:`rank_table`)."""
    names, labels = data.get("ranked", RANKED), data.get("labels")
    lines = []
    for metric, a in data["ranks"].items():
        if "unranked" in a:
            lines.append(f"* **{names[metric]}**: not ranked ({a['unranked']}).")
            continue
        dropped = "; ".join(f"{label(m, labels)} ({why})" for m, why in a["dropped"].items())
        lines.append(f"* **{names[metric]}**: {len(a['methods'])} methods on {len(a['scenes'])} scenes; "
                     f"Friedman chi2 = {a['chi2']:.1f}, p = {a['p']:.2g}; Nemenyi CD = {a['cd']:.2f}; "
                     f"groups not significantly different: {_groups(a['groups'], labels)}."
                     + (f" Left out (incomplete): {dropped}." if dropped else ""))
    return "\n".join(lines)


def _seed_cell(values: list | None, missing: str | None, fmt: str) -> str:
    if values is None:
        return missing if missing == NOT_RECORDED else f"not run: {missing}"
    if len(values) == 1:                        # one run (a track's deterministic estimator)
        return "diverged" if values[0] is None else format(values[0], fmt)
    return format_mean_std(values, fmt)


def user_metric_tables(data: Mapping, where: str, matching: str = "sad") -> list[Table] | str:
    """One table per metric of :data:`USER_METRICS` under ``matching`` (a key of
    :data:`companion.metrics.MATCH_ON`): mean ± std over seeds; markdown text when the records
    hold none of these metrics (a run made before they were kept)."""
    user = data.get("user_metrics")
    if user is None:
        return (f"*SAD in degrees, global aRMSE, SRE and per-endmember errors: {NOT_RECORDED} in these "
                f"records ({where}; computed before the records kept them). Their saved estimates are "
                "absent too; rerun the study to get both.*")
    out = []
    for metric, (name, fmt) in USER_METRICS.items():
        cells = user[matching][metric]
        rows = [{"method": label(m), **{s: _seed_cell(cells["values"].get(s, {}).get(m),
                                                       cells["not_run"].get(s, {}).get(m), fmt)
                                        for s in data["scenes"]}} for m in data["methods"]]
        columns = {"method": "method", **{s: SCENES[s].label for s in data["scenes"]}}
        better = "higher" if metric in HIGHER_IS_BETTER else "lower"
        out.append(Table(rows, columns, caption=f"{name}, {MATCHING_TEXT[matching]}; mean ± std over "
                                                f"{len(data['seeds'])} seed(s), VCA start ({where}); "
                                                f"{better} is better"))
    return out


def per_endmember_table(data: Mapping, scene: str, where: str, matching: str = "sad") -> Table | str:
    """SAD (deg) and abundance RMSE of each true endmember of ``scene``, mean over seeds, per method
    (markdown text when the records hold no per-endmember metrics)."""
    user = data.get("user_metrics")
    if user is None:
        return f"*Per-endmember errors: {NOT_RECORDED} in these records ({where}).*"
    names = load_scene(scene).names
    rows = []
    for m in data["methods"]:
        row = {"method": label(m)}
        for metric, (_, fmt) in PER_ENDMEMBER.items():
            values = user[matching][metric]["values"].get(scene, {}).get(m)
            runs = [v for v in values or [] if v is not None]
            means = np.mean(runs, axis=0) if runs else [None] * len(names)
            for name, v in zip(names, means, strict=True):
                row[f"{metric}:{name}"] = "—" if v is None else format(v, fmt)
        rows.append(row)
    columns = {"method": "method", **{f"{metric}:{n}": f"{what}: {n}"
                                      for metric, (what, _) in PER_ENDMEMBER.items() for n in names}}
    return Table(rows, columns, caption=f"{SCENES[scene].label}: per-endmember SAD (deg) and abundance RMSE, "
                                        f"{MATCHING_TEXT[matching]}, mean over seeds ({where}); "
                                        "lower is better")


def track_rank_data(data: Mapping, track: str) -> dict | None:
    """A track's ranks in the shape :func:`test_summary`, :func:`rank_table` and the chapter's
    figures read (``ranks``, ``ranked`` metric names, estimator ``labels``); None without the
    track."""
    t = data.get("tracks", {}).get(track)
    if t is None:
        return None
    return {"ranks": t["ranks"], "ranked": TRACK_RANKED, "labels": t["labels"], "methods": t["methods"]}


def track_tables(data: Mapping, track: str, where: str) -> list[Table] | str:
    """A track's estimators (settings) and one table per metric of :data:`TRACK_METRICS`
    (markdown text when the run has no such track)."""
    t = data.get("tracks", {}).get(track)
    given = TRACKS[track][0]
    if t is None:
        return f"*No {track} track in this run ({where}).*"
    extra = (f"; library of {', '.join(map(str, t['library_columns']))} spectra"
             if t["library_columns"] else "")
    out = [Table([{"label": t["labels"][m], "key": m, "settings": t["settings"][m]} for m in t["methods"]],
                 {"label": "estimator", "key": "key", "settings": "settings"},
                 caption=f"{track.capitalize()} track: estimators given {given}; iteration cap "
                         f"{t['iterations']}{extra} ({where})")]
    for metric, (name, fmt) in TRACK_METRICS.items():
        cells = t["cells"][metric]
        rows = [{"method": t["labels"][m], **{s: _seed_cell(cells["values"].get(s, {}).get(m),
                                                             cells["not_run"].get(s, {}).get(m), fmt)
                                              for s in t["scenes"]}} for m in t["methods"]]
        better = "higher" if metric in HIGHER_IS_BETTER else "lower"
        out.append(Table(rows, {"method": "estimator", **{s: SCENES[s].label for s in t["scenes"]}},
                         caption=f"{track.capitalize()} track: {name}, no matching (the columns are known), "
                                 f"one deterministic run ({where}); {better} is better"))
    return out


def budget_table(data: Mapping, where: str) -> Table | str:
    """Benchmark budget -> each paper's budget, per method and check scene (markdown text when
    there is no budget check)."""
    check = data["check"]
    if not check:
        return f"*No budget check at this scale ({where}).*"
    rows = []
    for m in data["methods"]:
        row = {"method": label(m)}
        for s in check["scenes"]:
            short, full = check["pairs"][m][s]["short"], check["pairs"][m][s]["full"]
            for metric in RANKED:
                if short["status"] == "ok" and full["status"] == "ok":
                    row[f"{s}:{metric}"] = f"{short[metric]:.4f} → {full[metric]:.4f}"
                else:
                    row[f"{s}:{metric}"] = full["reason"] or short["reason"] or full["status"]
            times = [float("nan") if t is None else t for t in (short["time_s"], full["time_s"])]
            row[f"{s}:time"] = f"{times[0]:.1f} → {times[1]:.0f}"
        rows.append(row)
    columns = {"method": "method"}
    for s in check["scenes"]:
        columns |= {f"{s}:{metric}": f"{SCENES[s].label}: {n}" for metric, n in RANKED.items()}
        columns[f"{s}:time"] = f"{SCENES[s].label}: time (s)"
    budget = ", ".join(f"{k} {v}" for k, v in check["budget"].items())
    return Table(rows, columns,
                 caption=f"Benchmark budget → protocol budget ({budget}); seed 0, VCA start ({where})")


def sensitivity_table(data: Mapping, where: str) -> Table | str:
    """Median error ratio, second start / VCA start, per method (markdown text when none)."""
    sens = data["sensitivity"]
    if not sens:
        return f"*No sensitivity run at this scale ({where}).*"
    rows = []
    for m in data["methods"]:
        row = {"method": label(m)}
        for metric in RANKED:
            r = sens["ratios"][m][metric]
            row[metric] = (f"{r['median']:.2f} ({r['scenes']} scenes)" if "median" in r
                           else f"not run: {r['not_run']}")
        rows.append(row)
    init = sens["init"]
    columns = {"method": "method", **{m: f"{n}: {init} / VCA, median ratio" for m, n in RANKED.items()}}
    return Table(rows, columns,
                 caption=f"Error from the {INITIALISATIONS[init]} start relative to the VCA start of seed "
                         f"{sens['seed']} (< 1: the second start is better; {where})")


def sensitivity_ranks(data: Mapping) -> str | None:
    """Markdown: who ranks first from the second start, Friedman and the CD groups."""
    sens = data["sensitivity"]
    if not sens:
        return None
    out = []
    for metric, a in sens["ranks"].items():
        first = label(a["methods"][int(np.argmin(a["average"]))])
        out.append(f"{RANKED[metric]} from {sens['init']}: first {first}, "
                   f"Friedman p = {a['p']:.2g}, CD groups {_groups(a['groups'])}")
    return f"Ranking from the second start on {len(sens['scenes'])} scenes: " + " — ".join(out) + "."


def claims_table(comparison: Sequence[Mapping], data: Mapping, caption: str) -> Table:
    """The claims: what the paper says, our wins and losses, the sign test, the verdict, the
    reason of a miss and the average-rank leads beside the CD."""
    rows = []
    for row in comparison:
        detail = data["claims"].get(row["key"])
        leads = "—"
        if detail and detail["rank_leads"]:
            leads = "; ".join(f"{CLAIM_METRICS[m]}: "
                              + ", ".join(f"{label(r)} {v:+.2f}" for r, v in rl.items())
                              + f" (CD {detail['cd'][m]:.2f})" for m, rl in detail["rank_leads"].items())
        reason = row.get("reason") or {}
        rows.append({"quantity": row["quantity"], "paper": row["paper"], "ours": row["ours"] or "—",
                     "test": ("—" if row.get("p_value") is None else
                              f"{row['wins']} wins, {row['losses']} losses, p = {row['p_value']:.2g}"),
                     "verdict": row["verdict"],
                     "reason": f"{reason['class']}: {reason['evidence']}" if reason else "—",
                     "leads": leads})
    return Table(rows, {"quantity": "claim", "paper": "paper says", "ours": "we measured",
                        "test": "sign test", "verdict": "verdict", "reason": "reason (misses)",
                        "leads": "average-rank lead over each rival (positive: ahead)"}, caption=caption)


def findings_table(data: Mapping, caption: str) -> Table:
    return Table(data["findings"], {"quantity": "scene", "ours": "lowest seed mean", "reason": "how"},
                 caption=caption)


# the bands of the budget check and the sensitivity run that :func:`lessons` calls a change (O)
CHANGED = (0.8, 1.25)


def seed_mean(data: Mapping, metric: str, scene: str, method: str) -> float:
    """Mean of the finite seed values of ``method`` on ``scene`` in ``data["cells"]`` (nan: none)."""
    values = data["cells"][metric]["values"].get(scene, {}).get(method) or []
    finite = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def _rank_lesson(data: Mapping) -> list[str]:
    out = []
    for metric, a in data["ranks"].items():
        average = np.asarray(a["average"])
        order = np.argsort(average, kind="stable")
        first = order[0]
        near = [a["methods"][j] for j in order if average[j] - average[first] <= a["cd"]]
        start = ("the shared start VCA + FCLS is among them: none of them is significantly better than "
                 "the start" if "vca_fcls" in near else "the shared start VCA + FCLS is not among them")
        out.append(f"**{RANKED[metric]}**: {label(a['methods'][first])} first (average rank "
                   f"{average[first]:.2f}), then {label(a['methods'][order[1]])} ({average[order[1]]:.2f}). "
                   f"Within one critical difference ({a['cd']:.2f} ranks, {len(a['methods'])} methods on "
                   f"{len(a['scenes'])} scenes) of the first: {', '.join(map(label, near))}; {start}. "
                   f"Friedman p = {a['p']:.2g}.")
    return out


def _start_free_lesson(data: Mapping) -> list[str]:
    free = [m for m in data["methods"] if METHODS[m].start_free]
    if not free:
        return []
    places = []
    for m in free:
        where = []
        for metric, a in data["ranks"].items():
            if m in a["methods"]:
                order = [a["methods"][j] for j in np.argsort(a["average"], kind="stable")]
                where.append(f"{order.index(m) + 1} of {len(order)} by {RANKED[metric]}")
        places.append(f"{label(m)} {', '.join(where) or 'not ranked'}")
    return ["**Methods that take no start**: " + "; ".join(places) + "."]


def _real_scene_lesson(data: Mapping) -> list[str]:
    parts = []
    for s in data["scenes"]:
        if SCENES[s].kind != "real":
            continue
        means = {m: seed_mean(data, "sad_mean", s, m) for m in data["methods"]}
        ran = {m: v for m, v in means.items() if np.isfinite(v)}
        if not ran:
            continue
        best = min(ran, key=ran.get)
        parts.append(f"{SCENES[s].label}: {label(best)} {ran[best]:.4f} rad, the start VCA + FCLS "
                     f"{means.get('vca_fcls', float('nan')):.4f}")
    return (["**Real scenes**, lowest mean SAD against the start's: " + "; ".join(parts) + "."]
            if parts else [])


def _winner_lesson(data: Mapping) -> list[str]:
    out = []
    for metric, name in RANKED.items():
        firsts: dict[str, int] = {}
        for s in data["scenes"]:
            means = {m: seed_mean(data, metric, s, m) for m in data["methods"]}
            ran = {m: v for m, v in means.items() if np.isfinite(v)}
            if ran:
                best = min(ran, key=ran.get)
                firsts[best] = firsts.get(best, 0) + 1
        counts = sorted(firsts.items(), key=lambda kv: -kv[1])
        out.append(f"{name}: " + ", ".join(f"{label(m)} {n}" for m, n in counts))
    return [f"**First places** over the {len(data['scenes'])} scenes (lowest seed mean; a finding, "
            "no verdict): " + "; ".join(out) + "."]


def _budget_lesson(data: Mapping) -> list[str]:
    check = data["check"]
    if not check:
        return []
    better, worse = [], []
    low, high = CHANGED
    for m in data["methods"]:
        for s in check["scenes"]:
            short, full = check["pairs"][m][s]["short"], check["pairs"][m][s]["full"]
            if short["status"] != "ok" or full["status"] != "ok" or not short["sad_mean"]:
                continue
            ratio = full["sad_mean"] / short["sad_mean"]
            text = f"{label(m)} on {SCENES[s].label} {short['sad_mean']:.3f} → {full['sad_mean']:.3f}"
            (better if ratio < low else worse if ratio > high else []).append(text)
    return [f"**Each paper's own budget** (budget check, seed 0): mean SAD (rad) falls below {low:g}× "
            f"the benchmark budget's for {'; '.join(better) or 'no method'}, and rises above {high:g}× "
            f"for {'; '.join(worse) or 'no method'}; every other method stays within."]


def _sensitivity_lesson(data: Mapping) -> list[str]:
    sens = data["sensitivity"]
    if not sens:
        return []
    spans = []
    for metric, name in RANKED.items():
        medians = [sens["ratios"][m][metric]["median"] for m in data["methods"]
                   if not METHODS[m].start_free and "median" in sens["ratios"][m][metric]]
        if medians:
            spans.append(f"{name} {min(medians):.2f}–{max(medians):.2f}")
    return [f"**The second start** ({INITIALISATIONS[sens['init']]}, seed {sens['seed']}, "
            f"{len(sens['scenes'])} scenes): median error ratios to the VCA start of the methods that "
            f"take a start, {'; '.join(spans)}. " + (sensitivity_ranks(data) or "")]


def lessons(data: Mapping) -> str:
    """Markdown bullets, the chapter's "What we learned": the ranks and who is within one critical
    difference of the first, where the start-free methods place, the real scenes against the start,
    the first places, what each paper's own budget changes (:data:`CHANGED`) and what the second
    start changes. Every number is read from ``data`` (:func:`report`); no verdict."""
    items = [*_rank_lesson(data), *_start_free_lesson(data), *_real_scene_lesson(data),
             *_winner_lesson(data), *_budget_lesson(data), *_sensitivity_lesson(data)]
    return "\n".join(f"* {item}" for item in items)


def closing_note(comparison: Sequence[Mapping], data: Mapping, where: str) -> str:
    """Markdown: the order by average rank per metric (blind track, then the other tracks) and
    every claim's verdict."""
    lines = [f"From {where}:"]
    for metric, a in data["ranks"].items():
        order = [label(a["methods"][j]) for j in np.argsort(a["average"], kind="stable")]
        lines.append(f"* **{RANKED[metric]}**, best to worst by average rank: {', '.join(order)}. "
                     f"Friedman p = {a['p']:.2g}; CD {a['cd']:.2f}; groups {_groups(a['groups'])}.")
    for track in data.get("tracks", {}):
        ranked = track_rank_data(data, track)
        for metric, a in ranked["ranks"].items():
            if "unranked" in a:
                continue
            order = [label(a["methods"][j], ranked["labels"])
                     for j in np.argsort(a["average"], kind="stable")]
            lines.append(f"* {track} track, **{TRACK_RANKED[metric]}**: {', '.join(order)}; Friedman p = "
                         f"{a['p']:.2g}; CD {a['cd']:.2f}; groups {_groups(a['groups'], ranked['labels'])}.")
    for row in comparison:
        shown = row["ours"] or (row.get("reason") or {}).get("evidence", "")
        lines.append(f"* {row['quantity']}: **{row['verdict']}** ({shown}).")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- bring your own method
def _function_name(function) -> str:
    return function if isinstance(function, str) else f"{function.__module__}:{function.__qualname__}"


def bring_your_own(function, P: Mapping, progress: bool = False) -> dict:
    """Score a user's method on the main run's scenes and seeds and rank it with the stored records.

    ``function(Y (bands, pixels), p, start, seed) -> (E (bands, p), A (p, pixels))``, or its name
    ``"module:qualname"``; ``start`` is the shared :class:`companion.methods.Start` (VCA, seed =
    run seed: ``start.endmembers``, ``start.abundances``). ``P``: the parameters of the run to
    rank against (e.g. the committed summary's ``provenance["params"]``); its main-run records
    must be stored (``pipeline.load_records``), none is recomputed. The user's records go to
    ``results/benchmark/<scale>/byo/<module.qualname>/`` (resumable; an edited function
    recomputes) with the same scoring and saved estimates as every method.

    Returns data shaped like the report's (``methods`` with ``"byo"`` last, ``labels``, ``cells``,
    ``ranks`` on :data:`RANKED` by Friedman + Nemenyi), for :func:`metric_tables`,
    :func:`test_summary`, :func:`rank_table`, :func:`byo_summary` and the chapter's figures."""
    name = _function_name(function)
    only_main = {**P, "sensitivity_seeds": [], "check_scenes": [], "supervised_methods": [],
                 "library_methods": []}
    main = pipeline.load_records("benchmark", only_main)["main"]
    device = pipeline.plan("benchmark", only_main)["main"].configs
    device = next(iter(device.values()))["device"]
    folder = "byo/" + name.replace(":", ".").replace("<", "").replace(">", "")
    definition = experiments.SceneStudy("benchmark", P["scale"],
                                        experiments.byo_configs(name, P["scenes"], P["seeds"], device),
                                        experiments.PROTOCOL, experiments.compute, list(P["scenes"]),
                                        f"your method {name}", folder)
    definition.load_data()
    yours = run_study(definition.configs, experiments.compute, definition.directory(), definition.protocol,
                      progress=progress, desc=definition.desc)
    merged, methods = {**main, **yours}, [*P["methods"], BYO]
    labels = {BYO: f"{name.split(':')[-1]} (yours)"}
    return {"function": name, "directory": str(definition.directory()), "methods": methods,
            "scenes": list(P["scenes"]), "seeds": list(P["seeds"]), "labels": labels, "ranked": RANKED,
            "cells": _cells(merged, {**P, "methods": methods}),
            "ranks": {m: _rank_or_reason(merged, methods, P["scenes"], m, "vca") for m in RANKED},
            "seconds": float(sum(r.get("time_s") or 0.0 for r in yours.values()))}


def byo_summary(data: Mapping) -> str:
    """Markdown: where the user's method places per ranked metric, against whom it differs
    significantly (Nemenyi), from :func:`bring_your_own`'s data."""
    lines = []
    for metric, a in data["ranks"].items():
        if "unranked" in a:
            lines.append(f"* **{RANKED[metric]}**: not ranked ({a['unranked']}).")
            continue
        if BYO not in a["methods"]:
            lines.append(f"* **{RANKED[metric]}**: your method left out "
                         f"({a['dropped'].get(BYO, 'no result')}).")
            continue
        j = a["methods"].index(BYO)
        average = np.asarray(a["average"])
        place = 1 + int(np.sum(average < average[j]))
        tied = [label(m) for i, m in enumerate(a["methods"]) if i != j and average[i] == average[j]]
        if tied:     # a shared place: its range, and with whom
            place = f"{place}–{place + len(tied)} (tied with {', '.join(tied)})"
        p = np.asarray(a["pvalues"])[j]
        better = [label(m) for i, m in enumerate(a["methods"])
                  if p[i] < 0.05 and a["average"][i] > a["average"][j]]
        worse = [label(m) for i, m in enumerate(a["methods"])
                 if p[i] < 0.05 and a["average"][i] < a["average"][j]]
        lines.append(f"* **{RANKED[metric]}**: place {place} of {len(a['methods'])} (average rank "
                     f"{a['average'][j]:.2f}; CD {a['cd']:.2f}, Friedman p = {a['p']:.2g}); "
                     f"significantly ahead of {', '.join(better) or 'none'}; "
                     f"significantly behind {', '.join(worse) or 'none'} (Nemenyi, alpha 0.05).")
    return "\n".join(lines)
