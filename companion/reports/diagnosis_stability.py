"""Diagnosis "Stability, XGU" (a) (book/diagnoses.md): are the two XGU misses a sample-size effect?

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

``python -m companion.reports.diagnosis_stability`` computes it from a clean tree (records
under ``results/diagnosis/stability_xgu/``, resumable) and writes
``results/diagnosis/stability_xgu.json``.
"""

from __future__ import annotations

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
from . import stability_stats as stats

__all__ = ["SCHEME", "EXP10_INITIALISATIONS", "TABLE3_INITIALISATIONS", "configs", "exp10_metrics",
           "spearman_outcome", "table3_outcome", "main"]

SCHEME = "glorot_uniform"        # XGU
EXP10_INITIALISATIONS = 50       # the paper preset's init0-49
TABLE3_INITIALISATIONS = 30
BASELINE = stability.variant_label(None, 0.0)


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


def main(out: Path = REPO_ROOT / "results" / "diagnosis" / "stability_xgu.json") -> dict:
    """Run the declared protocol under the committed paper parameters and write ``out`` (the
    records beside it in ``stability_xgu/``); refuses a tree with uncommitted changes."""
    require_clean_tree()
    base = REPO_ROOT / "results" / "stability" / "paper"
    summary = json.loads((base / "summary.json").read_text())
    P, rows = summary["provenance"]["params"], {r["key"]: r for r in summary["comparison"]}
    committed = {p.stem: json.loads(p.read_text())["record"] for p in sorted((base / "runs").glob("*.json"))}
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


if __name__ == "__main__":
    main()
