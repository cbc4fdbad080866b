"""DeepGU chapter: verdicts, tables and figure data from the study records.

``report(P, records)`` judges Table III (one convention per column, the reference code's, fixed
in :mod:`companion.chapters.deepgu`) and the two ranking claims, and adds the paper's eqs. 14-15
as sensitivity rows without verdict. ``records`` is ``{"calibration": ..., "synthetic": ...,
"real": ...}`` as :func:`companion.pipeline.run` returns it. The table functions the chapter
calls return :class:`companion.results.Table` objects; none of them computes anything that is
not a function of the records.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from companion import verdicts
from companion.chapters import deepgu as chapter
from companion.data.scenes import DC1_C, DC2_HALF_RANGE
from companion.experiments.deepgu import METHODS, OFFICIAL
from companion.pipeline import Report
from companion.results import Table

__all__ = ["calibration_table", "comparison_rows", "comparison_table", "deepgu_key", "gain_table",
           "lambda_table", "learned", "literal_table", "method_values", "official_table", "real_table",
           "report", "seed_statistics", "sensitivity_table", "time_table"]

AMPLITUDE = {"dc1": DC1_C, "dc2": DC2_HALF_RANGE}
LITERAL = {"rmse_a": "RMSE_A", "rmse_m": "RMSE_M", "sam_m": "SAM_M (rad)", "rmse_y": "RMSE_Y"}
OFFICIAL_COLS = {"rel_a": "RMSE_A", "rel_m": "RMSE_M", "sam_m_mean": "SAM_M (rad)", "rel_y": "RMSE_Y",
                 "time": "time (s)"}
PAPER_INDEX = {"rel_a": 0, "rel_m": 1, "sam_m_mean": 2, "rel_y": 3, "time": 4}


# ----------------------------------------------------------------------------- statistics
def deepgu_key(scene: str) -> str:
    """Record key of DeepGU at the reference code's lambda_A for ``scene``."""
    return f"deepgu_{OFFICIAL[scene]['deepgu_lambda_a']:g}"


def _method_key(method: str, scene: str) -> str:
    return deepgu_key(scene) if method == "deepgu" else method


def by_scene(P: Mapping, records: Mapping) -> dict[str, list[dict]]:
    """``{scene: [the Table III record of each scene seed]}``."""
    return {name: [records["synthetic"][f"{name}_seed{s}"] for s in P["seeds"]] for name in P["scenes"]}


def method_values(records: list[Mapping], scene: str, metric: str) -> dict[str, list[float]]:
    """``metric`` of every method present, one value per scene seed (DeepGU at the reference
    lambda_A)."""
    out = {}
    for method in METHODS:
        key = _method_key(method, scene)
        values = [r[key][metric] for r in records if key in r and metric in r[key]]
        if values:
            out[method] = values
    return out


def seed_statistics(records: list[Mapping], scene: str, metric: str) -> dict[str, tuple[float, float]]:
    """Mean and standard deviation (ddof 1; 0 for one seed) over scene seeds of ``metric`` for
    every method present, DeepGU at the reference lambda_A."""
    keys = {m: (deepgu_key(scene) if m == "deepgu" else m) for m in METHODS}
    out = {}
    for method, key in keys.items():
        values = [r[key][metric] for r in records if key in r and metric in r[key]]
        if values:
            out[method] = (float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0)
    return out


def calibration_statistics(P: Mapping, records: Mapping) -> dict[str, dict[float, dict]]:
    """``{scene: {amplitude: {"rel_a": (mean, std), "rmse_y": mean}}}`` of FCLS over the
    calibration seeds."""
    out = {}
    for name in P["scenes"]:
        out[name] = {}
        for a in P["calibration_amplitudes"]:
            recs = [records["calibration"][f"cal_{name}_{a:g}_{s}"] for s in range(P["calibration_seeds"])]
            rel_a = np.array([r["rel_a"] for r in recs])
            std = float(rel_a.std(ddof=1)) if len(rel_a) > 1 else 0.0
            out[name][a] = {"rel_a": (float(rel_a.mean()), std),
                            "rmse_y": float(np.mean([r["rmse_y"] for r in recs]))}
    return out


