"""Report of the stability chapter (Książek et al. 2022): Tables 2, 3 and 4, Sec. 2.6, verdicts.

:func:`report` is a pure function of the resolved parameters ``P``, the records of the chapter's
one study (``{"runs": {key: record}}``, :func:`companion.pipeline.run` or
:func:`companion.pipeline.load_records`) and the targets declared in
:mod:`companion.chapters.stability`. It computes every number behind the chapter's tables
(Kruskal-Wallis and Conover-Iman per experiment and scheme, the 'ph' candidates, Table 4's errors,
the Spearman correlations, the threshold sweep, Table 3, the Adam and weight-decay variants),
judges every target with :mod:`companion.verdicts` and gives every miss a structured reason whose
evidence names the experiment of the chapter that shows it.

The notebook renders the rows with the table functions below (``*_table``) and draws its figures
from :func:`figure_data`; it computes nothing itself.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping

import numpy as np

from companion import verdicts
from companion.chapters import get_chapter
from companion.experiments import stability as exp
from companion.nets.ensemble import REINIT_METHODS, models_per_chunk
from companion.nets.unmixing_ae import INIT_SCHEMES, SHORT_NAMES
from companion.pipeline import Report
from companion.reports import stability_stats as stats
from companion.verdicts import Reason

__all__ = [
    "MINUS_INF",
    "adam_table",
    "beside",
    "chunk_rows",
    "committed",
    "comparison_table",
    "data_files",
    "figure_data",
    "label",
    "learned",
    "report",
    "size_rows",
    "table2_table",
    "table3_table",
    "table4_table",
    "spearman_table",
    "sweep_table",
    "weight_decay_table",
]

CHAPTER = get_chapter("stability")
TARGETS = {t.key: t for t in CHAPTER.PAPER_TARGETS}
CLAIMS = {c.key: c for c in CHAPTER.CLAIMS}
PAPER = CHAPTER.PRESETS["paper"]
# Endmembers of the scenes (Samson 3, Jasper Ridge 4): a bottleneck unit is dead on every pixel
# when the run's dead coefficient is at least 1/R.
ENDMEMBERS = {"samson": 3, "jasper": 4}
METRICS = ("rmse", "abundance_error", "endmember_error", "dead", "diverged")
MINUS_INF = "−∞ (p underflows to 0)"
ALPHA = 0.05
# The power argument explains the significant-H share when it predicts at least this share of
# the cells (significant or not) right.
POWER_AGREEMENT = 0.8


# ----------------------------------------------------------------------------- records -> arrays
def label(P: Mapping) -> str:
    """The run's label: the committed reduced paper run is "paper protocol, N = .., k = .., ..."."""
    full = all(P[k] == PAPER[k] for k in ("initialisations", "runs", "epochs", "reinit_initialisations"))
    if P["scale"] == "paper" and not full:
        return (
            f"paper protocol, N = {P['initialisations']}, k = {P['runs']}, {P['epochs']} epochs; Table 3: "
            f"{P['reinit_initialisations']} initialisations per scheme, t = "
            + ", ".join(f"{t:g}" for t in P["thresholds"])
        )
    return f"scale={P['scale']}: N = {P['initialisations']}, k = {P['runs']}, {P['epochs']} epochs"


def _runs(P: Mapping, records: Mapping) -> dict:
    """``{experiment: {scheme: {metric: (N, k) array}}}`` from the Table 1 records."""
    configs = exp.configs(P)
    study = records[exp.STUDY]
    return {
        e: {
            s: {
                m: np.concatenate(
                    [
                        np.asarray(study[k][s][m], dtype=float)
                        for k in configs
                        if configs[k]["kind"] == "table1" and configs[k]["experiment"] == e
                    ]
                )
                for m in METRICS
            }
            for s in P["schemes"]
        }
        for e in sorted(P["experiments"])
    }


def _table3(P: Mapping, records: Mapping, tag: str) -> dict:
    """``{scheme: {variant label: {metric: array over initialisations}}}`` of one Table 3 record."""
    record = records[exp.STUDY][f"reinit_exp4_{tag}"]
    return {
        s: {v: {m: np.asarray(x, dtype=float) for m, x in r.items()} for v, r in record[s].items()}
        for s in P["schemes"]
    }


def _dead_unit(experiment: int, dead) -> np.ndarray:
    """Runs whose bottleneck coefficient is at least 1/R: at least one unit dead on every pixel."""
    return np.asarray(dead) >= 1 / ENDMEMBERS[exp.EXPERIMENTS[experiment]["dataset"]] - 1e-9


def _nanmean(values) -> float:
    values = np.asarray(values, dtype=float)
    return float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")


