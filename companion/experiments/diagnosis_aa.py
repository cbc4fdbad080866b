"""Diagnosis "NMF-SAE / Table II, AA" (book/diagnoses.md): NMF-SAE's Table 1 and BUNet-II's
Table II on Jasper Ridge from an archetypal-analysis start.

The start is the ``"aa"`` initialisation of :mod:`companion.initialisation`
(:func:`companion.classic.archetypal.archetypal_analysis` with its declared defaults: SPAMS'
first-pixels start, 100 outer iterations, tolerance 1e-6; deterministic, no ground truth). Each
table is trained as its committed start study trained every other start: the committed
configuration (``results/<chapter>/paper/runs/{jasper,init_jasper}.json``) with its ``inits``
replaced, under the committed paper parameters (the summaries' provenance), through the chapters'
own compute (``nmf_sae.run_point(study="jasper")``, ``admm_unfolding.compute(kind="init")``).
NMF-SAE from a deterministic start is one run (its training has no other randomness; the
committed study runs SiVM and the truth so); BUNet-II runs 5 (training draws and seeds). SiVM,
a deterministic start of the committed NMF-SAE study, is trained again beside AA: its values must
equal the committed ones (a check that this run is the committed protocol).

Decision rule (declared before the run): a key whose value from AA is within the band
(``verdicts.judge_numeric``: *reproduced* or *partly*) becomes :data:`CLASS_START` with this
experiment as evidence; any other key keeps its class and its evidence gains AA's numbers.
Fig. 3 (a supported claim): its lost comparisons are tabulated from the committed records, with
no verdict change.

Shapes: ``Y (bands, pixels)``; endmembers ``(bands, p)``; SAD per run ``(p,)``.

``python -m companion.experiments.diagnosis_aa [nmf_sae] [bunet]`` computes the named parts
(default both) from a clean tree and writes ``results/diagnosis/aa_start_<part>.json``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from .. import verdicts
from ..chapters import admm_unfolding as admm_chapter
from ..chapters import nmf_sae as nmf_chapter
from ..classic.archetypal import archetypal_analysis
from ..data import load
from ..jsonio import write_json_atomically
from ..results import REPO_ROOT, Provenance, require_clean_tree
from ..runtime import torch_threads
from . import admm_unfolding, nmf_sae

__all__ = ["CLASS_START", "NMF_KEYS", "BUNET_KEYS", "PARTS", "key_values", "apply_rule", "fig3_losses",
           "main"]

CLASS_START = "open protocol choice: start"
EMS = ("tree", "water", "soil", "road")
NMF_KEYS = tuple(f"jasper_sad_{em}" for em in (*EMS, "mean"))
BUNET_KEYS = tuple(f"jasper_bunet2_sad_{em}" for em in (*EMS, "mean"))
CHECK_INIT = "sivm"     # a committed deterministic NMF-SAE start, rerun as a check
HEAD = "AA start (book/diagnoses.md, results/diagnosis/aa_start_{part}.json): "


def key_values(scores: Mapping, names: Sequence[str], keys: Sequence[str]) -> dict[str, float]:
    """``{key: mean over the finite runs}`` of ``score_runs`` output ``scores`` (``sad``:
    per-run ``(p,)`` lists, ``sad_mean``: per-run means; a diverged run is None), each key ending
    in an endmember name of ``names`` or ``mean`` (the chapters' Table 1 / Table II columns)."""
    s = nmf_sae.summary(scores)
    out = {}
    for key in keys:
        em = key.rsplit("_", 1)[1]
        out[key] = float(s["sad"] if em == "mean" else s["sad_per_em"][list(names).index(em)])
    return out


def apply_rule(values: Mapping[str, float], targets: Mapping[str, verdicts.Target],
               committed: Mapping[str, Mapping], unit: str, part: str) -> dict[str, dict]:
    """The declared rule, per key of ``values`` (the trained value from AA): ``verdict`` of AA's
    value against ``targets[key]``, ``within`` (reproduced or partly), the committed
    (``committed[key]``: a summary row) and new ``reason``; the new class is
    :data:`CLASS_START` when within the band, else the committed class, with AA's numbers added
    to the evidence (``part`` names the result file)."""
    head, out = HEAD.format(part=part), {}
    for key, value in values.items():
        target, row = targets[key], committed[key]
        verdict = verdicts.judge_numeric(target, value)
        within = verdict in ("reproduced", "partly")
        old = verdicts.Reason.from_dict(row["reason"])
        numbers = (f"from AA the same training gives {value:.4g} {unit} ({verdict}; paper {target.value:g}, "
                   f"ours from the declared start {row['ours']:.4g})")
        if within:
            new = verdicts.Reason(CLASS_START, head + numbers + "; the start explains the miss")
        else:
            new = verdicts.Reason(old.cls, old.evidence + "; " + head + numbers + ": AA does not reach it")
        out[key] = {"paper": target.value, "ours": row["ours"], "aa": value, "aa_verdict": verdict,
                    "within": within, "old": row["reason"], "new": new.to_dict()}
    return out


def fig3_losses(fig3: Mapping[str, Mapping], names: Sequence[str] | None = None) -> list[dict]:
    """Fig. 3's lost comparisons (NMF-SAE's run mean above a baseline's, per SNR record of
    ``fig3`` and metric, as the chapter counts them), each with the runs (same seed) NMF-SAE loses
    and, for SAD, the endmembers whose run-mean SAD is above the baseline's."""
    rows = []
    for point, record in fig3.items():
        ours = nmf_sae.summary(record["nmf_sae"])
        for baseline in (k for k in record if isinstance(record[k], Mapping) and "sad_mean" in record[k]
                         and k != "nmf_sae"):
            other = nmf_sae.summary(record[baseline])
            for metric, runs_key in (("sad", "sad_mean"), ("rmse", "rmse")):
                a, b = ours[metric], other[metric]
                if not (np.isfinite(a) and np.isfinite(b)) or a <= b:
                    continue
                pairs = [(x, y) for x, y in zip(record["nmf_sae"][runs_key], record[baseline][runs_key],
                                                strict=True) if x is not None and y is not None]
                row = {"point": point, "baseline": baseline, "metric": metric, "nmf_sae": float(a),
                       "baseline_value": float(b),
                       "runs_lost": int(sum(x > y for x, y in pairs)), "runs": len(pairs),
                       "seeds_lost": [i for i, (x, y) in enumerate(pairs) if x > y]}
                if metric == "sad":
                    worse = np.asarray(ours["sad_per_em"]) > np.asarray(other["sad_per_em"])
                    worse_at = np.flatnonzero(worse).tolist()
                    row["endmembers_worse"] = [names[i] for i in worse_at] if names else worse_at
                rows.append(row)
    return rows


def _committed(chapter: str, key: str) -> tuple[dict, dict, dict]:
    """``(params, record file, {row key: summary row})`` of a committed paper-scale chapter."""
    base = REPO_ROOT / "results" / chapter / "paper"
    summary = json.loads((base / "summary.json").read_text())
    return (summary["provenance"]["params"], json.loads((base / "runs" / f"{key}.json").read_text()),
            {r["key"]: r for r in summary["comparison"]})


def _nmf_sae_part() -> dict:
    P, stored, rows = _committed("nmf_sae", "jasper")
    config = {**stored["config"], "inits": ["aa", CHECK_INIT]}
    started = time.perf_counter()
    record = nmf_sae.run_point(config, study="jasper", protocol=nmf_sae.protocol(P), device="cpu")
    seconds = time.perf_counter() - started
    names = record["names"]
    values = {i: {"trained": key_values(record[i]["nmf_sae"], names, NMF_KEYS),
                  "start": key_values(record[i]["start"], names, NMF_KEYS)} for i in ("aa", CHECK_INIT)}
    check = key_values(stored["record"][CHECK_INIT]["nmf_sae"], names, NMF_KEYS)
    targets = {t.key: t for t in nmf_chapter.PAPER_TARGETS}
    runs = REPO_ROOT / "results" / "nmf_sae" / "paper" / "runs"
    fig3 = {p.stem: json.loads(p.read_text())["record"] for p in sorted(runs.glob("snr*.json"))}
    return {"config": config, "seconds": seconds, "values": values,
            "check": {"init": CHECK_INIT, "committed": check, "max_abs_difference": max(
                abs(check[k] - values[CHECK_INIT]["trained"][k]) for k in NMF_KEYS)},
            "rule": apply_rule(values["aa"]["trained"], targets, rows, "rad", "nmf_sae"),
            "fig3_losses": fig3_losses(fig3)}


def _bunet_part() -> dict:
    P, stored, rows = _committed("admm_unfolding", "init_jasper")
    config = {**stored["config"], "inits": ["aa"]}
    started = time.perf_counter()
    record = admm_unfolding.compute(config, kind="init", protocol=admm_unfolding.protocol_of(P), device="cpu")
    seconds = time.perf_counter() - started
    names = record["names"]
    values = {"aa": {stage: key_values(record["aa"][stage], names, BUNET_KEYS)
                     for stage in ("trained", "start")}}
    targets = {t.key: t for t in admm_chapter.PAPER_TARGETS}
    return {"config": config, "seconds": seconds, "values": values,
            "runs": {k: record["aa"]["trained"][k] for k in ("sad", "sad_mean")},
            "rule": apply_rule(values["aa"]["trained"], targets, rows, "deg", "bunet")}


PARTS = {"nmf_sae": _nmf_sae_part, "bunet": _bunet_part}


def main(parts: Sequence[str] = tuple(PARTS), out: Path = REPO_ROOT / "results" / "diagnosis") -> dict:
    """Run the declared protocol's ``parts`` (keys of :data:`PARTS`: NMF-SAE Table 1, BUNet-II
    Table II), each written to ``out / aa_start_<part>.json`` with AA's own cost and convergence;
    refuses a tree with uncommitted changes."""
    require_clean_tree()
    hsi = load("jasper")
    with torch_threads(1):
        started = time.perf_counter()
        aa = archetypal_analysis(hsi.Y, hsi.p, device="cpu")
        aa_cost = {"seconds": time.perf_counter() - started, "iterations": aa.iterations,
                   "converged": aa.converged, "objective_last": float(aa.objective[-1])}
    documents = {}
    for part in parts:
        prov = Provenance.start("diagnosis_aa", {"scale": "paper", "part": part}, "cpu")
        document = {"experiment": f"NMF-SAE / Table II, AA (book/diagnoses.md): {part}", "aa": aa_cost,
                    **PARTS[part]()}
        document["provenance"] = prov.finish().to_dict()
        write_json_atomically(out / f"aa_start_{part}.json", document)
        documents[part] = document
    return documents


if __name__ == "__main__":
    import sys
    main(sys.argv[1:] or tuple(PARTS))