# ----------------------------------------------------------------------------- verdicts
def _not_run(target, P: Mapping) -> str | None:
    scene, method = target.key.split("_")[:2]
    if scene not in P["scenes"]:
        return f"{scene.upper()} not in this run (scenes = {P['scenes']})"
    if method not in ("fcls", "deepgu") and method not in P["baselines"]:
        return f"{chapter.LABELS[method]} not in this run (baselines = {P['baselines']})"
    return None


def _calibration_evidence(P: Mapping, records: Mapping, scene: str) -> str:
    paper = chapter.QUOTED_TABLE3[scene]["FCLS"]
    amplitude = AMPLITUDE[scene]
    cal = calibration_statistics(P, records)[scene].get(amplitude)
    if cal is None:
        return ""
    mean, std = cal["rel_a"]
    return (f"calibration experiment: FCLS on our {scene.upper()} at amplitude {amplitude:g} gives eq. 14 "
            f"RMSE_Y {cal['rmse_y']:.4f} (paper {paper[3]:.4f}) and relative RMSE_A {mean:.4f} ± {std:.4f} "
            f"(paper {paper[0]:.4f}) over {P['calibration_seeds']} seeds")


def numeric_reason(target, values: list[float], other: float | None, P: Mapping,
                   records: Mapping) -> verdicts.Reason:
    """The reason of a missed Table III target (only called for a miss), by priority: the seed
    spread (``sample size``); for RMSE_Y, the paper's column in eq. 14's absolute convention
    (``open protocol choice``, when that value is reproduced by the rule; the verdict stays the
    relative one's); RMSE_M and SAM_M below the paper's for every method (``unexplained``, with
    the numbers); our own DC2 generator (``data we lack``); else ``unexplained``."""
    scene, method, metric = target.key.split("_", 2)
    n = len(values)
    sample = verdicts.sample_size_reason(target, values, f"Table III ({target.quantity})")
    if sample is not None:
        return sample
    mean = float(np.mean(values))
    if metric == "rel_y" and other is not None:
        floor = 10 ** (-P["snr_db"] / 20)
        text = (f"Table III sensitivity row {target.key}@{chapter.SENSITIVITY[metric][1]}: eq. 14's "
                f"absolute RMSE_Y is {other:.4f} against the paper's {target.value:.4f} (ours relative "
                f"{mean:.4f}); the paper's FCLS values (0.0253, 0.0255) lie below the relative noise floor "
                f"{floor:.4f} at "
                f"{P['snr_db']:g} dB, so Table III's Y column cannot be relative errors throughout")
        if verdicts.judge_numeric(target, other) == "reproduced":
            return verdicts.Reason("open protocol choice: RMSE_Y convention of Table III", text)
        return verdicts.Reason("unexplained", text)
    if metric in ("rel_m", "sam_m_mean") and mean < target.value:
        return verdicts.Reason(
            "unexplained",
            f"Table III: ours {mean:.4f} over {n} seeds is {mean / target.value:.2f} x the paper's "
            f"{target.value:.4f}; RMSE_M and SAM_M are below the paper's for every method on both cubes "
            "with the paper's ordering (table 'Table III, reference code's conventions'), while "
            + (_calibration_evidence(P, records, scene) or "the calibration")
            + "; the paper's per-pixel endmembers (Mvs in data_ex1.mat) are not retrievable to check how "
              "they were scored; diagnosis DeepGU 2 (Diagnoses page, declared before its result) scored the "
              "fixed VCA references of DC1 and DC2 under 11 conventions (absolute, unit-norm spectra, "
              "present pixels only, against the reference spectra, greedy ordering, summed SAM): none "
              "brings more than 2 of a column's 8 targets within the band (its rule asks 4; the 2 are "
              "within it under the chapter's own convention); diagnosis DeepGU 2b rescored each method's "
              "own per-pixel endmembers under the same conventions and the transposed pixel order: none "
              "brings more than 2 of 8 within the band, so the scoring convention does not explain the "
              "gap")
    if scene == "dc2":
        return verdicts.Reason(
            "data we lack",
            f"DC2's generator (the variability model of [11]) is not public and ours is our own "
            f"(assumption 3); ours {mean:.4f} over {n} seeds; " + _calibration_evidence(P, records, scene))
    text = f"Table III: ours {mean:.4f} over {n} seeds against the paper's {target.value:.4f}"
    found = VCA_DRAW_DIAGNOSIS.get(target.key) if P["scale"] == "paper" else None
    if found is not None:
        return verdicts.Reason(found.cls, f"{text}; {found.evidence}")
    return verdicts.Reason("unexplained", text)