# ----------------------------------------------------------------------------- 'ph'
@functools.lru_cache(maxsize=1)
def ph_simulation() -> dict:
    """The candidate definitions of 'ph' on simulated studies of the paper's size (N = k = 50,
    normal RMSEs whose initialisation means differ by a growing spread, seed 0) against the
    paper's 38 (H, ph) pairs of Table 2: the curves, the fit of each candidate and the closest."""
    rng = np.random.default_rng(0)
    sim = []
    for spread in (0.0, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 4.0, 8.0):
        sample = rng.normal(size=(50, 50)) + spread * rng.normal(size=(50, 1))
        H, _ = stats.kruskal(sample)
        pv = stats.conover_pvalues(sample)
        sim.append({"H": H} | {name: f(pv) for name, f in stats.PH_DEFINITIONS.items()})
    points = [(h, ph) for rows in CHAPTER.PAPER_TABLE2.values() for h, _, ph in rows if ph is not None]
    paper = np.array(points)
    sim_h = np.log([r["H"] for r in sim])
    order = np.argsort(sim_h)
    fit = []
    for name in stats.PH_DEFINITIONS:
        curve = np.array([r[name] for r in sim])
        predicted = np.interp(np.log(paper[:, 0]), sim_h[order], curve[order])
        fit.append(
            {
                "definition": name,
                "under H0 (simulated)": sim[0][name],
                "RMS distance to the paper's cells": float(np.sqrt(np.mean((predicted - paper[:, 1]) ** 2))),
            }
        )
    best = min(fit, key=lambda r: r["RMS distance to the paper's cells"])["definition"]
    return {"simulated": sim, "paper_points": points, "fit": fit, "definition": best}


# ----------------------------------------------------------------------------- tables
def _table2(P: Mapping, runs: dict, ph_name: str) -> tuple[list[dict], dict, list[dict]]:
    """Table 2 rows, the Conover-Iman p-values per (experiment, scheme) and the 'ph' candidates."""
    ph = stats.PH_DEFINITIONS[ph_name]
    N, K = P["initialisations"], P["runs"]
    rows, pvalues = [], {}
    for e in runs:
        for s in P["schemes"]:
            rmse = runs[e][s]["rmse"]
            H, log_p = stats.kruskal(rmse)
            pvalues[e, s] = stats.conover_pvalues(rmse)
            significant = bool(log_p < np.log(ALPHA))
            pH, plog, pph = CHAPTER.PAPER_TABLE2[e][INIT_SCHEMES.index(s)]
            expected_h, expected_significant = stats.kruskal_expected_h(pH, N, K)
            rows.append(
                {
                    "exp": e,
                    "init": SHORT_NAMES[s],
                    "H": H,
                    "log p": log_p,
                    "ph": ph(pvalues[e, s]) if significant else None,
                    "significant": "yes" if significant else "**no**",
                    "paper H": pH,
                    "paper log p": plog,
                    "paper ph": pph,
                    "H expected": expected_h,
                    "expected significant": expected_significant,
                }
            )
    candidates = [
        {"exp": e, "init": SHORT_NAMES[s]} | {n: f(pvalues[e, s]) for n, f in stats.PH_DEFINITIONS.items()}
        for e in runs
        for s in P["schemes"]
    ]
    return rows, pvalues, candidates


def _mean_std(values, fmt: str = ".2f") -> str:
    return f"{np.nanmean(values):{fmt}} ± {np.nanstd(values):{fmt}}"


def _table4(P: Mapping, runs: dict) -> list[dict]:
    rows = []
    for e in runs:
        for s in P["schemes"]:
            r = runs[e][s]
            pa, pe = CHAPTER.PAPER_TABLE4[e][INIT_SCHEMES.index(s)]
            rows.append(
                {
                    "exp": e,
                    "init": SHORT_NAMES[s],
                    "abundances": _mean_std(r["abundance_error"]),
                    "paper abundances": pa,
                    "endmembers (rad)": _mean_std(r["endmember_error"]),
                    "paper endmembers": pe,
                }
            )
    return rows


def _spearman(P: Mapping, runs: dict) -> tuple[list[dict], dict]:
    """Sec. 2.6 rows (per scheme, then pooled) of the *basic* experiments and the bootstrap 95 %
    intervals over initialisations by comparison key."""
    rows, ci = [], {}
    schemes = P["schemes"]
    for e in [e for e in runs if exp.EXPERIMENTS[e]["arch"] == "basic"]:
        for s in schemes:
            r = runs[e][s]
            key = f"spearman_exp{e}_{SHORT_NAMES[s]}"
            ci[key] = stats.bootstrap_interval(
                lambda i, r=r: stats.spearman_dead_vs_init_mean(r["dead"][i], r["rmse"][i]),
                len(r["rmse"]),
                level=0.95,
            )
            rows.append(
                {
                    "exp": e,
                    "init": SHORT_NAMES[s],
                    "Spearman (dead, init. mean RMSE)": stats.spearman_dead_vs_init_mean(
                        r["dead"], r["rmse"]
                    ),
                    "95% interval": "[{:.2f}, {:.2f}]".format(*ci[key]),
                    "Spearman (dead, run RMSE)": stats.spearman_dead_vs_run(r["dead"], r["rmse"]),
                    "runs with a dead unit": float(np.mean(_dead_unit(e, r["dead"]))),
                    "paper": "0.76-0.89",
                }
            )
        rows.append(
            {
                "exp": e,
                "init": "pooled (all 4)",
                "Spearman (dead, init. mean RMSE)": stats.spearman_dead_vs_init_mean(
                    np.concatenate([runs[e][s]["dead"] for s in schemes]),
                    np.concatenate([runs[e][s]["rmse"] for s in schemes]),
                ),
                "95% interval": None,
                "Spearman (dead, run RMSE)": stats.spearman_dead_vs_run(
                    np.concatenate([runs[e][s]["dead"].ravel() for s in schemes]),
                    np.concatenate([runs[e][s]["rmse"].ravel() for s in schemes]),
                ),
                "runs with a dead unit": float(np.mean([_dead_unit(e, runs[e][s]["dead"]) for s in schemes])),
                "paper": "not reported",
            }
        )
    return rows, ci


