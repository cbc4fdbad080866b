"""Diagnosis "Stability, XGU" (book/diagnoses.md): (a) are the two XGU misses a sample-size
effect? (b) does the Glorot gain (not stated by the paper) move the X* cells?

(a)

The misses: ``spearman_exp10_XGU`` (Sec. 2.6, Spearman correlation of dead bottleneck units
with the initialisation's mean RMSE, Exp. 10, Glorot uniform) and ``table3_XGU_baseline``
(Table 3, Exp. 4 baseline RMSE, Glorot uniform). The committed study has 10 and 6
initialisations; this experiment trains more of the same kind through the chapter's own compute
(:class:`companion.experiments.stability.Compute`, the committed paper parameters):

* Exp. 10, Glorot uniform, initialisations 10-49 (blocks of 10, as the chapter's records), joined
  to the committed initialisations 0-9: 50 in all (the paper preset's ``init0-49``);
* Table 3's baseline, Glorot uniform, initialisations 0-29 (run 0 each, as the chapter). The
  first 6 are the committed ones again: a check that this is the committed protocol.

An initialisation's weights and runs are seeded by (experiment, scheme, initialisation) only
(:func:`~companion.experiments.stability.init_seed`, :func:`~companion.experiments.stability.run_seed`),
so training one scheme alone draws the same models as the committed all-scheme records.

Decision rule (declared before the run): if the paper's value lies inside the 95 % interval of
the larger sample (percentile bootstrap over initialisations for Spearman, as the chapter;
Student's t for Table 3, :func:`companion.verdicts.sample_size_reason`), the reason becomes
``sample size`` with the new interval; otherwise the target keeps its class, with the tighter
interval as evidence.

It lives beside the reports (not in ``experiments``) because its rule uses the chapter's
statistics (:mod:`companion.reports.stability_stats`); its compute is the chapter's.

Shapes: per scheme, Table 1 metrics ``(initialisations, runs)``; Table 3 metrics
``(initialisations,)``. RMSE of the reconstruction, unitless.

(b) The chapter's committed XGN and XGU records of Exps. 4 and 10 (Table 1) and of Table 3
(``reinit_exp4_keep``) trained again at gain 1 (:data:`GAIN`, **O**: Keras' and PyTorch's plain
Glorot) instead of ATE's √2 (**C**), same seeds (:func:`gain_configs`); the chapter's report on
the committed records with those parts replaced gives every X* row at gain 1
(:func:`gain_rows`), and :func:`gain_outcome` applies the declared rule: if at least half of
the X* targets missed at √2 move into the band (reproduced or partly, and better than at √2),
those become ``open protocol choice: Glorot gain``; the verdicts stay at √2.

``python -m companion.reports.diagnosis_stability a`` (or ``b``) computes a part from a clean
tree (records under ``results/diagnosis/stability_xgu/`` or ``stability_gain/``, resumable) and
writes ``results/diagnosis/stability_xgu.json`` (or ``stability_gain.json``).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .. import verdicts
from ..chapters import get_chapter
from ..experiments import stability
from ..jsonio import write_json_atomically
from ..results import REPO_ROOT, Provenance, require_clean_tree
from ..study import run_study
from . import stability as chapter_report
from . import stability_stats as stats

__all__ = ["SCHEME", "EXP10_INITIALISATIONS", "TABLE3_INITIALISATIONS", "GAIN", "GAIN_SCHEMES",
           "GAIN_CLASS", "configs", "exp10_metrics", "spearman_outcome", "table3_outcome", "gain_configs",
           "with_gain_records", "is_glorot_target", "gain_rows", "gain_outcome", "main", "main_gain"]

SCHEME = "glorot_uniform"        # XGU
EXP10_INITIALISATIONS = 50       # the paper preset's init0-49
TABLE3_INITIALISATIONS = 30
BASELINE = stability.variant_label(None, 0.0)
GAIN = 1.0                                          # (b): O, Keras' and PyTorch's plain Glorot
GAIN_SCHEMES = ["glorot_normal", "glorot_uniform"]  # XGN, XGU
GAIN_PREFIX = "gain1_"
GAIN_CLASS = "open protocol choice: Glorot gain"
GAIN_EXPERIMENTS = (4, 10)
_IN_BAND = {"reproduced": 2, "partly": 1}           # the band, better first; every other verdict 0


def configs(P: Mapping) -> dict[str, dict]:
    """The new records: Exp. 10 XGU initialisations past the committed ones (blocks of
    ``P["block"]``) and Table 3's XGU baseline on :data:`TABLE3_INITIALISATIONS` initialisations."""
    out = {}
    for start in range(P["initialisations"], EXP10_INITIALISATIONS, P["block"]):
        inits = list(range(start, min(start + P["block"], EXP10_INITIALISATIONS)))
        out[f"exp10_xgu_init{inits[0]}-{inits[-1]}"] = {"kind": "table1", "experiment": 10,
                                                        "schemes": [SCHEME], "initialisations": inits}
    out["table3_xgu_baseline"] = {"kind": "table3", "schemes": [SCHEME],
                                  "initialisations": list(range(TABLE3_INITIALISATIONS)),
                                  "variants": [[None, 0.0]], "epochs": P["reinit_epochs"],
                                  "adam_step": "keep", "weight_decay": 0.0}
    return out


