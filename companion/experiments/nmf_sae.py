"""The NMF-SAE chapter's experiments (Xiong et al., ICASSP 2021): its plan and one compute
function per configuration.

:func:`plan` turns the chapter's resolved parameters into three studies, all stored in
``results/nmf_sae/<scale>/runs``:

``fig2``
    ``train<n>``: NMF-SAE trained on ``n`` random pixels of the 25 dB scene (Fig. 2);
``fig3``
    ``snr<s>``: NMF-SAE (``n_train`` pixels), VCA + FCLS, L1-NMF and the U-ADMM chapter's
    unrolled networks at ``s`` dB (Fig. 3);
``jasper``
    ``jasper``: NMF-SAE on Jasper Ridge from every start of Table 1's initialisation study.

Scoring: endmembers matched to the truth by the Hungarian method on the spectral angle; SAD in
radians per endmember and averaged; abundance error ``rmse_per_pixel_mean`` over every pixel of
the scene (for NMF-SAE, the encoder's abundances: training and held-out pixels alike)
(:func:`companion.metrics.score_runs`).

Starts: the paper's VCA (on the training pixels), one seed per run; Table 1's initialisation
study adds the named starts of :mod:`companion.initialisation`. A run whose endmembers or
abundances are not finite is recorded with ``"diverged": true`` and metrics None;
:func:`summary` averages the finite runs.

The committed paper-scale records were computed with one torch CPU thread: every compute runs
under ``runtime.torch_threads(1)``. The unrolled baselines come from
:mod:`companion.experiments.admm_unfolding`, so its source is part of this chapter's code hash.
Verdicts, reasons, tables and figures live in :mod:`companion.reports.nmf_sae`.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

import numpy as np

from .. import metrics
from ..classic import fcls, nmf_l1
from ..data import load
from ..data.hsi import HSI
from ..data.scenes import minerals_scene
from ..initialisation import DETERMINISTIC, INITIALISATIONS, initial_endmembers_runs
from ..nets.nmf_sae import fit
from ..runtime import placed, resolve_device, torch_threads
from ..study import StudyDefinition
from .unrolled import blind_start, blind_unmix

__all__ = ["FIG2_SNR", "THREADS", "UNROLLED_PROTOCOL", "cost", "fig2_configs", "fig3_configs",
           "jasper_configs", "jasper_point", "plan", "protocol", "run_point", "seeds", "snr_point",
           "summary", "training_size_point", "placement"]

# The U-ADMM paper's blind protocol for the unrolled baselines: Adam 1e-4, batch 64, and the
# official code's depth and best-loss checkpoint.
UNROLLED_PROTOCOL = {"batch": 64, "lr": 1e-4, "official_depth": True, "keep_best": True}


def _nmf_sae_and_init(Y, p, train_idx, seeds, protocol, device, progress, A0=None) -> tuple[dict, dict]:
    """NMF-SAE from ``A0 (runs, bands, p)``, default VCA (one seed per run) on the training pixels."""
    if A0 is None:
        A0 = initial_endmembers_runs("vca", Y[:, train_idx], p, seeds)
    result = fit(Y, train_idx, A0, K=protocol["K"], iterations=protocol["iterations"],
                 lr_encoder=protocol["lr_encoder"], lr_decoder=protocol["lr_decoder"],
                 device=device, progress=progress)
    return result, {"loss_first": metrics.finite_or_none(result.loss[0]),
                    "loss_last": metrics.finite_or_none(result.loss[-1])}


def _vca_fcls_runs(Y: np.ndarray, p: int, seeds: list[int], device) -> tuple[np.ndarray, np.ndarray]:
    """VCA (one run per seed) on all pixels, FCLS for every pixel: ``(runs, ...)`` arrays."""
    E = initial_endmembers_runs("vca", Y, p, seeds)
    A = np.stack([fcls(Y, Ek, device=device) for Ek in E])
    return E, A


def training_size_point(config: Mapping, protocol: Mapping, device="auto", progress=True) -> dict:
    """Fig. 2: NMF-SAE trained on ``config['n_train']`` random pixels of the 25 dB scene."""
    hsi = minerals_scene(protocol["snr_fig2"], protocol["scene_seed"])
    rng = np.random.default_rng(config["split_seed"])
    train_idx = np.sort(rng.choice(hsi.n_pixels, size=config["n_train"], replace=False))
    result, loss = _nmf_sae_and_init(hsi.Y, hsi.p, train_idx, config["seeds"], protocol, device,
                                     progress)
    init_A = np.stack([fcls(hsi.Y, E, device=device) for E in result.initial_endmembers])
    held_out = np.setdiff1d(np.arange(hsi.n_pixels), train_idx)
    split = {}
    if held_out.size:  # encoder abundances of pixels it never saw, against those it trained on
        for name, idx in [("train", train_idx), ("held_out", held_out)]:
            split[f"rmse_{name}"] = metrics.score_runs(hsi.endmembers, hsi.abundances[:, idx],
                                               result.endmembers, result.abundances[:, :, idx])["rmse"]
    return {
        "nmf_sae": metrics.score_runs(hsi.endmembers, hsi.abundances, result.endmembers, result.abundances),
        "vca_fcls_on_training": metrics.score_runs(hsi.endmembers, hsi.abundances,
                                           result.initial_endmembers, init_A),
        **split,
        **loss,
    }


def _unrolled_baselines(hsi: HSI, seeds: list[int], protocol: Mapping, device) -> dict:
    """The U-ADMM chapter's blind networks (``protocol['unrolled']``) trained on all pixels with
    the U-ADMM protocol (:data:`UNROLLED_PROTOCOL`, one block) for ``protocol['unrolled_epochs']``
    from |VCA| with the run's seed (as NMF-SAE's start); scores converted to radians like
    ``score_runs``."""
    if not protocol["unrolled"]:
        return {}
    idx = np.tile(np.arange(hsi.n_pixels), (len(seeds), 1))
    epochs = protocol["unrolled_epochs"]
    E0 = blind_start(hsi, "vca", seeds, fixed=False)
    out = blind_unmix(hsi, idx, protocol["unrolled"], UNROLLED_PROTOCOL, K=1,
                                     epochs=epochs, eval_at=[epochs], seeds=seeds,
                                     device=resolve_device(device), E0=E0)
    records = {}
    rad = lambda v: None if v is None else np.radians(v).tolist()  # noqa: E731
    for name in protocol["unrolled"]:
        last = out[name][str(epochs)]
        records[name] = {"sad": [rad(v) for v in last["sad"]],
                         "sad_mean": [rad(v) for v in last["sad_mean"]], "rmse": last["rmse"],
                         "diverged": last["diverged"]}
    return records


def snr_point(config: Mapping, protocol: Mapping, device="auto", progress=True) -> dict:
    """Fig. 3: NMF-SAE (``protocol['n_train']`` training pixels) against VCA+FCLS, L1-NMF and
    the unrolled networks in ``protocol['unrolled']`` (all on all pixels) at ``config['snr_db']``."""
    hsi = minerals_scene(config["snr_db"], protocol["scene_seed"])
    rng = np.random.default_rng(config["split_seed"])
    train_idx = np.sort(rng.choice(hsi.n_pixels, size=protocol["n_train"], replace=False))
    result, loss = _nmf_sae_and_init(hsi.Y, hsi.p, train_idx, config["seeds"], protocol, device,
                                     progress)
    E0, A0 = _vca_fcls_runs(hsi.Y, hsi.p, config["seeds"], device)
    l1 = nmf_l1(np.clip(hsi.Y, 0.0, None), lam=protocol["l1nmf_lambda"], A0=E0, X0=A0,
                n_iter=protocol["iterations"], tol=0.0, device=device)   # the protocol's count, exactly
    l1_abundances = l1.abundances / np.maximum(l1.abundances.sum(axis=1, keepdims=True), 1e-12)
    return {
        "nmf_sae": metrics.score_runs(hsi.endmembers, hsi.abundances, result.endmembers, result.abundances),
        "vca_fcls": metrics.score_runs(hsi.endmembers, hsi.abundances, E0, A0),
        "l1_nmf": metrics.score_runs(hsi.endmembers, hsi.abundances, l1.endmembers, l1_abundances),
        **_unrolled_baselines(hsi, config["seeds"], protocol, device),
        **loss,
    }


def jasper_point(config: Mapping, protocol: Mapping, device="auto", progress=True) -> dict:
    """Table 1 and its initialisation study: NMF-SAE on Jasper Ridge (all pixels train, the
    real-data learning rates) from each start in ``config['inits']`` (keys of
    ``INITIALISATIONS``): one run per seed for the VCA variants, one run for a deterministic
    start; every run trains in one batched model. Returns ``{init: {"nmf_sae": scores,
    "start": scores of the start + FCLS}}``, the names and the first ``"vca"`` run's maps."""
    hsi = load("jasper")
    train_idx = np.arange(hsi.n_pixels)
    inits, seeds = config["inits"], config["seeds"]
    unknown = set(inits) - set(INITIALISATIONS)
    if unknown:
        raise ValueError(f"unknown initialisations {sorted(unknown)}")
    counts = [1 if init in DETERMINISTIC else len(seeds) for init in inits]
    A0 = np.concatenate([initial_endmembers_runs(init, hsi.Y, hsi.p, seeds[:n], truth=hsi.endmembers)
                         for init, n in zip(inits, counts, strict=True)])
    jasper_protocol = {**protocol, "lr_encoder": protocol["lr_real"], "lr_decoder": protocol["lr_real"]}
    result, loss = _nmf_sae_and_init(hsi.Y, hsi.p, train_idx, seeds, jasper_protocol, device,
                                     progress, A0=A0)
    start_A = np.stack([fcls(hsi.Y, E, device=device) for E in A0])
    trained = metrics.score_runs(hsi.endmembers, hsi.abundances, result.endmembers, result.abundances)
    start = metrics.score_runs(hsi.endmembers, hsi.abundances, A0, start_A)
    bounds = np.cumsum([0, *counts])
    part = lambda rec, i: {k: v[bounds[i]:bounds[i + 1]] for k, v in rec.items()}  # noqa: E731
    record = {init: {"nmf_sae": part(trained, i), "start": part(start, i),
                     "loss_last": loss["loss_last"][bounds[i]:bounds[i + 1]]}
              for i, init in enumerate(inits)}
    first = bounds[inits.index("vca")] if "vca" in inits else 0
    record |= {"names": hsi.names, "example_init": inits[inits.index("vca") if "vca" in inits else 0],
               "example_abundances": result.abundances[first].tolist(),
               "example_endmembers": result.endmembers[first].tolist()}
    return record