def _mean_rmse(study: dict, s: str, m: str, t: float) -> float:
    return float(np.nanmean(study[s][exp.variant_label(m, t)]["rmse"]))


def _sweep(P: Mapping, reinit: dict) -> tuple[list[dict], dict]:
    """The threshold sweep and the chosen t per method (lowest mean RMSE over the schemes)."""
    schemes = P["schemes"]
    sweep = [
        {
            "method": m,
            "t": t,
            **{SHORT_NAMES[s]: _mean_rmse(reinit, s, m, t) for s in schemes},
            "mean": float(np.mean([_mean_rmse(reinit, s, m, t) for s in schemes])),
            "iterations reinit.": float(
                np.mean([np.mean(reinit[s][exp.variant_label(m, t)]["reinitialised"]) for s in schemes])
            ),
        }
        for m in REINIT_METHODS
        for t in P["thresholds"]
    ]
    best = {
        m: min((r for r in sweep if r["method"] == m), key=lambda r: r["mean"])["t"] for m in REINIT_METHODS
    }
    return sweep, best


def _table3_rows(P: Mapping, reinit: dict, best_t: dict) -> list[dict]:
    rows = []
    for s in P["schemes"]:
        base = reinit[s]["baseline"]
        for m in ["baseline", *REINIT_METHODS]:
            r = base if m == "baseline" else reinit[s][exp.variant_label(m, best_t[m])]
            n = len(r["rmse"])
            row = {"init": SHORT_NAMES[s], "method": m, "t": None if m == "baseline" else best_t[m]}
            for metric, name in (
                ("rmse", "RMSE"),
                ("abundance_error", "abundances"),
                ("endmember_error", "endmembers (rad)"),
            ):
                mark = ""
                if m != "baseline":
                    _, better = stats.wilcoxon_improvement(base[metric][:n], r[metric])
                    mark = " ■" if better else ""
                row[name] = f"{np.nanmean(r[metric]):.3f} ± {np.nanstd(r[metric]):.3f}{mark}"
            row["paper RMSE"] = CHAPTER.PAPER_TABLE3_RMSE[s][m]
            interval = verdicts.interval95(r["rmse"].tolist())
            row["RMSE 95% interval"] = "[{:.3f}, {:.3f}]".format(*interval) if interval else None
            row["reinit. iterations"] = 0.0 if m == "baseline" else float(np.mean(r["reinitialised"]))
            rows.append(row)
    return rows


def _adam(P: Mapping, records: Mapping, reinit: dict) -> list[dict]:
    n = P["adam_reset_initialisations"]
    if not n:
        return []
    reset = _table3(P, records, "reset")
    rows = []
    for m in REINIT_METHODS:
        for t in P["thresholds"]:
            keep = np.concatenate([reinit[s][exp.variant_label(m, t)]["rmse"][:n] for s in P["schemes"]])
            again = np.concatenate([reset[s][exp.variant_label(m, t)]["rmse"] for s in P["schemes"]])
            p, _ = stats.wilcoxon_improvement(keep, again)
            rows.append(
                {
                    "method": m,
                    "t": t,
                    "step kept": float(np.nanmean(keep)),
                    "step reset": float(np.nanmean(again)),
                    "Wilcoxon p": p,
                }
            )
    return rows


def _weight_decay(P: Mapping, records: Mapping, reinit: dict) -> list[dict]:
    if not P["weight_decays"]:
        return []
    rows = []
    for wd in [0.0, *P["weight_decays"]]:
        study = reinit if wd == 0 else _table3(P, records, f"wd{wd:g}")
        for s in P["schemes"]:
            r = study[s]["baseline"]
            rows.append(
                {
                    "weight decay": f"{wd:g}",
                    "init": SHORT_NAMES[s],
                    "RMSE": float(np.nanmean(r["rmse"])),
                    "abundances": float(np.nanmean(r["abundance_error"])),
                    "endmembers (rad)": float(np.nanmean(r["endmember_error"])),
                    "dead unit": float(np.mean(_dead_unit(4, r["dead"]))),
                }
            )
    return rows


# ----------------------------------------------------------------------------- verdicts and reasons
def _row(target: verdicts.Target, ours: float, why, **kwargs) -> dict:
    """``numeric_row`` with the reason ``why()`` asked only for a miss."""
    miss = verdicts.is_miss(verdicts.judge_numeric(target, ours))
    return verdicts.numeric_row(target, ours, reason=why() if miss else None, **kwargs)


def _power(rows: list[dict]) -> dict:
    """The paper's H scaled to this run's N x k (:func:`stats.kruskal_expected_h`) against what
    we find: cells predicted significant, observed significant, cells where both agree."""
    return {
        "predicted": sum(r["expected significant"] for r in rows),
        "observed": sum(r["significant"] == "yes" for r in rows),
        "agree": sum(r["expected significant"] == (r["significant"] == "yes") for r in rows),
        "cells": len(rows),
    }