def exp10_metrics(committed: Mapping[str, Mapping], new: Mapping[str, Mapping]) -> dict[str, np.ndarray]:
    """``{"dead", "rmse"}``: ``(initialisations, runs)`` arrays of Exp. 10 XGU, the committed
    records' (``exp10_init*``) first, then the new ones (``exp10_xgu_init*``), in key order."""
    parts = _blocks(committed, "exp10_init") + _blocks(new, "exp10_xgu_init")
    return {m: np.concatenate([np.asarray(p[m], dtype=float) for p in parts]) for m in ("dead", "rmse")}


def _blocks(records: Mapping[str, Mapping], prefix: str) -> list[Mapping]:
    """The XGU part of the records whose key starts with ``prefix``, by first initialisation."""
    keys = sorted((k for k in records if k.startswith(prefix)),
                  key=lambda k: int(k.rsplit("init", 1)[1].split("-")[0]))
    return [records[k][SCHEME] for k in keys]


def spearman_outcome(target: verdicts.Target, dead: np.ndarray, rmse: np.ndarray, before: Mapping) -> dict:
    """The rule for the Spearman target: the chapter's statistic and bootstrap 95 % interval over
    the ``(initialisations, runs)`` arrays; ``sample size`` if it holds the paper's value, else
    the class of ``before`` (the committed row's reason)."""
    value = stats.spearman_dead_vs_init_mean(dead, rmse)
    low, high = stats.bootstrap_interval(lambda i: stats.spearman_dead_vs_init_mean(dead[i], rmse[i]),
                                         len(rmse), level=0.95)
    evidence = (f"Stability XGU (a) (book/diagnoses.md, results/diagnosis/stability_xgu.json): over "
                f"{len(rmse)} initialisations Spearman {value:.2f}, bootstrap 95 % interval "
                f"[{low:.2f}, {high:.2f}]")
    inside = bool(np.isfinite(low) and low <= target.value <= high)
    verb = "holds" if inside else "excludes"
    new = verdicts.Reason("sample size" if inside else before["class"],
                          f"{evidence}; it {verb} the paper's {target.value:g}")
    return {"initialisations": len(rmse), "value": float(value), "interval": [low, high], "inside": inside,
            "class_before": before["class"], "new": new.to_dict()}


def table3_outcome(target: verdicts.Target, rmse: list[float], before: Mapping) -> dict:
    """The rule for the Table 3 target: Student's t 95 % interval of the mean over ``rmse`` (one
    value per initialisation); ``sample size`` if it holds the paper's value, else the class of
    ``before``."""
    where = ("Stability XGU (a) (book/diagnoses.md, results/diagnosis/stability_xgu.json), Table 3 XGU "
             "baseline")
    found = verdicts.sample_size_reason(target, rmse, where)
    interval = verdicts.interval95(rmse)
    mean = float(np.nanmean(rmse))
    new = found or verdicts.Reason(before["class"],
                                   f"{where}: our mean {mean:.4f} over {len(rmse)} initialisations, 95 % "
                                   f"interval [{interval[0]:.4f}, {interval[1]:.4f}], excludes the paper's "
                                   f"{target.value:g}")
    return {"initialisations": len(rmse), "mean": mean, "interval": list(interval),
            "inside": found is not None, "class_before": before["class"], "new": new.to_dict()}