def summary(scores: Mapping) -> dict:
    """Mean and standard deviation over the finite (not diverged) runs of ``score_runs`` output
    (SAD in rad), with ``runs`` and ``diverged`` counts; NaN when every run diverged."""
    ok = [i for i, s in enumerate(scores["sad_mean"]) if s is not None and np.isfinite(s)]
    n = len(scores["sad_mean"])
    if not ok:
        nan = float("nan")
        return {"sad": nan, "sad_std": nan, "rmse": nan, "rmse_std": nan, "runs": n,
                "diverged": n, "sad_per_em": [nan], "sad_per_em_std": [nan]}
    sad = np.asarray([scores["sad_mean"][i] for i in ok])
    rmse = np.asarray([scores["rmse"][i] for i in ok])
    per_em = np.asarray([scores["sad"][i] for i in ok])
    return {"sad": sad.mean(), "sad_std": sad.std(), "rmse": rmse.mean(), "rmse_std": rmse.std(),
            "sad_per_em": per_em.mean(axis=0).tolist(), "sad_per_em_std": per_em.std(axis=0).tolist(),
            "runs": n, "diverged": n - len(ok)}


# ----------------------------------------------------------------------------- the plan
FIG2_SNR = 25.0   # Sec. 3.2: "Setting SNR=25dB, Fig. 2 shows ..."
THREADS = 1       # torch CPU threads of every compute (the committed records used one)
# resolved parameters that enter every record's fingerprint through the protocol
PROTOCOL_KEYS = ("iterations", "K", "lr_encoder", "lr_decoder", "lr_real", "n_train", "l1nmf_lambda",
                 "scene_seed", "unrolled", "unrolled_epochs")