def _share_reason(P: Mapping, power: dict) -> Reason:
    evidence = (
        f"Table 2 ({label(P)}): the paper's H scaled to N x k = {P['initialisations'] * P['runs']} "
        f"(noncentrality proportional to the sample size; column 'H expected') predicts {power['predicted']} "
        f"of {power['cells']} cells significant, we find {power['observed']}, and the two agree on "
        f"{power['agree']} cells"
    )
    good = power["cells"] and power["agree"] >= POWER_AGREEMENT * power["cells"]
    return Reason("sample size" if good else "unexplained", evidence)


def _spearman_reason(P: Mapping, key: str, ci: tuple[float, float], row: dict) -> Reason:
    low, high = ci
    evidence = (
        f"Sec. 2.6 table ({label(P)}): the bootstrap 95 % interval over initialisations "
        f"[{low:.2f}, {high:.2f}] of our {row['Spearman (dead, init. mean RMSE)']:.2f}; "
        f"{row['runs with a dead unit']:.0%} of the runs end with a dead bottleneck unit"
    )
    if math.isfinite(low) and low <= 0.89 and high >= 0.76:
        return Reason("sample size", evidence + "; the interval overlaps the paper's range 0.76-0.89")
    return Reason("unexplained", evidence + "; the interval excludes the paper's range 0.76-0.89")


def _table3_reason(
    P: Mapping, target: verdicts.Target, verdict: str, s: str, m: str, t: float | None, r: dict, base: dict
) -> Reason:
    """Why a Table 3 row misses: the 95 % interval over initialisations (sample size); else a
    partial reinitialisation's t (it fires on healthy networks); else ours better or unexplained,
    with the spread of our initialisations and their dead units as evidence."""
    where = f"Table 3 ({label(P)}), {SHORT_NAMES[s]}, {CHAPTER.METHOD_NAMES[m]}" + (
        "" if t is None else f" t = {t:g}"
    )
    values = r["rmse"].tolist()
    found = verdicts.sample_size_reason(target, values, where)
    if found:
        return found
    finite = r["rmse"][np.isfinite(r["rmse"])]
    dead = int(np.sum(_dead_unit(4, r["dead"])))
    spread = (
        (
            f"our {len(finite)} initialisations end between {finite.min():.4f} and {finite.max():.4f} "
            f"(mean {finite.mean():.4f}), {dead} of them with a dead bottleneck unit"
        )
        if len(finite)
        else "no finite run"
    )
    interval = verdicts.interval95(values)
    excluded = (
        f"; the 95 % interval [{interval[0]:.4f}, {interval[1]:.4f}] excludes the paper's {target.value:g}"
        if interval
        else ""
    )
    if m == "partial":
        fired = float(np.mean(r["reinitialised"]))
        return Reason(
            "open protocol choice: threshold t",
            f"{where}: partial reinitialisation fired in {fired:,.0f} iterations per model on average "
            f"(a unit of a sum-to-one code is zero on pixels without its material, so it fires on healthy "
            f"networks and how much it hurts depends on t, which the paper does not give); "
            f"{spread}{excluded}",
        )
    better = target.direction == "lower" and float(np.nanmean(r["rmse"])) < target.value
    if better:
        baseline = (
            ""
            if m == "baseline"
            else f"; the baseline of the same initialisations: mean {_nanmean(base['rmse']):.4f}"
        )
        return Reason("ours better", f"{where}: {spread}{excluded}{baseline}")
    return Reason("unexplained", f"{where}: {spread}{excluded}")


def _claim_row(P: Mapping, reinit: dict, best_t: dict) -> dict:
    """Whole-network reinitialisation against the baseline, paired by initialisation."""
    claim = CLAIMS["reinit_direction"]
    t = best_t["whole"]
    wins = losses = ties = 0
    lower_means = 0
    for s in P["schemes"]:
        base = reinit[s]["baseline"]["rmse"]
        whole = reinit[s][exp.variant_label("whole", t)]["rmse"]
        keep = np.isfinite(base) & np.isfinite(whole)
        wins += int(np.sum(whole[keep] < base[keep]))
        losses += int(np.sum(whole[keep] > base[keep]))
        ties += int(np.sum(whole[keep] == base[keep]))
        lower_means += bool(_mean_rmse(reinit, s, "whole", t) < np.nanmean(base))
    ours = (
        f"lower in {wins}, higher in {losses}, equal in {ties} of {wins + losses + ties} "
        "paired initialisations "
        f"at t = {t:g}; mean lower in {lower_means} of {len(P['schemes'])} schemes"
    )
    verdict = verdicts.judge_claim(wins, losses)
    reason = None
    if verdicts.is_miss(verdict):
        reason = Reason(
            "sample size" if wins > losses else "unexplained",
            f"Table 3 ({label(P)}): {wins} wins and {losses} losses over {wins + losses} untied pairs, "
            f"sign test p = {verdicts.sign_test(wins, losses):.3g}; {ties} ties, where the rule never "
            "fired (no dead bottleneck) and the run equals its baseline",
        )
    return verdicts.claim_row(claim, wins, losses, ours, ties=ties, reason=reason)