def gain_configs(P: Mapping) -> dict[str, dict]:
    """(b)'s records: the chapter's Table 1 records of Exps. 4 and 10 and Table 3's
    ``reinit_exp4_keep``, XGN and XGU only, at gain :data:`GAIN` (keys prefixed ``gain1_``)."""
    schemes = {**P, "schemes": GAIN_SCHEMES}
    chosen = {}
    for e in GAIN_EXPERIMENTS:
        chosen |= stability.table1_configs(schemes, e)
    chosen |= stability.table3_configs(schemes, "keep", P["reinit_initialisations"], stability.variants(P))
    return {GAIN_PREFIX + key: {**config, "gain": GAIN} for key, config in chosen.items()}


def with_gain_records(committed: Mapping[str, Mapping], new: Mapping[str, Mapping]) -> dict[str, dict]:
    """The committed records with the schemes of each gain-1 record (``gain1_<key>``) replacing
    those of ``<key>``; every other scheme and record is the committed one."""
    out = {key: dict(record) for key, record in committed.items()}
    for key, record in new.items():
        out[key.removeprefix(GAIN_PREFIX)].update(record)
    return out


def is_glorot_target(key: str) -> bool:
    """An X* target: its key names XGN or XGU (``spearman_exp4_XGN``, ``table3_XGU_layer``)."""
    return bool({"XGN", "XGU"} & set(key.split("_")))


def gain_rows(P: Mapping, records: Mapping[str, Mapping]) -> dict[str, dict]:
    """The chapter report's comparison rows of the X* targets (:func:`is_glorot_target`) for
    ``records`` (the chapter's study records, keyed as :func:`stability.configs`)."""
    rows = chapter_report.report(P, {stability.STUDY: records}).comparison
    return {r["key"]: r for r in rows if is_glorot_target(r["key"])}


def _moves_into_band(before: str, after: str) -> bool:
    """At gain 1 in the band and better than at √2 (the declared reading of "within the band")."""
    return after in _IN_BAND and _IN_BAND[after] > _IN_BAND.get(before, 0)


def gain_outcome(before: Mapping[str, Mapping], after: Mapping[str, Mapping]) -> dict:
    """The declared rule of (b) on the X* rows at √2 (``before``, the committed summary's) and at
    gain 1 (``after``, :func:`gain_rows`): per missed target its values, verdicts and new reason;
    ``explained`` when at least half of the missed targets move into the band."""
    missed = [k for k, r in before.items() if is_glorot_target(k) and verdicts.is_miss(r["verdict"])]
    moved = [k for k in missed if _moves_into_band(before[k]["verdict"], after[k]["verdict"])]
    explained = 2 * len(moved) >= len(missed) > 0
    where = "diagnosis Stability (b) (book/diagnoses.md, declared before its result)"
    share = f"{len(moved)} of {len(missed)} X* misses move into the band"
    targets = {}
    for key in missed:
        b, a = before[key], after[key]
        evidence = (f"{where}: at Glorot gain 1 ours {a['ours']:.4g} ({a['verdict']}) against "
                    f"{b['ours']:.4g} ({b['verdict']}) at √2; {share}")
        cls = GAIN_CLASS if explained and key in moved else b["reason"]["class"]
        targets[key] = {"paper": b["paper"], "ours_sqrt2": b["ours"], "verdict_sqrt2": b["verdict"],
                        "ours_gain1": a["ours"], "verdict_gain1": a["verdict"], "moved": key in moved,
                        "class_before": b["reason"]["class"],
                        "new": verdicts.Reason(cls, evidence).to_dict()}
    return {"missed": len(missed), "moved": moved, "explained": explained, "targets": targets}


def _committed() -> tuple[dict, dict[str, dict], dict[str, dict]]:
    """The committed paper study: its parameters, summary rows by key and records by key."""
    base = REPO_ROOT / "results" / "stability" / "paper"
    summary = json.loads((base / "summary.json").read_text())
    P, rows = summary["provenance"]["params"], {r["key"]: r for r in summary["comparison"]}
    committed = {p.stem: json.loads(p.read_text())["record"] for p in sorted((base / "runs").glob("*.json"))}
    return P, rows, committed