# The declared diagnoses DeepGU 3 and 4 (book/diagnoses.md; results/diagnosis/deepgu_vca_draw.json
# and deepgu_vca_draw_plmm.json, computed by companion.experiments.diagnosis_deepgu_3): FCLS and
# PLMM on DC1's VCA references over 20 scene seeds under both draws of VCA's random directions,
# judged by their declared rule. Joins the evidence of each paper-scale miss; the class is the rule's.
VCA_DRAW_DIAGNOSIS = {
    "dc1_fcls_rel_a": verdicts.Reason(
        "open protocol choice: VCA draw",
        "diagnosis DeepGU 3 (book/diagnoses.md, declared before its result): over 20 scene seeds the "
        "uniform draw (the reference code's, the verdict's) gives 0.1311, 95 % interval [0.1228, 0.1394], "
        "the former normal draw 0.1172 (reproduced): which directions VCA draws decides this cell",
    ),
    "dc1_plmm_rel_a": verdicts.Reason(
        "open protocol choice: VCA draw",
        "diagnosis DeepGU 4 (book/diagnoses.md, declared before its result): PLMM from the same references, "
        "over 20 scene seeds the uniform draw gives 0.1245, 95 % interval [0.1157, 0.1334], the former "
        "normal draw 0.1105 (reproduced): which directions VCA draws decides this cell too",
    ),
}


def _claim_row(claim, P: Mapping, records: Mapping) -> dict:
    scene = claim.key.split("_")[0]
    if scene not in P["scenes"]:
        return verdicts.claim_row(claim, 0, 0, "", not_attempted=f"{scene.upper()} not in this run "
                                                                  f"(scenes = {P['scenes']})")
    values = method_values(by_scene(P, records)[scene], scene, "rel_a")
    ours = values.pop("deepgu")
    wins = losses = ties = 0
    for rival in values.values():
        for dg, other in zip(ours, rival, strict=True):
            wins += dg < other
            losses += dg > other
            ties += dg == other
    rivals = ", ".join(chapter.LABELS[m] for m in values)
    text = (f"DeepGU lower in {wins} of {wins + losses + ties} comparisons ({len(ours)} seeds x "
            f"{len(values)} rivals: {rivals})")
    reason = None
    if not verdicts.judge_claim(wins, losses) == "supported":
        means = {m: float(np.mean(v)) for m, v in values.items()}
        evidence = (f"Table III: DeepGU wins {wins}, loses {losses}; mean relative RMSE_A DeepGU "
                    f"{np.mean(ours):.4f}, "
                    + ", ".join(f"{chapter.LABELS[m]} {v:.4f}" for m, v in means.items()))
        if scene == "dc2":
            reason = verdicts.Reason("data we lack", evidence + "; DC2's generator is not public and ours is "
                                     "our own (assumption 3); " + _calibration_evidence(P, records, scene))
        else:
            reason = verdicts.Reason("unexplained", evidence)
    return verdicts.claim_row(claim, wins, losses, text, ties=ties, reason=reason)


def comparison_rows(P: Mapping, records: Mapping) -> list[dict]:
    """Every Table III target (verdict in its declared convention), the ranking claims, then the
    sensitivity rows (the paper's eqs. 14-15, no verdict)."""
    scenes = by_scene(P, records)
    rows, sensitivity = [], []
    for target in chapter.PAPER_TARGETS:
        why = _not_run(target, P)
        if why is not None:
            rows.append(verdicts.numeric_row(target, None, not_attempted=why))
            continue
        scene, method, metric = target.key.split("_", 2)
        values = method_values(scenes[scene], scene, metric)[method]
        other_metric, convention = chapter.SENSITIVITY[metric]
        others = method_values(scenes[scene], scene, other_metric).get(method)
        other = float(np.mean(others)) if others else None
        ours = seed_statistics(scenes[scene], scene, metric)[method][0]
        row = verdicts.numeric_row(target, ours, values=values)
        if verdicts.is_miss(row["verdict"]) and row["verdict"] != "diverged":
            row = verdicts.numeric_row(target, ours, values=values,
                                       reason=numeric_reason(target, values, other, P, records))
        rows.append(row)
        sensitivity.append(verdicts.sensitivity_row(target, other, convention))
    rows += [_claim_row(claim, P, records) for claim in chapter.CLAIMS]
    return rows + sensitivity


