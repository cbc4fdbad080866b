"""The Datasets and metrics chapter's numbers: scenes, every metric variant, two baselines.

A reference chapter: it reproduces no paper table, has no study and no verdicts
(``PAPER_TARGETS`` is empty), so there is no experiments module and no record. What the notebook
shows is computed here, from the scenes themselves:

* :func:`load_scenes`: the chapter's scenes (:func:`companion.data.scenes.load_scene`), Urban
  falling back to its staged crop when the full image is not supplied;
* :func:`baselines`: FCLS with the true endmembers and VCA + FCLS (one VCA run per seed,
  endmembers matched to the truth with ``P["match"]``), scored by every metric variant of
  :data:`METRICS`;
* :func:`matching_rows`: the same VCA runs matched three ways;
* :func:`samson_scale`: Samson's ground-truth endmembers against the image's scale;
* :func:`result_data`: everything above as the JSON-ready data of
  ``results/datasets/<scale>/baselines.json``.

The tables the notebook displays come from the ``*_table`` functions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from companion import classic, data, metrics
from companion.data.hsi import HSI
from companion.data.scenes import load_scene
from companion.results import Table

__all__ = ["METRICS", "ORDER", "SAD_SHOWN_DEG", "Baselines", "baseline_table", "baselines",
           "checksums", "committed_tables", "jasper_scales", "load_scenes", "matched_fcls",
           "matching_rows", "matching_table", "result_data", "samson_scale", "samson_scale_tables", "score",
           "scene_with_fallback"]

ORDER = ("samson", "jasper", "urban")   # the chapter's scenes, in the order it shows them
SAD_SHOWN_DEG = 1e-6   # SAD is scale-invariant: shown as 0 below this (float rounding); files keep it

# key: (header, function of (E_true, E_hat, A_true, A_hat, Y))
METRICS: dict[str, tuple[str, Callable]] = {
    "sad_deg": ("SAD (°)", lambda E, Eh, A, Ah, Y: metrics.degrees(metrics.sad(E, Eh)).mean()),
    "aad_deg": ("AAD (°)", lambda E, Eh, A, Ah, Y: metrics.degrees(metrics.aad(A, Ah)).mean()),
    "aid": ("AID (nats)", lambda E, Eh, A, Ah, Y: metrics.aid(A, Ah).mean()),
    "rmse_per_pixel_mean": ("RMSE per-pixel mean", lambda E, Eh, A, Ah, Y:
                            metrics.rmse_per_pixel_mean(A, Ah)),
    "rmse_global": ("RMSE global", lambda E, Eh, A, Ah, Y: metrics.rmse_global(A, Ah)),
    "rmse_global_percent": ("RMSE global (%)", lambda E, Eh, A, Ah, Y:
                            metrics.rmse_global_percent(A, Ah)),
    "relative_frobenius": ("rel. Frobenius", lambda E, Eh, A, Ah, Y:
                           metrics.relative_frobenius_error(A, Ah)),
    "sre_db": ("SRE (dB)", lambda E, Eh, A, Ah, Y: metrics.sre_db(A, Ah)),
    "re": ("RE (Y)", lambda E, Eh, A, Ah, Y: metrics.rmse_global(Y, Eh @ Ah)),
}


# ----------------------------------------------------------------------------- scenes
def scene_with_fallback(name: str) -> tuple[HSI, str]:
    """The scene ``name`` and a note: Urban falls back to its staged 34 x 78 crop when the full
    image is not supplied (the note says why; empty otherwise). A supplied image that fails its
    content check raises."""
    try:
        return load_scene(name), ""
    except data.MissingImage as err:
        if name != "urban":
            raise
        return load_scene("urban_crop"), str(err).splitlines()[0]


def load_scenes(P: Mapping) -> tuple[dict[str, HSI], dict[str, str]]:
    """``(scenes, fallback notes)`` of ``P["datasets"]`` plus Samson (the scale section uses
    it), in the chapter's order."""
    scenes, notes = {}, {}
    for name in sorted(set(P["datasets"]) | {"samson"}, key=ORDER.index):
        scenes[name], notes[name] = scene_with_fallback(name)
    return scenes, notes


def checksums(scenes: Mapping[str, HSI]) -> dict[str, str]:
    """``{data file: sha256}`` of every scene."""
    return {path: digest for hsi in scenes.values() for path, digest in hsi.files.items()}