def main(out: Path = REPO_ROOT / "results" / "diagnosis" / "stability_xgu.json") -> dict:
    """Run (a), the declared protocol under the committed paper parameters, and write ``out``
    (the records beside it in ``stability_xgu/``); refuses a tree with uncommitted changes."""
    require_clean_tree()
    P, rows, committed = _committed()
    prov = Provenance.start("diagnosis_stability", {"scale": "paper", "scheme": SCHEME,
                                                    "exp10_initialisations": EXP10_INITIALISATIONS,
                                                    "table3_initialisations": TABLE3_INITIALISATIONS}, "cpu")
    protocol = {**stability.protocol(P), "reinit_epochs": P["reinit_epochs"]}
    records = run_study(configs(P), stability.Compute(P["runs"], P["epochs"], "cpu"), out.with_suffix(""),
                        protocol, desc="Stability XGU (a)")
    targets = {t.key: t for t in get_chapter("stability").PAPER_TARGETS}
    metrics = exp10_metrics(committed, records)
    table3 = records["table3_xgu_baseline"][SCHEME][BASELINE]["rmse"]
    first = committed["reinit_exp4_keep"][SCHEME][BASELINE]["rmse"]
    document = {
        "experiment": "Stability XGU (a) (book/diagnoses.md)",
        "provenance": prov.finish().to_dict(),
        "check": {"compared": f"Table 3 XGU baseline RMSE of initialisations 0-{len(first) - 1} against the "
                              "committed reinit_exp4_keep record",
                  "max_abs_difference": float(np.max(np.abs(np.subtract(table3[:len(first)], first))))},
        "rule": {"spearman_exp10_XGU": spearman_outcome(targets["spearman_exp10_XGU"], metrics["dead"],
                                                        metrics["rmse"],
                                                        rows["spearman_exp10_XGU"]["reason"]),
                 "table3_XGU_baseline": table3_outcome(targets["table3_XGU_baseline"], table3,
                                                       rows["table3_XGU_baseline"]["reason"])},
    }
    write_json_atomically(out, document)
    return document


def main_gain(out: Path = REPO_ROOT / "results" / "diagnosis" / "stability_gain.json") -> dict:
    """Run (b) under the committed paper parameters and write ``out`` (the records beside it in
    ``stability_gain/``); refuses a tree with uncommitted changes."""
    require_clean_tree()
    P, rows, committed = _committed()
    prov = Provenance.start("diagnosis_stability_gain", {"scale": "paper", "schemes": GAIN_SCHEMES,
                                                         "gain": GAIN, "experiments": list(GAIN_EXPERIMENTS)},
                            "cpu")
    protocol = {**stability.protocol(P), "reinit_epochs": P["reinit_epochs"]}
    compute = stability.Compute(P["runs"], P["epochs"], "cpu")
    records = run_study(gain_configs(P), compute, out.with_suffix(""), protocol, desc="Stability (b), gain 1")
    before = {k: r for k, r in rows.items() if is_glorot_target(k)}
    again = gain_rows(P, committed)
    check = max(abs(again[k]["ours"] - r["ours"]) for k, r in before.items())
    after = gain_rows(P, with_gain_records(committed, records))
    document = {"experiment": "Stability (b), Glorot gain 1 vs sqrt(2) (book/diagnoses.md)",
                "provenance": prov.finish().to_dict(),
                "check": {"compared": "the X* rows' ours of this checkout's report on the committed records "
                                      "against the committed summary",
                          "max_abs_difference": check},
                "rows": {k: {"paper": before[k]["paper"], "ours_sqrt2": before[k]["ours"],
                             "verdict_sqrt2": before[k]["verdict"], "ours_gain1": after[k]["ours"],
                             "verdict_gain1": after[k]["verdict"]} for k in before},
                "rule": gain_outcome(before, after)}
    write_json_atomically(out, document)
    return document


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Diagnosis Stability, XGU: part a (more "
                                                 "initialisations) or b (Glorot gain 1).")
    parser.add_argument("part", choices=("a", "b"))
    (main if parser.parse_args().part == "a" else main_gain)()