# The declared diagnosis "Stability, XGU" (a) (book/diagnoses.md; results/diagnosis/stability_xgu.json,
# computed by companion.reports.diagnosis_stability): the same cells with more initialisations
# of the paper protocol (Exp. 10 XGU: 50, Table 3 XGU baseline: 30), judged by its declared rule.
# Joins the evidence of the paper-scale misses; the class is the rule's.
XGU_DIAGNOSIS = {
    "spearman_exp10_XGU": Reason(
        "unexplained",
        "diagnosis Stability XGU (a) (book/diagnoses.md, declared before its result): over 50 "
        "initialisations Spearman 0.70, bootstrap 95 % interval [0.60, 0.78]; it excludes the paper's 0.825",
    ),
    "table3_XGU_baseline": Reason(
        "sample size",
        "diagnosis Stability XGU (a) (book/diagnoses.md, declared before its result): over 30 "
        "initialisations mean 0.0397, 95 % interval [0.0231, 0.0564]; it holds the paper's 0.052",
    ),
}


# The declared diagnosis "Stability" (b) (book/diagnoses.md; results/diagnosis/stability_gain.json,
# computed by companion.reports.diagnosis_stability): the chapter's XGN/XGU records of Exps. 4
# and 10 and Table 3 trained again at Glorot gain 1 (O) instead of ATE's sqrt(2) (C), judged by
# the chapter's report. 2 of the 10 missed X* targets move into the band, fewer than the rule's
# half: every class is kept, and each miss's value and verdict at gain 1 join its evidence.
GAIN_MOVED = "2 of 10 X* misses move into the band"
GAIN_1 = {   # the missed X* targets: (ours, verdict) at gain 1
    "spearman_exp4_XGN": (0.8338, "reproduced"),
    "spearman_exp10_XGU": (0.5719, "not reproduced"),
    "table3_XGN_baseline": (0.03061, "partly"),
    "table3_XGN_partial": (0.06574, "not reproduced — ours better"),
    "table3_XGN_layer": (0.01101, "not reproduced — ours better"),
    "table3_XGN_whole": (0.01533, "not reproduced"),
    "table3_XGU_baseline": (0.01533, "not reproduced — ours better"),
    "table3_XGU_partial": (0.08922, "reproduced"),
    "table3_XGU_layer": (0.01102, "not reproduced — ours better"),
    "table3_XGU_whole": (0.01539, "not reproduced"),
}


def _diagnosed(P: Mapping, key: str, reason: Reason) -> Reason:
    """``reason`` of a paper-scale miss with the diagnoses joined: :data:`XGU_DIAGNOSIS`'s class
    and evidence, then :data:`GAIN_1`'s evidence (the gain diagnosis keeps every class)."""
    if P["scale"] != "paper":
        return reason
    found = XGU_DIAGNOSIS.get(key)
    if found is not None:
        reason = Reason(found.cls, f"{reason.evidence}; {found.evidence}")
    if key in GAIN_1:
        ours, verdict = GAIN_1[key]
        gain = (f"diagnosis Stability (b) (book/diagnoses.md, declared before its result): at Glorot "
                f"gain 1 ours {ours:.4g} ({verdict}); {GAIN_MOVED}, fewer than half, so the class stands")
        reason = Reason(reason.cls, f"{reason.evidence}; {gain}")
    return reason