def report(P: Mapping, records: Mapping) -> Report:
    """The comparison rows and the numbers behind the chapter's tables: per-seed records without
    the abundance maps, the calibration and real-scene records, our means and stds per target."""
    scenes = by_scene(P, records)
    ours, stds = {}, {}
    for name, recs in scenes.items():
        for metric in chapter.COLUMNS:
            for method, (mean, std) in seed_statistics(recs, name, metric).items():
                if any(t.key == f"{name}_{method}_{metric}" for t in chapter.PAPER_TARGETS):
                    ours[f"{name}_{method}_{metric}"], stds[f"{name}_{method}_{metric}"] = mean, std
    data = {"synthetic": {k: {m: v for m, v in rec.items() if m != "maps"}
                          for k, rec in records["synthetic"].items()},
            "calibration": dict(records["calibration"]), "real": dict(records["real"]),
            "ours": ours, "std": stds}
    return Report(comparison_rows(P, records), data)


# ----------------------------------------------------------------------------- tables
def _cell(stats: Mapping, method: str) -> str | None:
    if method not in stats:
        return None
    mean, std = stats[method]
    return f"{mean:.4f} ± {std:.4f}"


def calibration_table(P: Mapping, records: Mapping) -> Table:
    """FCLS against the variability amplitude (the calibration) beside the paper's FCLS row."""
    rows = []
    for name, stats in calibration_statistics(P, records).items():
        for a, s in stats.items():
            rows.append({"scene": name.upper(), "amplitude": a, "chosen": "◀" if a == AMPLITUDE[name] else "",
                         "rel_a": f"{s['rel_a'][0]:.4f} ± {s['rel_a'][1]:.4f}",
                         "paper_a": chapter.QUOTED_TABLE3[name]["FCLS"][0],
                         "rmse_y": f"{s['rmse_y']:.4f}", "paper_y": chapter.QUOTED_TABLE3[name]["FCLS"][3]})
    return Table(rows, {"scene": "scene", "amplitude": "amplitude (DC1: c; DC2: h)", "chosen": "used",
                        "rel_a": "FCLS RMSE_A (rel.), mean ± std", "paper_a": "paper",
                        "rmse_y": "FCLS RMSE_Y (eq. 14)", "paper_y": "paper"}, floatfmt=".4g",
                 caption=f"FCLS from VCA references against the variability amplitude, "
                         f"{P['calibration_seeds']} scene seed(s) each; relative RMSE_A and eq. 14 RMSE_Y "
                         "(the calibration statistic)")


def official_table(P: Mapping, records: Mapping, scene: str, device: str) -> Table:
    """Table III in the reference code's conventions, the paper's row above ours (mean ± std)."""
    recs = by_scene(P, records)[scene]
    stats = {m: seed_statistics(recs, scene, m) for m in OFFICIAL_COLS}
    rows = []
    for method in METHODS:
        label = chapter.LABELS[method]
        quoted = chapter.QUOTED_TABLE3[scene][label]
        rows.append({"method": f"{label} (paper)", **{m: quoted[i] for m, i in PAPER_INDEX.items()}})
        if method in stats["rel_a"]:
            rows.append({"method": f"{label} (ours)", **{m: _cell(stats[m], method) for m in OFFICIAL_COLS}})
    return Table(rows, {"method": "method", **OFFICIAL_COLS}, floatfmt=".4f",
                 caption=f"{scene.upper()}, the reference code's conventions (the verdicts'): relative "
                         "errors ‖X − X*‖_F/‖X*‖_F and SAM mean over pixels and endmembers (rad); ours mean "
                         f"± std over {len(recs)} scene seed(s), endmembers in the true order (Hungarian on "
                         "SAD); FCLS scores M0 at every pixel (the paper leaves its RMSE_M, SAM_M blank) and "
                         f"its time includes VCA; times on {device}")