# ----------------------------------------------------------------------------- baselines
def score(hsi: HSI, E_hat: np.ndarray, A_hat: np.ndarray) -> dict[str, float]:
    """Every metric of :data:`METRICS` of one estimate (``E_hat``'s columns already matched to
    the truth)."""
    args = (hsi.endmembers, E_hat, hsi.abundances, A_hat, hsi.Y)
    return {key: float(fn(*args)) for key, (_, fn) in METRICS.items()}


def matched_fcls(hsi: HSI, E_found: np.ndarray, method: str, device) -> tuple[np.ndarray, np.ndarray]:
    """Endmembers ``E_found`` matched to the truth with ``method``, then their FCLS abundances."""
    E_hat = E_found[:, metrics.match_endmembers(hsi.endmembers, E_found, method=method)]
    return E_hat, classic.fcls(hsi.Y, E_hat, device=device)


@dataclass
class Baselines:
    """The baselines of every scene: ``table`` ``{scene: {baseline: {metric: (mean, std)}}}``,
    ``vca`` ``{scene: [E found by each VCA run]}`` and ``examples`` ``{scene: (E_hat, A_hat)}``
    of the first VCA run (matched)."""

    table: dict = field(default_factory=dict)
    vca: dict = field(default_factory=dict)
    examples: dict = field(default_factory=dict)


def baselines(P: Mapping, scenes: Mapping[str, HSI], device, progress: bool = False) -> Baselines:
    """FCLS with the true endmembers and VCA + FCLS (``P["vca_runs"]`` runs, seeds ``P["seed"]``,
    ``P["seed"] + 1``, ..., matched with ``P["match"]``) on every scene of ``P["datasets"]``; the
    VCA row is the mean and standard deviation over the runs."""
    out = Baselines()
    for name in tqdm(P["datasets"], desc="baselines", disable=not progress):
        hsi = scenes[name]
        seeds = range(P["seed"], P["seed"] + P["vca_runs"])
        out.vca[name] = [classic.vca(hsi.Y, hsi.p, seed=s)[0] for s in seeds]
        estimates = [matched_fcls(hsi, E_found, P["match"], device) for E_found in out.vca[name]]
        runs = [score(hsi, E_hat, A_hat) for E_hat, A_hat in estimates]
        A_true_e = classic.fcls(hsi.Y, hsi.endmembers, device=device)
        out.table[name] = {
            "FCLS, true E": {k: (v, 0.0) for k, v in score(hsi, hsi.endmembers, A_true_e).items()},
            "VCA + FCLS": {k: (float(np.mean([r[k] for r in runs])), float(np.std([r[k] for r in runs])))
                           for k in METRICS},
        }
        out.examples[name] = estimates[0]
    return out


def baseline_table(P: Mapping, hsi: HSI, rows_of_scene: Mapping) -> Table:
    """One row per baseline, one column per metric variant (mean ± std over VCA runs)."""
    rows = []
    for baseline, values in rows_of_scene.items():
        row = {"baseline": baseline}
        for key in METRICS:
            mean, std = values[key]
            row[key] = f"{mean:.4g}" + (f" ± {std:.2g}" if std > 0 else "")
        rows.append(row)
    columns = {"baseline": "Baseline", **{k: h for k, (h, _) in METRICS.items()}}
    caption = (f"{hsi.name}: {hsi.rows} x {hsi.cols} px, p = {hsi.p}; VCA endmembers matched with "
               f"'{P['match']}' on the spectral angle; VCA + FCLS over {P['vca_runs']} run(s).")
    return Table(rows, columns, caption=caption)


def matching_rows(P: Mapping, scenes: Mapping[str, HSI], found: Baselines) -> list[dict]:
    """Mean SAD (degrees) of the same VCA runs under each matching rule, one row per scene."""
    rows = []
    for name in P["datasets"]:
        hsi = scenes[name]
        row = {"scene": hsi.name}
        for method in metrics.MATCHING_METHODS:
            sads = [metrics.sad(hsi.endmembers, E[:, metrics.match_endmembers(hsi.endmembers, E, method)])
                    for E in found.vca[name]]
            row[method] = float(metrics.degrees(np.mean(sads)))
        rows.append(row)
    return rows


def matching_table(rows: list[dict]) -> Table:
    """The table of :func:`matching_rows`."""
    return Table(rows, caption="Mean SAD (°) of VCA endmembers under each matching rule")