def _comparison(
    P: Mapping, runs: dict, reinit: dict, best_t: dict, table2: list[dict], ci: dict, spearman: list[dict]
) -> tuple[list[dict], dict]:
    """Every target's row and ``ours``; a target whose experiment or scheme is not part of this
    run is *not attempted*."""
    missing = "not part of this run (experiment or scheme not selected)"
    ours, rows = {}, []
    power = _power(table2)
    ours["significant_h_share"] = float(np.mean([r["significant"] == "yes" for r in table2]))
    rows.append(
        _row(TARGETS["significant_h_share"], ours["significant_h_share"], lambda: _share_reason(P, power))
    )
    ph4 = float(np.mean([r["ph"] or 0.0 for r in table2 if r["exp"] == 4])) if 4 in runs else None
    target = TARGETS["ph_exp4"]
    if ph4 is None:
        rows.append(verdicts.numeric_row(target, None, not_attempted=missing))
    else:
        ours["ph_exp4"] = ph4
        rows.append(
            _row(
                target,
                ph4,
                lambda: Reason(
                    "unexplained",
                    f"Table 2 ({label(P)}): our ph of Experiment 4 per scheme "
                    + ", ".join(f"{r['init']} {r['ph'] or 0.0:.2f}" for r in table2 if r["exp"] == 4),
                ),
            )
        )
    for key, scheme, metric in (
        ("exp4_abundance_KHN", "he_normal", "abundance_error"),
        ("exp4_abundance_XGU", "glorot_uniform", "abundance_error"),
        ("exp4_endmember_KHN", "he_normal", "endmember_error"),
        ("exp4_endmember_XGU", "glorot_uniform", "endmember_error"),
    ):
        target = TARGETS[key]
        if 4 not in runs or scheme not in P["schemes"]:
            rows.append(verdicts.numeric_row(target, None, not_attempted=missing))
            continue
        values = runs[4][scheme][metric]
        ours[key] = float(np.nanmean(values))
        per_init = [_nanmean(row) for row in values]
        where = f"Table 4 ({label(P)}), Exp. 4 {SHORT_NAMES[scheme]}"
        rows.append(
            _row(
                target,
                ours[key],
                lambda target=target, per_init=per_init, where=where: (
                    verdicts.sample_size_reason(target, per_init, where)
                    or Reason(
                        "unexplained",
                        f"{where}: initialisation means between {np.nanmin(per_init):.2f} and "
                        f"{np.nanmax(per_init):.2f}",
                    )
                ),
                values=per_init,
            )
        )
    by_cell = {(r["exp"], r["init"]): r for r in spearman}
    for e in (4, 10):
        for s in INIT_SCHEMES:
            key = f"spearman_exp{e}_{SHORT_NAMES[s]}"
            row = by_cell.get((e, SHORT_NAMES[s]))
            if row is None:
                rows.append(verdicts.numeric_row(TARGETS[key], None, not_attempted=missing))
                continue
            value = row["Spearman (dead, init. mean RMSE)"]
            if not math.isfinite(value):
                rows.append(
                    verdicts.numeric_row(
                        TARGETS[key],
                        None,
                        not_attempted=(
                            f"undefined in this run ({label(P)}): the dead coefficients or the "
                            "initialisation means are "
                            "constant (no run has a dead unit)"
                        ),
                    )
                )
                continue
            ours[key] = value
            rows.append(
                _row(TARGETS[key], value,
                     lambda key=key, row=row: _diagnosed(P, key, _spearman_reason(P, key, ci[key], row)))
            )
    for s in INIT_SCHEMES:
        for m in CHAPTER.PAPER_TABLE3_RMSE[s]:  # the declared order: baseline, partial, layer, whole
            key = f"table3_{SHORT_NAMES[s]}_{m}"
            target = TARGETS[key]
            if s not in P["schemes"]:
                rows.append(verdicts.numeric_row(target, None, not_attempted=missing))
                continue
            t = None if m == "baseline" else best_t[m]
            r = reinit[s]["baseline" if m == "baseline" else exp.variant_label(m, t)]
            value = float(np.nanmean(r["rmse"]))
            if not math.isfinite(value):
                rows.append(
                    verdicts.numeric_row(
                        target,
                        value,
                        diverged=True,
                        reason=Reason(
                            "unexplained", f"Table 3 ({label(P)}): every run of {SHORT_NAMES[s]} {m} diverged"
                        ),
                    )
                )
                continue
            ours[key] = value
            verdict = verdicts.judge_numeric(target, value)
            reason = (
                _diagnosed(P, key, _table3_reason(P, target, verdict, s, m, t, r, reinit[s]["baseline"]))
                if verdicts.is_miss(verdict)
                else None
            )
            rows.append(verdicts.numeric_row(target, value, values=r["rmse"].tolist(), reason=reason))
    rows.append(_claim_row(P, reinit, best_t))
    return rows, ours


# ----------------------------------------------------------------------------- the report
def report(P: Mapping, records: Mapping[str, Mapping[str, dict]]) -> Report:
    """Every table's numbers and every target's verdict from the records (pure)."""
    runs = _runs(P, records)
    reinit = _table3(P, records, "keep")
    ph = ph_simulation()
    table2, _, candidates = _table2(P, runs, ph["definition"])
    spearman, ci = _spearman(P, runs)
    sweep, best_t = _sweep(P, reinit)
    comparison, ours = _comparison(P, runs, reinit, best_t, table2, ci, spearman)
    base_rmse = np.concatenate([reinit[s]["baseline"]["rmse"] for s in P["schemes"]])
    base_dead = _dead_unit(4, np.concatenate([reinit[s]["baseline"]["dead"] for s in P["schemes"]]))
    diverged = sum(int(runs[e][s]["diverged"].sum()) for e in runs for s in P["schemes"])
    data = {
        "label": label(P),
        "ours": ours,
        "table2": table2,
        "power": _power(table2),
        "table3": _table3_rows(P, reinit, best_t),
        "table4": _table4(P, runs),
        "best_t": best_t,
        "threshold_sweep": sweep,
        "spearman": spearman,
        "ph_candidates": candidates,
        "ph_definition": ph["definition"],
        "ph_fit": ph["fit"],
        "adam": _adam(P, records, reinit),
        "weight_decay": _weight_decay(P, records, reinit),
        "baseline_dead": {
            "share": float(base_dead.mean()),
            "rmse_dead": _nanmean(base_rmse[base_dead]) if base_dead.any() else None,
            "rmse_alive": _nanmean(base_rmse[~base_dead]) if (~base_dead).any() else None,
        },
        "models": {
            "table1": len(runs) * len(P["schemes"]) * P["initialisations"] * P["runs"],
            "table3": len(P["schemes"]) * len(exp.variants(P)) * P["reinit_initialisations"],
            "records": len(records[exp.STUDY]),
            "diverged": diverged,
        },
        "learned": _learned_numbers(P, runs, reinit, best_t),
    }
    return Report(comparison, data)