def literal_table(P: Mapping, records: Mapping, scene: str) -> Table:
    """Table III in the paper's eqs. 14-15 (absolute RMSE, SAM summed over endmembers)."""
    recs = by_scene(P, records)[scene]
    stats = {m: seed_statistics(recs, scene, m) for m in LITERAL}
    rows = [{"method": f"{chapter.LABELS[m]} (ours)", **{k: _cell(stats[k], m) for k in LITERAL}}
            for m in METHODS if m in stats["rmse_a"]]
    return Table(rows, {"method": "method", **LITERAL}, floatfmt=".4f",
                 caption=f"{scene.upper()}, the paper's eqs. 14-15 taken literally (sensitivity only): "
                         "absolute RMSE and SAM summed over endmembers (rad); mean ± std over scene seeds")


def gain_table(P: Mapping, records: Mapping) -> Table:
    """Each method's relative RMSE_A divided by FCLS's on the same scene draw."""
    rows = []
    for name, recs in by_scene(P, records).items():
        paper = chapter.QUOTED_TABLE3[name]
        for method in METHODS[1:]:
            key = _method_key(method, name)
            ratios = np.array([r[key]["rel_a"] / r["fcls"]["rel_a"] for r in recs if key in r])
            if ratios.size:
                label = chapter.LABELS[method]
                std = ratios.std(ddof=1) if ratios.size > 1 else 0
                rows.append({"scene": name.upper(), "method": label,
                             "paper": paper[label][0] / paper["FCLS"][0],
                             "ours": f"{ratios.mean():.3f} ± {std:.3f}"})
    return Table(rows, {"scene": "scene", "method": "method", "paper": "paper", "ours": "ours, mean ± std"},
                 floatfmt=".3f", caption="RMSE_A of each method divided by FCLS's on the same scene draw "
                                         "(below 1: better than FCLS); ours over scene seeds")


def lambda_table(P: Mapping, records: Mapping) -> Table:
    """DeepGU on the first scene seed for every lambda_A of the grid."""
    rows = []
    for name, recs in by_scene(P, records).items():
        rec = recs[0]
        for key in sorted((k for k in rec if k.startswith("deepgu_")), key=lambda k: rec[k]["lambda_a"]):
            r = rec[key]
            rows.append({"scene": name.upper(), "lambda_a": r["lambda_a"],
                         "used": "◀" if key == deepgu_key(name) else "", "rel_a": r["rel_a"],
                         "rel_m": r["rel_m"], "rel_y": r["rel_y"], "outer": r["outer_iterations"],
                         "time": r["time"]})
    return Table(rows, {"scene": "scene", "lambda_a": "λ_A", "used": "in Table III", "rel_a": "RMSE_A",
                        "rel_m": "RMSE_M", "rel_y": "RMSE_Y", "outer": "outer iterations",
                        "time": "time (s, incl. VAE)"},
                 floatfmt=".4f", caption=f"DeepGU against λ_A (λ_Z = {P['lambda_z']}), scene seed "
                                         f"{P['seeds'][0]}; relative errors")


def real_table(P: Mapping, records: Mapping) -> Table:
    """Table IV quoted (Houston, Cuprite) and ours on the real scenes of the run."""
    rows = [{"scene": f"{s} (paper)", "method": m, "mse_y": v[0 if s == "Houston" else 2],
             "time": v[1 if s == "Houston" else 3], "rmse_a": None, "note": "quoted"}
            for s in ("Houston", "Cuprite") for m, v in chapter.QUOTED_TABLE4.items()]
    for name, rec in records["real"].items():
        if rec.get("status") == "not run":
            rows.append({"scene": name.capitalize(), "method": "all",
                         "note": f"not attempted: {rec['reason']}"})
            continue
        for key in [*(m for m in METHODS if m != "deepgu"), f"deepgu_{P['real_lambda_a']:g}"]:
            if key in rec:
                r = rec[key]
                rows.append({"scene": name, "method": chapter.LABELS.get(key, "DeepGU"),
                             "rmse_y": r["rmse_y"], "mse_y": r["rmse_y"] ** 2, "rmse_a": r.get("rmse_a"),
                             "time": r["time"],
                             "note": "ours" if "rmse_a" in r else "ours; no reference abundances"})
    return Table(rows, {"scene": "scene", "method": "method", "rmse_y": "RMSE_Y", "mse_y": "MSE_Y",
                        "rmse_a": "RMSE_A", "time": "time (s)", "note": "note"}, floatfmt=".4g",
                 caption="Real scenes: reconstruction error (eq. 14), abundance RMSE (eq. 14) against the "
                         "published reference maps (endmembers matched by Hungarian on SAD), time; baselines "
                         "at the reference code's example-1 parameters")