POINTS = {"fig2": training_size_point, "fig3": snr_point, "jasper": jasper_point}


def protocol(P: Mapping) -> dict:
    """The settings shared by every configuration of the chapter (they enter each record's
    fingerprint): the keys of :data:`PROTOCOL_KEYS` of ``P`` and Fig. 2's SNR."""
    return {k: P[k] for k in PROTOCOL_KEYS} | {"snr_fig2": FIG2_SNR}


def seeds(P: Mapping) -> list[int]:
    """The VCA seeds of the runs: ``seed``, ``seed + 1``, ... (``runs`` of them)."""
    return [P["seed"] + k for k in range(P["runs"])]


def fig2_configs(P: Mapping) -> dict[str, dict]:
    """Fig. 2: ``train<n>`` for each training-set size, its own pixel split seed ``1000 + n``."""
    return {f"train{n}": {"n_train": n, "seeds": seeds(P), "split_seed": 1000 + n} for n in P["train_sizes"]}


def fig3_configs(P: Mapping) -> dict[str, dict]:
    """Fig. 3: ``snr<s>`` for each SNR, its own pixel split seed ``2000 + int(s)``."""
    return {f"snr{s:g}": {"snr_db": s, "seeds": seeds(P), "split_seed": 2000 + int(s)} for s in P["snrs"]}