def _learned_numbers(P: Mapping, runs: dict, reinit: dict, best_t: dict) -> dict:
    out = {
        "reinit": {
            SHORT_NAMES[s]: {
                "baseline": _nanmean(reinit[s]["baseline"]["rmse"]),
                **{m: _mean_rmse(reinit, s, m, best_t[m]) for m in REINIT_METHODS},
            }
            for s in P["schemes"]
        }
    }
    if 4 in runs:
        dead4 = np.concatenate([runs[4][s]["dead"].ravel() for s in P["schemes"]])
        rmse4 = np.concatenate([runs[4][s]["rmse"].ravel() for s in P["schemes"]])
        all_dead, one = dead4 > 1 - 1e-9, _dead_unit(4, dead4)
        out["exp4"] = {
            "dead_unit": float(one.mean()),
            "all_dead": float(all_dead.mean()),
            "rmse_all_dead": _nanmean(rmse4[all_dead]) if all_dead.any() else None,
            "rmse_alive": _nanmean(rmse4[~one]) if (~one).any() else None,
        }
    return out


# ----------------------------------------------------------------------------- what the notebook shows
def data_files(P: Mapping) -> dict[str, str]:
    """``{file: sha256}`` of the scenes the plan reads (loads them; for the provenance box)."""
    return {k: v for d in exp.plan(P).values() for k, v in sorted(d.load_data().items())}


def committed() -> dict | None:
    """The committed paper-scale run, recomputed from its records: ``{"P": P_paper, "report":
    Report, "provenance": the summary's}`` with ``P_paper`` the committed summary's
    ``provenance.params``; None when nothing is committed."""
    from companion import pipeline
    from companion.results import results_root

    path = results_root() / "stability" / "paper" / "summary.json"
    if not path.is_file():
        return None
    provenance = json.loads(path.read_text(encoding="utf-8"))["provenance"]
    P_paper = provenance["params"]
    return {
        "P": P_paper,
        "report": pipeline.report("stability", P_paper, pipeline.load_records("stability", P_paper)),
        "provenance": provenance,
    }


def comparison_table(rows: list[dict]) -> list[dict]:
    """Comparison rows to show: the 95 % interval and the reason (class: evidence) as text."""
    out = []
    for r in rows:
        reason = r.get("reason") or {}
        interval = r.get("interval")
        out.append(
            {
                "quantity": r["quantity"],
                "source": r["source"],
                "paper": r["paper"],
                "ours": r["ours"],
                "95% interval": "[{:.3g}, {:.3g}]".format(*interval) if interval else None,
                "verdict": r["verdict"],
                "reason": f"{reason['class']}: {reason.get('evidence', '')}" if reason else None,
            }
        )
    return out


def size_rows(P: Mapping) -> list[dict]:
    """This run's size against the paper's protocol."""
    n_models = len(P["experiments"]) * len(P["schemes"]) * P["initialisations"] * P["runs"]
    n_paper = 10 * 4 * PAPER["initialisations"] * PAPER["runs"]
    return [
        {
            "what": "experiments x schemes",
            "paper": "10 x 4",
            "this run": f"{len(P['experiments'])} x {len(P['schemes'])}",
        },
        {
            "what": "initialisations N x runs k",
            "paper": f"{PAPER['initialisations']} x {PAPER['runs']}",
            "this run": f"{P['initialisations']} x {P['runs']}",
        },
        {"what": "epochs", "paper": f"{PAPER['epochs']} (ATE)", "this run": P["epochs"]},
        {"what": "models trained (Tables 2, 4)", "paper": f"{n_paper:,}", "this run": f"{n_models:,}"},
        {
            "what": "Table 3 initialisations per scheme x epochs",
            "paper": f"{PAPER['reinit_initialisations']} x {PAPER['reinit_epochs']}",
            "this run": f"{P['reinit_initialisations']} x {P['reinit_epochs']}",
        },
        {
            "what": "Table 3 thresholds t",
            "paper": "not stated",
            "this run": ", ".join(map(str, P["thresholds"])),
        },
        {
            "what": "fewer models than the paper (Tables 2, 4)",
            "paper": "1",
            "this run": f"{n_paper / max(n_models, 1):,.0f}",
        },
    ]


def chunk_rows(P: Mapping) -> list[dict]:
    """Models trained at once per experiment here and on half of an 80 GB GPU."""
    import torch

    gpu80 = 40 * 1024**3
    rows = []
    for e in sorted(P["experiments"]):
        s = exp.scene(exp.EXPERIMENTS[e]["dataset"], P["device"])
        config = exp.ae_config(e, s)
        rows.append(
            {
                "experiment": e,
                "models per chunk here": exp._chunk(config, s, e, 10**9, None),
                "on an 80 GB GPU": models_per_chunk(
                    config,
                    s.X.shape[0],
                    exp.EXPERIMENTS[e]["batch_size"],
                    torch.device("cuda"),
                    budget_bytes=gpu80,
                ),
            }
        )
    return rows


def beside(rows: list[dict], other: Mapping | None, name: str, keys: tuple, columns: tuple) -> list[dict]:
    """Live ``rows`` with the committed report's (``other``: its ``data``) ``columns`` of the same
    ``keys`` beside them (suffix ' [50 ep.]'); rows only in the committed report are appended."""
    if not other or name not in other:
        return rows
    theirs = {tuple(r[k] for k in keys): r for r in other[name]}
    out, seen = [], set()
    for row in rows:
        key = tuple(row[k] for k in keys)
        seen.add(key)
        out.append(row | {f"{c} [50 ep.]": theirs.get(key, {}).get(c) for c in columns})
    out += [
        {k: r[k] for k in keys} | {f"{c} [50 ep.]": r.get(c) for c in columns}
        for key, r in theirs.items()
        if key not in seen
    ]
    return out


