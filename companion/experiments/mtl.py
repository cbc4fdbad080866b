"""The MTL chapter's experiments (Mehrdad & Janani 2024): the plan and one function per configuration.

:func:`plan` turns the chapter's resolved parameters into four studies (records under
``results/mtl/<scale>/runs``, the sensitivity study under ``runs/sensitivity``):

``main``
    claims 1 and 2: every method (and MTL with ``alpha = 0``) on each (model, SNR) image, P = 4;
``sensitivity``
    claim 3: MTL alone on one image, one setting (alpha, beta, hidden sizes) changed at a time;
``large``
    claim 4: every method with ``p_large`` endmembers at the highest SNR (nonlinear models);
``real``
    the real scenes; a user-supplied image (Cuprite) is planned only when its file is present.

Scoring (as in the other chapters): endmembers matched to the truth by the Hungarian method on
the spectral angle; SAD in radians; abundance error ``rmse_per_pixel_mean`` over all pixels
(``None`` on Cuprite, which has reference spectra but no reference abundances). Every method of a
configuration starts from the same VCA runs (one per seed). Each compute runs with one torch CPU
thread (the committed records were computed so).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

import numpy as np

from .. import metrics
from ..classic import fcls, nmf_l1, rnmf
from ..data import load, usgs_library
from ..data.hsi import HSI
from ..data.scenes import nonlinear_scene
from ..data.user_images import CUPRITE, available
from ..nets import mtl, nlaeu
from ..runtime import placed, resolve_device, torch_threads
from ..study import StudyDefinition

__all__ = ["BASELINES", "PROTOCOL_KEYS", "REAL_PIXELS", "USER_SUPPLIED", "cost", "data_files", "mtl_point",
           "plan", "real_point", "real_scenes", "score", "sensitivity_base", "sensitivity_settings",
           "unmix_point", "placement"]

BASELINES = ("vca_fcls", "l1_nmf", "rnmf", "nlaeu")
PROTOCOL_KEYS = ("iterations", "real_iterations", "lr", "alpha", "beta", "hidden_rows", "hidden_cols",
                 "nmf_iterations", "nlaeu_iterations", "l1nmf_lambda", "rnmf_lambda", "z", "scene_seed")
USER_SUPPLIED = {"cuprite": CUPRITE}   # real scenes planned only when their file is present
THREADS = 1


def score(hsi: HSI, E_runs: np.ndarray, A_runs: np.ndarray) -> dict:
    """Per-run scores of ``E_runs (runs, bands, p)``, ``A_runs (runs, p, pixels)`` against ``hsi``'s
    truth (``score_runs``); without reference abundances ``rmse`` is None and only SAD is scored."""
    return metrics.score_runs(hsi.endmembers, hsi.abundances, E_runs, A_runs)


def _scene(config: Mapping, protocol: Mapping) -> HSI:
    return nonlinear_scene(config["model"], config["p"], config["snr_db"], protocol["z"],
                           protocol["scene_seed"])


def _mtl(hsi: HSI, seeds, protocol: Mapping, device, start, **overrides) -> tuple[dict, dict]:
    settings = {k: protocol[k] for k in ("iterations", "alpha", "beta", "hidden_rows", "hidden_cols", "lr")}
    result = mtl.fit(hsi.Y, hsi.p, seeds, device=device, start=start, **(settings | overrides))
    losses = {k: v[-1].tolist() for k, v in result.history.items()}
    return score(hsi, result.endmembers, result.abundances), losses


def _all_methods(hsi: HSI, seeds: list[int], protocol: Mapping, device, ablation: bool) -> dict:
    E0, A0 = mtl.initial_factors(hsi.Y, hsi.p, seeds)
    A_fcls = np.stack([fcls(hsi.Y, E, device=device) for E in E0])
    Y_pos = np.clip(hsi.Y, 0.0, None)
    # the protocol is a fixed number of updates (O): tol=0 runs exactly nmf_iterations
    l1 = nmf_l1(Y_pos, lam=protocol["l1nmf_lambda"], A0=E0, X0=A_fcls, n_iter=protocol["nmf_iterations"],
                tol=0.0, device=device)
    robust = rnmf(Y_pos, E0, A_fcls, lam=protocol["rnmf_lambda"], n_iter=protocol["nmf_iterations"],
                  tol=0.0, device=device)
    ae = nlaeu.fit(hsi.Y, hsi.p, seeds, protocol["nlaeu_iterations"], device=device)
    record = {
        "vca_fcls": score(hsi, E0, A_fcls),
        "l1_nmf": score(hsi, l1.endmembers,
                        l1.abundances / np.maximum(l1.abundances.sum(1, keepdims=True), 1e-12)),
        "rnmf": score(hsi, robust.endmembers, robust.abundances),
        "nlaeu": score(hsi, ae.endmembers, ae.abundances),
    }
    record["mtl"], record["mtl_losses"] = _mtl(hsi, seeds, protocol, device, (E0, A0))
    if ablation:
        record["mtl_alpha0"], record["mtl_alpha0_losses"] = _mtl(hsi, seeds, protocol, device, (E0, A0),
                                                                 alpha=0.0)
    return record


def unmix_point(config: Mapping, protocol: Mapping, device="auto") -> dict:
    """Claims 1, 2 and 4: every method on one synthetic image (``config``: model, p, snr_db,
    seeds, ablation)."""
    with torch_threads(THREADS):
        device = resolve_device(device)
        hsi = _scene(config, protocol)
        return _all_methods(hsi, config["seeds"], protocol, device, config["ablation"])


def mtl_point(config: Mapping, protocol: Mapping, device="auto") -> dict:
    """Claim 3: MTL alone with ``config['overrides']`` (alpha, beta, hidden sizes) on one image,
    with the VCA + FCLS it starts from."""
    with torch_threads(THREADS):
        device = resolve_device(device)
        hsi = _scene(config, protocol)
        E0, A0 = mtl.initial_factors(hsi.Y, hsi.p, config["seeds"])
        A_fcls = np.stack([fcls(hsi.Y, E, device=device) for E in E0])
        scores, losses = _mtl(hsi, config["seeds"], protocol, device, (E0, A0), **config["overrides"])
        return {"mtl": scores, "mtl_losses": losses, "vca_fcls": score(hsi, E0, A_fcls)}


def real_point(config: Mapping, protocol: Mapping, device="auto") -> dict:
    """Every method on a real scene (``config['dataset']``: "samson", "jasper" or the
    user-supplied "cuprite") with the real-data iteration count ``protocol['real_iterations']``."""
    with torch_threads(THREADS):
        device = resolve_device(device)
        hsi = load(config["dataset"])
        real = {**protocol, "iterations": protocol["real_iterations"]}
        return {"names": hsi.names, **_all_methods(hsi, config["seeds"], real, device, ablation=False)}


# ----------------------------------------------------------------------------- plan
def _scaled(sizes: list[int], factor: float) -> list[int]:
    return [max(1, round(h * factor)) for h in sizes]


def sensitivity_settings(P: Mapping) -> dict[str, dict]:
    """``{key: overrides}`` of the sensitivity study: one setting changed at a time."""
    settings = {f"alpha_{a:g}": {"alpha": a} for a in P["alphas"]}
    settings |= {f"beta_{b:g}": {"beta": b} for b in P["betas"]}
    settings |= {f"hidden_x{f:g}": {"hidden_rows": _scaled(P["hidden_rows"], f),
                                    "hidden_cols": _scaled(P["hidden_cols"], f)} for f in P["hidden_scales"]}
    return settings


def sensitivity_base(P: Mapping) -> dict:
    """The image of the sensitivity study: GBM (else the first model) at the highest SNR, P = 4."""
    return {"model": "gbm" if "gbm" in P["models"] else P["models"][0], "p": 4, "snr_db": max(P["snrs"]),
            "seeds": [P["seed"] + k for k in range(P["runs"])]}


def real_scenes(P: Mapping) -> list[str]:
    """The real scenes of ``P['real']`` that can run: a user-supplied image only when present."""
    return [name for name in P["real"] if name not in USER_SUPPLIED or available(USER_SUPPLIED[name])]


def plan(P: Mapping) -> dict[str, StudyDefinition]:
    """The chapter's studies for resolved parameters ``P``, in the order of computation."""
    protocol = {k: P[k] for k in PROTOCOL_KEYS}
    seeds = [P["seed"] + k for k in range(P["runs"])]
    device = P["device"]

    def study(name, configs, compute, datasets=(), folder="runs"):
        return StudyDefinition("mtl", P["scale"], configs, protocol,
                               functools.partial(compute, protocol=protocol, device=device),
                               list(datasets), desc=name, folder=folder)

    main = {f"{m}_p4_snr{s:g}": {"model": m, "p": 4, "snr_db": s, "seeds": seeds, "ablation": True}
            for m in P["models"] for s in P["snrs"]}
    base = sensitivity_base(P)
    sensitivity = {key: {**base, "overrides": o} for key, o in sensitivity_settings(P).items()}
    studies = {"main": study("main", main, unmix_point),
               "sensitivity": study("sensitivity", sensitivity, mtl_point, folder="runs/sensitivity")}
    nonlinear = [m for m in P["models"] if m != "linear"] or P["models"]
    large = ({f"{m}_p{P['p_large']}_snr{max(P['snrs']):g}":
              {"model": m, "p": P["p_large"], "snr_db": max(P["snrs"]), "seeds": seeds, "ablation": False}
              for m in nonlinear} if P["p_large"] else {})
    studies["large"] = study("large", large, unmix_point)
    scenes = real_scenes(P)
    real = {name: {"dataset": name, "seeds": seeds[:P["real_runs"]]} for name in scenes}
    studies["real"] = study("real", real, real_point, datasets=scenes)
    return studies