def jasper_configs(P: Mapping) -> dict[str, dict]:
    """Table 1 and its initialisation study: one configuration (every start trains together)."""
    return {"jasper": {"seeds": seeds(P), "inits": list(P["inits"])}}


def run_point(config: Mapping, *, study: str, protocol: Mapping, device: str = "auto") -> dict:
    """The compute of every study: ``POINTS[study](config, protocol, device)`` with
    :data:`THREADS` torch CPU threads and no progress bar."""
    with torch_threads(THREADS):
        return POINTS[study](config, protocol, resolve_device(device), progress=False)


def plan(P: Mapping) -> dict[str, StudyDefinition]:
    """The chapter's studies for resolved parameters ``P``: ``fig2``, ``fig3`` and, when
    ``P["jasper"]``, ``jasper`` (see the module docstring)."""
    shared = protocol(P)
    configs = {"fig2": fig2_configs(P), "fig3": fig3_configs(P)}
    if P["jasper"]:
        configs["jasper"] = jasper_configs(P)
    descs = {"fig2": "Fig. 2", "fig3": "Fig. 3", "jasper": "Table 1 (Jasper Ridge)"}
    return {name: StudyDefinition(
        "nmf_sae", P["scale"], study_configs, shared,
        functools.partial(run_point, study=name, protocol=shared, device=P["device"]),
        ["jasper"] if name == "jasper" else [], desc=descs[name])
        for name, study_configs in configs.items()}


# relative cost of a record, in pixel passes of one run (a rough count; it only ranks records)
_SCENE_PIXELS = 64 * 64      # the synthetic scene
_JASPER_PIXELS = 100 * 100
_FIG3_PASSES = 3             # NMF-SAE, L1-NMF and the unrolled networks, each over the scene


def cost(config: Mapping) -> float:
    """Relative cost of computing ``config`` (:func:`companion.pipeline.verify` ranks records
    by it; they store no ``seconds``): runs x pixels each run trains on and scores. Fig. 2:
    ``n_train`` training pixels plus the scene for scoring; Fig. 3: three methods over the scene;
    Jasper: every start's runs over the 10 000 pixels, twice (training and its FCLS start)."""
    runs = len(config["seeds"])
    if "inits" in config:
        count = sum(1 if init in DETERMINISTIC else runs for init in config["inits"])
        return float(count * 2 * _JASPER_PIXELS)
    if "snr_db" in config:
        return float(runs * _FIG3_PASSES * _SCENE_PIXELS)
    return float(runs * (config["n_train"] + _SCENE_PIXELS))


def placement(P: Mapping) -> dict[str, str]:
    """Where each part of the chapter's compute runs with parameters ``P``, for the provenance."""
    here = placed(P["device"])
    return {"VCA starts and scores": "CPU (numpy)", "FCLS": here, "NMF-SAE training": here,
            "L1-NMF baseline": here, "unrolled baselines": here}
