"""Diagnoses DeepGU 3 and 4 (book/diagnoses.md): a DC1 abundance error and VCA's random directions.

DeepGU 3: FCLS, DeepGU 4: PLMM (:data:`DIAGNOSES`), on the VCA references of DC1 (30 dB) over
scene seeds 0-19, with VCA's random directions drawn uniformly (the reference code's draw, the
chapter's) and normally (the former draw). The references are formed as
:func:`companion.experiments.deepgu._reference` forms them (VCA with the scene seed, columns
matched to the ground truth by Hungarian assignment on SAD, FCLS abundances), PLMM starts from
them at the reference code's settings as the chapter's Table III runs it, with the draw as the
one difference, and every estimate is scored by the chapter's
:func:`~companion.experiments.deepgu.score`. The uniform draw's seeds 0-4 must equal the committed
Table III records (a check that this is the chapter's path).

Decision rule (declared before the run): if the paper's value lies inside the 95 % Student's t
interval of the uniform-draw mean, the reason becomes ``sample size``; otherwise, if the
normal-draw mean is *reproduced* and the uniform-draw mean is not, ``open protocol choice: VCA
draw``; otherwise ``unexplained`` with both means.

Shapes: ``Y (bands, pixels)``, references ``(bands, P)``, abundances ``(P, pixels)``.

``python -m companion.experiments.diagnosis_deepgu_3 KEY`` (``dc1_fcls_rel_a``, the default, or
``dc1_plmm_rel_a``) computes one from a clean tree and writes its JSON under ``results/diagnosis/``
(:data:`DIAGNOSES`).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence

import numpy as np

from .. import metrics, verdicts
from ..chapters import deepgu as chapter
from ..classic import fcls, vca
from ..data.scenes import variability_scene
from ..jsonio import write_json_atomically
from ..results import REPO_ROOT, Provenance, require_clean_tree
from ..runtime import torch_threads
from .deepgu import BASELINES, OFFICIAL, score

__all__ = ["DRAWS", "KEY", "DIAGNOSES", "method_rel_a", "apply_rule", "main"]

DRAWS = ("uniform", "normal")     # the reference code's (C, the chapter's) and the former (O)
KEY = "dc1_fcls_rel_a"
CLASS_DRAW = "open protocol choice: VCA draw"
# target key -> (diagnosis, method, result file under results/diagnosis/)
DIAGNOSES = {"dc1_fcls_rel_a": ("DeepGU 3", "fcls", "deepgu_vca_draw.json"),
             "dc1_plmm_rel_a": ("DeepGU 4", "plmm", "deepgu_vca_draw_plmm.json")}


def method_rel_a(method: str, scene: str, seed: int, directions: str, snr_db: float = 30.0) -> float:
    """Relative RMSE_A of ``method`` (``"fcls"`` or a key of the chapter's ``BASELINES``, at the
    reference code's settings) on the VCA references of ``scene`` at scene (and VCA) seed
    ``seed``, with VCA's random directions drawn by ``directions``."""
    with torch_threads(1):
        hsi = variability_scene(scene, seed, snr_db).hsi
        M0, _ = vca(hsi.Y, hsi.p, seed=seed, directions=directions)
        M0 = M0[:, metrics.match_endmembers(hsi.endmembers, M0)]
        A0 = fcls(hsi.Y, M0, device="cpu")
        A, M = A0, M0
        if method != "fcls":
            settings = OFFICIAL[scene][method]
            res = BASELINES[method](hsi.Y, M0, hsi.rows, hsi.cols, **settings, A0=A0, device="cpu")
            A, M = res.abundances, res.endmembers
    return float(score(hsi.Y, hsi.abundances, A, None, M)["rel_a"])


def apply_rule(values: Mapping[str, Sequence[float]], target: verdicts.Target) -> verdicts.Reason:
    """The declared rule on ``values`` (``{draw: rel_a per seed}``) for ``target``."""
    name, _, file = DIAGNOSES[target.key]
    where = f"{name} (book/diagnoses.md, results/diagnosis/{file})"
    found = verdicts.sample_size_reason(target, list(values["uniform"]), f"{where}, uniform draw")
    if found is not None:
        return found
    means = {d: float(np.mean(v)) for d, v in values.items()}
    judged = {d: verdicts.judge_numeric(target, m) for d, m in means.items()}
    text = (f"{where}: over {len(values['uniform'])} seeds the uniform draw (the reference code's) "
            f"gives {means['uniform']:.4f} ({judged['uniform']}), the former normal draw "
            f"{means['normal']:.4f} ({judged['normal']}); paper {target.value:g}")
    if judged["normal"] == "reproduced" and judged["uniform"] != "reproduced":
        return verdicts.Reason(CLASS_DRAW, text)
    return verdicts.Reason("unexplained", text)


def main(key: str = KEY, seeds: Sequence[int] = tuple(range(20))) -> dict:
    """Run the declared protocol of ``key``'s diagnosis (:data:`DIAGNOSES`) and write its JSON;
    refuses a tree with uncommitted changes."""
    require_clean_tree()
    name, method, file = DIAGNOSES[key]
    prov = Provenance.start(f"diagnosis_{name.lower().replace(' ', '_')}",
                            {"scale": "paper", "scene": "dc1", "snr_db": 30.0, "method": method,
                             "seeds": list(seeds)}, "cpu")
    values = {d: [method_rel_a(method, "dc1", s, d) for s in seeds] for d in DRAWS}
    runs = REPO_ROOT / "results" / "deepgu" / "paper" / "runs"
    committed = [json.loads((runs / f"dc1_seed{s}.json").read_text())["record"][method]["rel_a"]
                 for s in range(5)]
    target = next(t for t in chapter.PAPER_TARGETS if t.key == key)
    document = {"experiment": f"{name} (book/diagnoses.md)", "provenance": prov.finish().to_dict(),
                "values": values, "means": {d: float(np.mean(v)) for d, v in values.items()},
                "intervals": {d: verdicts.interval95(v) for d, v in values.items()},
                "check": {"compared": f"uniform draw, seeds 0-4, against the committed dc1 {method} rel_a",
                          "max_abs_difference": float(np.max(np.abs(np.subtract(values["uniform"][:5],
                                                                                 committed))))},
                "rule": {key: apply_rule(values, target).to_dict()}}
    write_json_atomically(REPO_ROOT / "results" / "diagnosis" / file, document)
    return document


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Diagnoses DeepGU 3 (FCLS) and 4 (PLMM): a DC1 "
                                                 "abundance error under both VCA draws.")
    parser.add_argument("key", nargs="?", default=KEY, choices=sorted(DIAGNOSES))
    main(parser.parse_args().key)