def time_table(P: Mapping, records: Mapping, device: str) -> Table:
    """DeepGU's wall time per scene (VAE training included) beside the paper's."""
    rows = []
    for name, recs in by_scene(P, records).items():
        key = deepgu_key(name)
        t = np.array([r[key]["time"] for r in recs])
        vae = np.array([r[key]["time_vae"] for r in recs])
        outer = [r[key]["outer_iterations"] for r in recs]
        rows.append({"scene": name.upper(), "paper": chapter.QUOTED_TABLE3[name]["DeepGU"][4],
                     "ours": f"{t.mean():.1f} ± {t.std():.1f}", "vae": f"{vae.mean():.1f}",
                     "outer": f"{min(outer)}-{max(outer)}"})
    return Table(rows, {"scene": "scene", "paper": "paper (s)", "ours": "ours (s), mean ± std",
                        "vae": "of which VAEs (s)", "outer": "outer iterations"}, floatfmt=".1f",
                 caption=f"DeepGU wall time per scene, ours on {device}; the paper's "
                         "machine is different: indicative only")


_COMPARISON = {"quantity": "quantity", "paper": "paper", "ours": "ours", "interval": "95 % interval",
               "verdict": "verdict", "reason": "reason"}


def _shown(row: Mapping) -> dict:
    out = dict(row)
    if row.get("interval"):
        out["interval"] = f"[{row['interval'][0]:.4f}, {row['interval'][1]:.4f}]"
    if isinstance(row.get("ours"), float):
        out["ours"] = f"{row['ours']:.4f}"
    if row.get("reason"):
        out["reason"] = f"{row['reason']['class']}: {row['reason']['evidence']}"
    return out


def comparison_table(rows: list[dict], caption: str) -> Table:
    """The judged rows (targets and claims) of a comparison."""
    return Table([_shown(r) for r in rows if r["kind"] != "sensitivity"], _COMPARISON, floatfmt=".4f",
                 caption=caption)


def sensitivity_table(rows: list[dict], caption: str) -> Table:
    """The sensitivity rows of a comparison (the paper's eqs. 14-15; no verdict)."""
    return Table([_shown(r) for r in rows if r["kind"] == "sensitivity"],
                 {"quantity": "target (judged in C above)", "convention": "computed as", "paper": "paper",
                  "ours": "ours"},
                 floatfmt=".4f", caption=caption)


def learned(P: Mapping, records: Mapping) -> str:
    """Markdown bullet lines on this run: RMSE_A per method and scene, the real scenes."""
    lines = []
    for name, recs in by_scene(P, records).items():
        stats = seed_statistics(recs, name, "rel_a")
        paper = chapter.QUOTED_TABLE3[name]
        dg = stats["deepgu"][0]
        best_other = min(v[0] for k, v in stats.items() if k != "deepgu")
        lines.append(
            f"- **{name.upper()}.** Relative RMSE_A over {len(recs)} seed(s): DeepGU {dg:.4f}, "
            + ", ".join(f"{chapter.LABELS[k]} {v[0]:.4f}" for k, v in stats.items() if k != "deepgu")
            + f" (paper: DeepGU {paper['DeepGU'][0]}, best baseline "
            f"{min(v[0] for k, v in paper.items() if k != 'DeepGU')}). DeepGU "
            + ("is" if dg < best_other else "is *not*")
            + f" the most accurate here; it lowers FCLS's error by {100 * (1 - dg / stats['fcls'][0]):.0f} % "
            f"(paper: {100 * (1 - paper['DeepGU'][0] / paper['FCLS'][0]):.0f} %).")
    for name, rec in records["real"].items():
        if rec.get("status") == "not run":
            continue
        metric = "rmse_a" if "rmse_a" in rec["fcls"] else "rmse_y"
        dg = rec[f"deepgu_{P['real_lambda_a']:g}"]
        lines.append(f"- **{name}.** {metric.upper()} (eq. 14): FCLS {rec['fcls'][metric]:.4f}, "
                     + ", ".join(f"{chapter.LABELS[m]} {rec[m][metric]:.4f}"
                                 for m in P["baselines"] if m in rec)
                     + f", DeepGU {dg[metric]:.4f}.")
    return "In this run:\n\n" + "\n".join(lines)