def _log_p(value):
    """Table 2's log p as shown: −∞ where p underflows to 0 (never "diverged")."""
    return MINUS_INF if isinstance(value, float) and value == -math.inf else value


def table2_table(data: Mapping, other: Mapping | None = None) -> list[dict]:
    """Table 2 rows to show (the committed run's beside them), −∞ spelled out."""
    rows = beside(data["table2"], other, "table2", ("exp", "init"), ("H", "log p", "ph", "significant"))
    return [r | {k: _log_p(r[k]) for k in ("log p", "paper log p", "log p [50 ep.]") if k in r} for r in rows]


def table4_table(data: Mapping, other: Mapping | None = None) -> list[dict]:
    return beside(data["table4"], other, "table4", ("exp", "init"), ("abundances", "endmembers (rad)"))


def spearman_table(data: Mapping, other: Mapping | None = None) -> list[dict]:
    return beside(
        data["spearman"],
        other,
        "spearman",
        ("exp", "init"),
        ("Spearman (dead, init. mean RMSE)", "runs with a dead unit"),
    )


def sweep_table(data: Mapping, other: Mapping | None = None) -> list[dict]:
    return beside(
        data["threshold_sweep"], other, "threshold_sweep", ("method", "t"), ("mean", "iterations reinit.")
    )


def table3_table(data: Mapping, other: Mapping | None = None) -> list[dict]:
    return beside(
        data["table3"], other, "table3", ("init", "method"), ("t", "RMSE", "abundances", "endmembers (rad)")
    )


def adam_table(data: Mapping) -> list[dict]:
    return data["adam"]


def weight_decay_table(data: Mapping) -> list[dict]:
    return data["weight_decay"]


def figure_data(P: Mapping, records: Mapping) -> dict:
    """Numbers behind the figures: the runs per initialisation of the shown experiment (sorted by
    median), the Conover-Iman p-values of Experiments 1 and 4 (or the first), the 'ph' curves."""
    runs = _runs(P, records)
    experiments = list(runs)
    show = 4 if 4 in runs else experiments[0]
    boxes = {}
    for s in P["schemes"]:
        rmse = runs[show][s]["rmse"]
        order = np.argsort(np.nanmedian(rmse, axis=1))
        boxes[s] = [row[np.isfinite(row)] for row in rmse[order]]
    heat = [e for e in (1, 4) if e in runs] or experiments[:1]
    pvalues = {(e, s): stats.conover_pvalues(runs[e][s]["rmse"]) for e in heat for s in P["schemes"]}
    reinit = _table3(P, records, "keep")
    return {
        "show": show,
        "boxes": boxes,
        "heat": heat,
        "pvalues": pvalues,
        "ph": ph_simulation(),
        "baseline_mean": float(np.mean([np.nanmean(reinit[s]["baseline"]["rmse"]) for s in P["schemes"]])),
    }


def learned(P: Mapping, data: Mapping) -> str:
    """The "What we learned" bullets of this run, in Markdown."""
    n_sig = sum(r["significant"] == "yes" for r in data["table2"])
    best_t, numbers = data["best_t"], data["learned"]
    lines = [
        f"- **Initial weights matter.** Kruskal-Wallis rejects equal initialisations in {n_sig} of "
        f"{len(data['table2'])} experiment x scheme cells ({data['label']}; paper: 38 of 40 with 50 x 50).",
        "- **Reinitialisation** (t per method: "
        + ", ".join(f"{m} {t:g}" for m, t in best_t.items())
        + "): "
        + "; ".join(
            f"{s}: baseline {v['baseline']:.3f} -> whole {v['whole']:.3f}, layer {v['layer']:.3f}, "
            f"partial {v['partial']:.3f}"
            for s, v in numbers["reinit"].items()
        )
        + ".",
    ]
    if "exp4" in numbers:
        x = numbers["exp4"]
        lines.append(
            f"- **Bad starts kill the bottleneck.** In Experiment 4, {x['dead_unit']:.0%} of the runs end "
            f"with at least one bottleneck unit dead on every pixel and {x['all_dead']:.0%} with all three "
            "dead: a constant code and a constant reconstruction"
            + (
                f" (RMSE {x['rmse_all_dead']:.3f}, the worst value of the tables)"
                if x["rmse_all_dead"]
                else ""
            )
            + (f"; the runs without a dead unit reach {x['rmse_alive']:.3f}." if x["rmse_alive"] else ".")
        )
    cells = [r for r in data["spearman"] if r["init"] in CHAPTER.SHORT.values()]
    if cells:
        lines.append(
            "- **Dead activations track bad initialisations:** Spearman per scheme "
            + ", ".join(
                f"{r['Spearman (dead, init. mean RMSE)']:.2f} (Exp. {r['exp']} {r['init']})" for r in cells
            )
            + " against the paper's 0.76-0.89."
        )
    return "In this run:\n\n" + "\n".join(lines)