def data_files(P: Mapping) -> dict[str, str]:
    """``{file: sha256}`` of every data file the plan reads (USGS library and real scenes)."""
    files = dict(usgs_library().files)
    for definition in plan(P).values():
        files |= definition.load_data()
    return dict(sorted(files.items()))


REAL_PIXELS = {"samson": 95 * 95, "jasper": 100 * 100, "cuprite": 250 * 190}


def cost(config: Mapping) -> float:
    """Relative cost of ``config``, to rank records that store no ``seconds``: model fits per run
    (MTL, its ablation, NLAEU, the two NMFs at half weight) times runs, scaled by the endmembers
    (``p / 4``) on synthetic images, and on a real scene by its pixels over a 49 x 49 image at half
    the iterations. A rough ranking, not a time."""
    runs = len(config["seeds"])
    if "dataset" in config:
        return runs * 3.0 * REAL_PIXELS.get(config["dataset"], 10_000) / (49 * 49) / 2
    if "overrides" in config:
        return float(runs)
    return runs * (3.0 + config["ablation"]) * config["p"] / 4


def placement(P: Mapping) -> dict[str, str]:
    """Where each part of the chapter's compute runs with parameters ``P``, for the provenance."""
    here = placed(P["device"])
    return {"VCA start and scores": "CPU (numpy)", "FCLS": here, "L1-NMF, rNMF": here, "NLAEU": here,
            "MTL network (iRprop+)": here}
