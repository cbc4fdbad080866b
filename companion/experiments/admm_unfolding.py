"""The U-ADMM chapter's experiments (Zhou et al.), one function per configuration.

Abundance estimation (true endmembers, networks trained on true abundances): every network
variant of a configuration trains with all its runs as one batched model; scores on every pixel
of the scene: ``rmse_per_pixel_mean``, AAD in degrees and AID (means over pixels), at the
requested epochs. Blind unmixing: endmembers matched to the truth by the Hungarian method on the
spectral angle; SAD in degrees per endmember and averaged; abundance RMSE after matching.

Divergence: a run whose estimates are not finite is recorded with ``"diverged": true`` and its
metrics as None (JSON null); the report (``companion.reports.admm_unfolding``) averages the
finite runs only and says how many diverged.

:func:`plan` turns the chapter's parameters into its studies (figures, tables and the
initialisation study; every configuration as the committed records store it) and
:func:`compute` runs one configuration with one torch thread, as every record was computed.

Protocol keys read here: ``batch``, ``lr``, ``official_depth`` (U-ADMM networks run ``K + 1``
iterations per ``K`` blocks, as the official code), ``keep_best`` (score the weights of each
run's epoch of lowest training loss at the last epoch, as the official scripts), ``init`` and
``fixed_init`` (the blind start), ``scene_seed``, ``endmember_seed``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

import numpy as np
import torch

from .. import metrics
from ..classic import sunsal
from ..classic.convergence import noted
from ..data import load
from ..data.hsi import HSI
from ..data.scenes import uadmm_official_scene, uadmm_scene
from ..data.user_images import URBAN, available
from ..initialisation import INITIALISATIONS
from ..nets.admm_unfolding import AE_METHODS, GLOROT_SUFFIX, train_supervised
from ..runtime import placed, resolve_device, torch_threads
from ..study import StudyDefinition
from .unrolled import as_tensor, blind_start, blind_unmix, encoder, train_indices

__all__ = ["SUNSAL_LAMBDA",
           "POINTS", "abundance_point", "blind_point", "compute", "cost", "diagnoses",
           "grid", "init_study_point", "jasper_abundance_point", "jasper_blind_point", "plan",
           "protocol_of", "sunsal_abundances", "placement"]

SUNSAL_LAMBDA = 0.0   # SUnSAL reference default ("default settings", Sec. IV-C)

def _abundance_scores(A_true: np.ndarray, A_runs: np.ndarray) -> dict:
    """``A_runs (runs, p, pixels)``: per-run RMSE, AAD (deg) and AID, means over pixels; a run
    with non-finite abundances is marked diverged and scored None."""
    diverged = [not np.isfinite(A).all() for A in A_runs]
    score = lambda f: [None if bad else float(f(A)) for A, bad in zip(A_runs, diverged, strict=True)]  # noqa: E731
    return {"rmse": score(lambda A: metrics.rmse_per_pixel_mean(A_true, A)),
            "aad": score(lambda A: np.mean(metrics.degrees(metrics.aad(A_true, A)))),
            "aid": score(lambda A: np.mean(metrics.aid(A_true, A))),
            "diverged": diverged}


def sunsal_abundances(Y: np.ndarray, E: np.ndarray, device="auto") -> np.ndarray:
    """SUnSAL baseline with the reference code's defaults (``lambda = 0``, 1000 iterations) plus
    the ANC of eq. 3, no ASC; then each pixel divided by its sum (as the networks' output)."""
    X = sunsal(Y, E, lam=SUNSAL_LAMBDA, positivity=True, sum_to_one=False, max_iter=1000,
               device=device)
    X = X + 1e-8
    return X / X.sum(axis=0, keepdims=True)


def _supervised(hsi: HSI, E: np.ndarray, idx: np.ndarray, methods: Sequence[str], protocol,
                K: int, epochs: int, eval_at: Sequence[int], seeds: list[int], device,
                keep_example: str | None = None) -> dict:
    runs = idx.shape[0]
    Y_all = as_tensor(hsi.Y.T, device)
    Y_train = as_tensor(np.stack([hsi.Y[:, i].T for i in idx]), device)
    X_train = as_tensor(np.stack([hsi.abundances[:, i].T for i in idx]), device)
    A = np.stack([E] * runs)
    out = {}
    for name in methods:
        model = encoder(AE_METHODS, name, A, K, protocol, seeds, A.shape).to(device)

        def score(m):
            with torch.no_grad():
                est = m(Y_all).double().cpu().numpy().transpose(0, 2, 1)
            return _abundance_scores(hsi.abundances, est)

        log = train_supervised(model, Y_train, X_train, epochs=epochs, batch=protocol["batch"],
                               lr=protocol["lr"], loss="aenet" if "ADMM" in name else "mse",
                               seeds=seeds, on_epoch=score, eval_at=eval_at,
                               keep_best=protocol["keep_best"])
        out[name] = {str(e): rec for e, rec in sorted(log.checkpoints.items())}
        out[name]["loss_last"] = metrics.finite_or_none(log.loss[-1])
        if log.best_epoch is not None:
            out[name]["best_epoch"] = log.best_epoch.tolist()
        if name == keep_example:           # first run's abundances of every pixel, for a map
            with torch.no_grad():
                out[name]["example_abundances"] = model(Y_all)[0].double().cpu().numpy().T
    return out


def abundance_point(config: Mapping, protocol: Mapping, device="auto") -> dict:
    """Figs. 11-14: the AENet / MNN-AE variants in ``config['methods']`` on the synthetic scene
    at ``config['snr_db']`` with ``config['n_train']`` training pixels (None: all), ``K`` blocks,
    ``epochs``; scores at ``config['eval_at']``. With ``config['sunsal']``, SUnSAL with the true
    endmembers too. ``config['scene'] == 'official'`` uses the official synthetic set."""
    dev = resolve_device(device)
    if config.get("scene") == "official":
        hsi = uadmm_official_scene(config["snr_db"], protocol["scene_seed"] + 1)
    else:
        hsi = uadmm_scene(config["snr_db"], protocol["scene_seed"], protocol["endmember_seed"])
    idx = train_indices(hsi.n_pixels, config["n_train"], config["split_seeds"])
    record = _supervised(hsi, hsi.endmembers, idx, config["methods"], protocol, config["K"],
                         config["epochs"], config["eval_at"], config["seeds"], dev)
    if config.get("sunsal"):
        record["SUnSAL"] = _abundance_scores(hsi.abundances,
                                             sunsal_abundances(hsi.Y, hsi.endmembers, dev)[None])
    return record


def jasper_abundance_point(config: Mapping, protocol: Mapping, device="auto") -> dict:
    """Table I: true endmembers, ``n_train`` random training pixels, all four networks and
    SUnSAL on Jasper Ridge (or Urban, ``config['dataset']``); ``config['official_depth']``, when
    given, overrides the protocol's depth (the depth study)."""
    dev = resolve_device(device)
    hsi = load(config["dataset"])
    idx = train_indices(hsi.n_pixels, config["n_train"], config["split_seeds"])
    epochs = config["epochs"]
    protocol = {**protocol, "official_depth": config.get("official_depth", protocol["official_depth"])}
    record = _supervised(hsi, hsi.endmembers, idx, config["methods"], protocol, config["K"],
                         epochs, [epochs], config["seeds"], dev, keep_example="U-ADMM-AENet-II")
    X_sunsal = sunsal_abundances(hsi.Y, hsi.endmembers, dev)
    record["SUnSAL"] = _abundance_scores(hsi.abundances, X_sunsal[None])
    record["SUnSAL"]["example_abundances"] = X_sunsal
    record["names"] = hsi.names
    return record


def blind_point(config: Mapping, protocol: Mapping, device="auto") -> dict:
    """Figs. 18-21: BUNet / MNN-BU variants in ``config['methods']`` on the synthetic scene at
    ``snr_db``, trained on ``n_train`` pixels (None: all), ``K`` blocks, scored at ``eval_at``;
    VCA (+ FCLS), the networks' start, alongside."""
    dev = resolve_device(device)
    hsi = uadmm_scene(config["snr_db"], protocol["scene_seed"], protocol["endmember_seed"])
    idx = train_indices(hsi.n_pixels, config["n_train"], config["split_seeds"])
    E0 = blind_start(hsi, protocol["init"], config["seeds"], protocol["fixed_init"])
    return blind_unmix(hsi, idx, config["methods"], protocol, config["K"], config["epochs"],
                       config["eval_at"], config["seeds"], dev, E0)


def jasper_blind_point(config: Mapping, protocol: Mapping, device="auto") -> dict:
    """Table II: blind unmixing of Jasper Ridge (or Urban) from ``n_train`` random pixels."""
    dev = resolve_device(device)
    hsi = load(config["dataset"])
    idx = train_indices(hsi.n_pixels, config["n_train"], config["split_seeds"])
    E0 = blind_start(hsi, protocol["init"], config["seeds"], protocol["fixed_init"])
    record = blind_unmix(hsi, idx, config["methods"], protocol, config["K"], config["epochs"],
                         [config["epochs"]], config["seeds"], dev, E0, keep_example=True)
    record["names"] = hsi.names
    return record


def init_study_point(config: Mapping, protocol: Mapping, device="auto") -> dict:
    """The initialisation study: ``config['method']`` (a blind network) on ``config['dataset']``
    from each start in ``config['inits']`` (keys of ``INITIALISATIONS``), ``n_train`` random
    pixels, ``K`` blocks, ``epochs``; every (init, run) pair trains in one batched model with
    the same training pixels and shuffling per run. Returns ``{init: {"start": scores,
    "trained": scores}}`` plus ``names``; each start drawn as the protocol's ``fixed_init`` says."""
    dev = resolve_device(device)
    hsi = load(config["dataset"])
    inits, seeds = config["inits"], config["seeds"]
    R = len(seeds)
    unknown = set(inits) - set(INITIALISATIONS)
    if unknown:
        raise ValueError(f"unknown initialisations {sorted(unknown)}")
    idx = np.tile(train_indices(hsi.n_pixels, config["n_train"], config["split_seeds"]), (len(inits), 1))
    E0 = np.concatenate([blind_start(hsi, init, seeds, protocol["fixed_init"]) for init in inits])
    out = blind_unmix(hsi, idx, [config["method"]], protocol, config["K"], config["epochs"],
                      [config["epochs"]], seeds * len(inits), dev, E0)
    trained = out[config["method"]][str(config["epochs"])]
    part = lambda rec, i: {k: v[i * R:(i + 1) * R] for k, v in rec.items()}  # noqa: E731
    record = {init: {"start": part(out["start"], i), "trained": part(trained, i)}
              for i, init in enumerate(inits)}
    record["names"] = hsi.names
    return record


# ----------------------------------------------------------------------------- the plan
POINTS = {"abundance": abundance_point, "jasper_abundance": jasper_abundance_point,
          "blind": blind_point, "jasper_blind": jasper_blind_point, "init": init_study_point}
PROTOCOL_KEYS = ("batch", "lr", "scene_seed", "endmember_seed", "official_depth", "init", "fixed_init",
                 "keep_best")
# The first training-pixel draw of each study: run k draws with ``offset + seed + k``.
SPLIT_OFFSETS = {"fig11": 1100, "fig12": 1200, "fig13": 1300, "fig14": 1400, "official": 1500,
                 "table1": 1600, "fig18": 1800, "fig19": 1900, "fig20": 2000, "fig21": 2100,
                 "table2": 2200}
CURVE_EPOCHS = (0, 10, 25, 50, 100, 150, 200, 300, 400, 500, 600, 800, 1000)


def compute(config: Mapping, *, kind: str, protocol: Mapping, device: str = "auto") -> dict:
    """One configuration of study kind ``kind`` (a key of :data:`POINTS`), with one torch CPU
    thread: the committed records were computed so, and a CPU reduction split over another number
    of threads rounds differently. A solver that ran out of its budget (SUnSAL's 1000
    iterations) is noted in the record's ``not_converged`` (message: count)."""
    with torch_threads(1), noted() as not_converged:
        record = POINTS[kind](config, protocol, device)
    return {**record, "not_converged": not_converged} if not_converged else record


def grid(last: int) -> list[int]:
    """Epochs at which the curves of Figs. 11 and 18 are scored: :data:`CURVE_EPOCHS` up to
    ``last``, and ``last``."""
    return sorted({e for e in CURVE_EPOCHS if e <= last} | {last})


def protocol_of(P: Mapping) -> dict:
    """The settings every configuration shares (they enter each record's fingerprint)."""
    return {k: P[k] for k in PROTOCOL_KEYS}


def real_datasets(P: Mapping) -> list[str]:
    """The real scenes of Tables I and II: Jasper Ridge, and Urban when its user-supplied image
    is present (none with ``real=False``)."""
    return (["jasper", "urban"] if available(URBAN) else ["jasper"]) if P["real"] else []


def plan(P: Mapping) -> dict[str, StudyDefinition]:
    """The chapter's studies for resolved parameters ``P``, in the order of computation: Figs.
    11-14, the official set, Table I and its depth study, Figs. 18-21, Table II, the
    initialisation study (Jasper Ridge) and the diagnoses (:func:`diagnoses`). Keys and
    configurations are those the records store."""
    seeds = [P["seed"] + k for k in range(P["runs"])]
    split = lambda name, extra=0: [SPLIT_OFFSETS[name] + extra + s for s in seeds]  # noqa: E731
    protocol = protocol_of(P)
    ae, bu2 = list(AE_METHODS), ["U-ADMM-BUNet-II", "MNN-BU-2"]
    n_snr = None if P["n_train_snr"] == 0 else P["n_train_snr"]
    epochs, blind_epochs = P["epochs"], P["blind_epochs"]
    real = real_datasets(P)

    def ae_point(snr, n_train, K, name, extra=0, **more):
        return {"snr_db": snr, "n_train": n_train, "K": K, "epochs": epochs, "eval_at": [epochs],
                "methods": ae, "seeds": seeds, "split_seeds": split(name, extra), **more}

    def bu_point(snr, n_train, K, name, extra=0):
        return {"snr_db": snr, "n_train": n_train, "K": K, "epochs": blind_epochs, "eval_at": [blind_epochs],
                "methods": bu2, "seeds": seeds, "split_seeds": split(name, extra)}

    studies = {
        "fig11": ("abundance", "Fig. 11", [], {"fig11": {
            "snr_db": 15.0, "n_train": P["n_train"], "K": P["K"], "epochs": P["epochs_curve"],
            "eval_at": grid(P["epochs_curve"]), "methods": ae, "seeds": seeds,
            "split_seeds": split("fig11")}}),
        "fig12": ("abundance", "Fig. 12", [], {f"fig12_K{k}": ae_point(15.0, P["n_train"], k, "fig12")
                                               for k in P["blocks"]}),
        "fig13": ("abundance", "Fig. 13", [], {f"fig13_n{n}": ae_point(15.0, n, P["K"], "fig13", n)
                                               for n in P["train_sizes"]}),
        "fig14": ("abundance", "Fig. 14", [], {
            f"fig14_snr{s:g}": ae_point(s, n_snr, P["K"], "fig14", sunsal=True) for s in P["snrs"]}),
    }
    if P["official_check"]:
        studies["official"] = ("abundance", "official set", ["uadmm_synthetic"], {"official_snr15": {
            "scene": "official", "snr_db": 15.0, "n_train": P["n_train"], "K": P["K"], "epochs": epochs,
            "eval_at": [0, epochs], "methods": ["U-ADMM-AENet-II", "MNN-AE-2"], "seeds": seeds,
            "split_seeds": split("official"), "sunsal": True}})
    if real:
        table1 = {"n_train": 256, "K": P["K"], "epochs": epochs}
        studies["table1"] = ("jasper_abundance", "Table I", real, {f"table1_{ds}": {
            "dataset": ds, **table1, "methods": [*ae, *(m + GLOROT_SUFFIX for m in ("MNN-AE-1", "MNN-AE-2"))],
            "seeds": seeds, "split_seeds": split("table1")} for ds in real})
        # the other depth, same training pixels and seeds: the depth study
        studies["table1_depth"] = ("jasper_abundance", "Table I depth", real, {f"table1_{ds}_depth": {
            "dataset": ds, **table1, "methods": ["U-ADMM-AENet-I", "U-ADMM-AENet-II"], "seeds": seeds,
            "split_seeds": split("table1"), "official_depth": not P["official_depth"]} for ds in real})
    studies |= {
        "fig18": ("blind", "Fig. 18", [], {"fig18": {
            "snr_db": 25.0, "n_train": P["n_train"], "K": P["K_blind"], "epochs": P["blind_epochs_curve"],
            "eval_at": grid(P["blind_epochs_curve"]), "methods": P["blind_methods"], "seeds": seeds,
            "split_seeds": split("fig18")}}),
        "fig19": ("blind", "Fig. 19", [], {f"fig19_K{k}": bu_point(25.0, P["n_train"], k, "fig19")
                                           for k in P["blocks"]}),
        "fig20": ("blind", "Fig. 20", [], {f"fig20_n{n}": bu_point(25.0, n, P["K_blind"], "fig20", n)
                                           for n in P["train_sizes"]}),
        "fig21": ("blind", "Fig. 21", [], {f"fig21_snr{s:g}": bu_point(s, n_snr, P["K_blind"], "fig21")
                                           for s in P["snrs"]}),
    }
    if real:
        studies["table2"] = ("jasper_blind", "Table II", real, {f"table2_{ds}": {
            "dataset": ds, "n_train": 1000, "K": P["K_blind"], "epochs": blind_epochs, "methods": bu2,
            "seeds": seeds, "split_seeds": split("table2")} for ds in real})
        studies["init"] = ("init", "initialisation study", ["jasper"], {"init_jasper": {
            "dataset": "jasper", "method": "U-ADMM-BUNet-II", "n_train": 1000, "K": P["K_blind"],
            "epochs": blind_epochs, "inits": P["inits"], "seeds": seeds, "split_seeds": split("table2")}})
    studies |= diagnoses(P, {name: configs for name, (_, _, _, configs) in studies.items()})
    return {name: StudyDefinition(
                "admm_unfolding", P["scale"], configs, protocol,
                functools.partial(compute, kind=kind, protocol=protocol, device=P["device"]), datasets,
                desc=desc)
            for name, (kind, desc, datasets, configs) in studies.items()}


def diagnoses(P: Mapping, figures: Mapping[str, Mapping[str, dict]]) -> dict[str, tuple]:
    """The studies of diagnoses U-ADMM 1 and 3 (issue 27; declared in ``book/diagnoses.md`` before
    any result) as :func:`plan` lists its studies, ``{name: (kind, desc, datasets, configs)}``, from
    the configurations ``figures`` (``{study: {key: config}}``) of Figs. 11, 13 and 14, whose keys
    and fingerprints stay as they are.

    ``mnn_glorot`` (U-ADMM 1): MNN-AE-1 and -2 from Glorot-normal draws, every configuration of
    Figs. 11, 13 and 14 with only its methods changed (same pixels, seeds and epochs; no SUnSAL).
    ``fig14_all_pixels`` (U-ADMM 3): Fig. 14's configuration at the lowest SNR with every pixel
    training (``n_train`` None) for the declared networks, AENet-II and both MNN-AE; none when
    Fig. 14 trains on every pixel already (``n_train_snr`` 0). A parameter absent from ``P`` (a
    summary written before the diagnoses existed) counts as off."""
    def variant(study: str, tag: str, keys, methods: list[str], **more) -> dict[str, dict]:
        """The configurations ``keys`` of ``study`` with ``methods`` and ``more``, each key's
        ``study`` prefix renamed ``<study>_<tag>``."""
        return {key.replace(study, f"{study}_{tag}", 1):
                {k: v for k, v in figures[study][key].items() if k != "sunsal"} | {"methods": methods, **more}
                for key in keys}

    out = {}
    if P.get("mnn_glorot", False):
        glorot = [m + GLOROT_SUFFIX for m in ("MNN-AE-1", "MNN-AE-2")]
        out |= {f"{fig}_glorot": ("abundance", f"{fig.replace('fig', 'Fig. ')}, MNN-AE from Glorot draws", [],
                                  variant(fig, "glorot", figures[fig], glorot))
                for fig in ("fig11", "fig13", "fig14")}
    if P.get("fig14_all_pixels", False) and P["n_train_snr"] != 0:
        lowest = [f"fig14_snr{min(P['snrs']):g}"]
        out["fig14_all"] = ("abundance", "Fig. 14, every pixel training", [],
                            variant("fig14", "all", lowest, ["U-ADMM-AENet-II", "MNN-AE-1", "MNN-AE-2"],
                                    n_train=None))
    return out


def cost(config: Mapping) -> float:
    """Relative cost of a configuration (for choosing the records to verify; the records store
    no ``seconds``): training-pixel passes ``epochs x n_train x runs x methods x ADMM
    iterations`` plus one pass over the scene's pixels per scored epoch and method."""
    runs = len(config["seeds"]) * len(config.get("inits", [None]))
    methods = config.get("methods", [config.get("method")])
    pixels = 10_000   # the synthetic scenes and Jasper Ridge (100 x 100)
    n_train = pixels if config["n_train"] is None else min(config["n_train"], pixels)
    scored = len(config.get("eval_at", [config["epochs"]]))
    return float(len(methods) * runs * ((config["K"] + 1) * config["epochs"] * n_train + scored * pixels))


def placement(P: Mapping) -> dict[str, str]:
    """Where each part of the chapter's compute runs with parameters ``P``, for the provenance:
    the networks train on the device; the minibatch order is drawn on the host (numpy, one
    stream per run) and crosses once per epoch; the scores are computed on the host at the
    checkpoint epochs."""
    here = placed(P["device"])
    return {"network training": here, "SUnSAL and FCLS": here,
            "minibatch order, starts and scores": "CPU (numpy)"}