# ----------------------------------------------------------------------------- Samson's scale
def samson_scale(samson: HSI, device) -> dict:
    """Samson's ground-truth endmembers against the image: the mean spectrum of the pixels at
    least 90 % pure in each (``pure_means``, ``pure_counts``), the scales ``s_p`` that fit the
    image best (:func:`companion.data.fit_endmember_scales`), the relative residuals with the
    given and the rescaled endmembers, and every metric of FCLS with each."""
    E, A = samson.endmembers, samson.abundances
    pure_means = np.stack([samson.Y[:, A[k] > 0.9].mean(axis=1) for k in range(samson.p)], axis=1)
    scales, residual_scaled = data.fit_endmember_scales(samson.Y, E, A)
    residual_given = np.linalg.norm(samson.Y - E @ A) / np.linalg.norm(samson.Y)
    A_given = classic.fcls(samson.Y, E, device=device)
    A_scaled = classic.fcls(samson.Y, E * scales, device=device)
    return {"scales": scales, "pure_means": pure_means,
            "pure_counts": [int((A[k] > 0.9).sum()) for k in range(samson.p)],
            "residual_given": float(residual_given), "residual_scaled": float(residual_scaled),
            "given": score(samson, E, A_given), "rescaled": score(samson, E * scales, A_scaled)}


def samson_scale_tables(samson: HSI, scale: Mapping) -> tuple[Table, Table]:
    """The two tables of the Samson scale section: ground truth against the image, and FCLS
    with the given and the rescaled endmembers (SAD below :data:`SAD_SHOWN_DEG` shown as 0)."""
    E = samson.endmembers
    first = Table([
        {"endmember": n, "max of GT spectrum": float(E[:, k].max()),
         "max of pure-pixel mean": float(scale["pure_means"][:, k].max()),
         "pure pixels": scale["pure_counts"][k], "fitted scale s_p": float(scale["scales"][k])}
        for k, n in enumerate(samson.names)
    ], caption=(f"Samson: ground-truth endmembers versus the image. Relative residual "
                f"||Y - EA|| / ||Y|| = {scale['residual_given']:.3f} as given, "
                f"{scale['residual_scaled']:.3f} with E diag(s)"))
    second = Table([
        {"endmembers": label, **row, "sad_deg": row["sad_deg"] if row["sad_deg"] >= SAD_SHOWN_DEG else 0.0}
        for label, row in (("as given (max 1)", scale["given"]), ("rescaled by s_p", scale["rescaled"]))
    ], {"endmembers": "FCLS with", "sad_deg": "SAD (°)", "rmse_per_pixel_mean": "RMSE per-pixel mean",
        "rmse_global": "RMSE global", "re": "RE (Y)"},
        caption="Samson: FCLS with the true endmembers (SAD below 1e-6° shown as 0: float rounding)")
    return first, second


def jasper_scales(jasper: HSI) -> str:
    """Jasper Ridge's fitted endmember scales, as a sentence for contrast with Samson's."""
    values = data.fit_endmember_scales(jasper.Y, jasper.endmembers, jasper.abundances)[0]
    return ("For contrast, Jasper Ridge's fitted scales are "
            + ", ".join(f"{n} {v:.2f}" for n, v in zip(jasper.names, values, strict=True))
            + ": its ground truth is on the image's scale.")


# ----------------------------------------------------------------------------- result file
def result_data(scenes: Mapping[str, HSI], notes: Mapping[str, str], found: Baselines,
                match_rows: list[dict], scale: Mapping) -> dict:
    """The data of ``results/datasets/<scale>/baselines.json``."""
    return {"baselines": found.table, "matching_sad_deg": match_rows,
            "samson_scale": {k: scale[k] for k in ("scales", "given", "rescaled")},
            "scenes": {n: {"name": h.name, "rows": h.rows, "cols": h.cols, "bands": h.bands,
                           "p": h.p, "fallback": notes[n]} for n, h in scenes.items()}}


def committed_tables(committed: Mapping) -> list[Table]:
    """One table per scene of a committed ``baselines.json`` (the means of each baseline)."""
    return [Table([{"baseline": b, **{k: v[0] for k, v in vals.items()}} for b, vals in rows.items()],
                  caption=f"{name} (paper scale)")
            for name, rows in committed["data"]["baselines"].items()]
