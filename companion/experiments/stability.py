"""Książek et al. (2022): how much the initial weights decide an unmixing autoencoder's quality.

Table 1's ten experiments, trained as ensembles (:mod:`companion.nets.ensemble`): for each
experiment and init scheme, ``N`` initialisations x ``k`` runs; the runs of one initialisation
start from the same weights and differ only in pixel order and dropout noise. Per run we measure
the reconstruction RMSE (mean per-pixel RMSE between X and its reconstruction), the abundance
error (mean per-pixel RMSE) and the endmember error (mean SAD, radians) after matching the
estimated endmembers to the ground truth by the permutation of smallest mean SAD (exhaustive).
Data are scaled by the image's global maximum.

The chapter's pipeline (:mod:`companion.pipeline`): :func:`plan` turns the resolved parameters
``P`` into one study, ``"runs"``, whose records go to ``results/stability/<scale>/runs/``:

* ``table1``: ``N x k`` models of one Table 1 experiment for all schemes, in blocks of ``block``
  initialisations (key ``exp<e>_init<first>-<last>``);
* ``table3``: Experiment 4's reinitialisation study (Table 3) and its weight-decay and Adam-step
  variants (key ``reinit_exp4_<tag>``).

Order of computation: Table 1 of the first two experiments listed, Table 3, its weight-decay and
Adam-reset variants, then the remaining experiments, so an interrupted study has the most used
results first. :class:`Compute` trains one record's models; the statistics, tables and verdicts
are the report's (:mod:`companion.reports.stability`).
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from companion import data
from companion.nets.ensemble import (
    REINIT_METHODS,
    Reinitialisation,
    evaluate,
    models_per_chunk,
    train_ensemble,
)
from companion.nets.unmixing_ae import INIT_SCHEMES, AEConfig, initial_weights
from companion.runtime import placed, resolve_device, torch_threads
from companion.study import StudyDefinition

__all__ = ["EXPERIMENTS", "STUDY", "WEIGHT_DECAY", "Compute", "Scene", "abundance_rmse", "configs", "cost",
           "datasets", "load_scene", "match_and_score", "match_endmembers", "plan", "protocol",
           "reinit_study",
           "scene", "score_trained", "table1_configs", "table3_configs", "train_initialisations", "variants",
           "placement"]

# Table 1: architecture (arch), loss, dataset, n1 (basic), batch size, learning rate, Gaussian dropout.
EXPERIMENTS = {
    1: dict(arch="original", loss="mse", dataset="samson", n1=0, batch_size=100, lr=1e-2, dropout=0.0),
    2: dict(arch="original", loss="sad", dataset="samson", n1=0, batch_size=100, lr=1e-2, dropout=0.0),
    3: dict(arch="original", loss="sad", dataset="samson", n1=0, batch_size=20, lr=0.01, dropout=0.1),
    4: dict(arch="basic", loss="mse", dataset="samson", n1=10, batch_size=4, lr=1e-4, dropout=0.0),
    5: dict(arch="basic", loss="sad", dataset="samson", n1=20, batch_size=4, lr=1e-4, dropout=0.0),
    6: dict(arch="original", loss="mse", dataset="jasper", n1=0, batch_size=100, lr=1e-2, dropout=0.0),
    7: dict(arch="original", loss="sad", dataset="jasper", n1=0, batch_size=100, lr=1e-2, dropout=0.0),
    8: dict(arch="original", loss="mse", dataset="jasper", n1=0, batch_size=5, lr=0.01, dropout=0.1),
    9: dict(arch="original", loss="sad", dataset="jasper", n1=0, batch_size=5, lr=0.01, dropout=0.1),
    10: dict(arch="basic", loss="mse", dataset="jasper", n1=10, batch_size=20, lr=1e-3, dropout=0.0),
}

# Adam's weight decay is not in the paper (Table 1): ATE's script for these runs
# (exp_mixed_weight_init_verification.py) sets 0 for Experiments 1-10.
WEIGHT_DECAY = 0.0


@dataclass(frozen=True)
class Scene:
    """A scene ready for the autoencoders: ``X: (pixels, L)`` scaled by its global maximum,
    ground truth ``E_true: (L, R)`` (same scaling) and ``A_true: (pixels, R)``."""

    name: str
    X: torch.Tensor
    E_true: torch.Tensor
    A_true: torch.Tensor


def load_scene(name: str, device: torch.device, dtype: torch.dtype = torch.float32) -> Scene:
    """Samson or Jasper Ridge from the staged data (pixels are rows here, as layers expect)."""
    hsi = data.load(name)
    scale = float(hsi.Y.max())
    as_tensor = lambda a: torch.as_tensor(np.ascontiguousarray(a), device=device, dtype=dtype)  # noqa: E731
    return Scene(name, as_tensor(hsi.Y.T / scale), as_tensor(hsi.endmembers / scale),
                 as_tensor(hsi.abundances.T))


def ae_config(experiment: int, scene: Scene, gain: float | None = None) -> AEConfig:
    """The :class:`AEConfig` of a Table 1 experiment on its scene; ``gain`` of the He-normal and
    Glorot draws (``None``: the activation's, ATE's, **C**)."""
    e = EXPERIMENTS[experiment]
    return AEConfig(e["arch"], scene.X.shape[1], scene.E_true.shape[1], n1=e["n1"] or 10,
                    dropout=e["dropout"], gain=gain)


def init_seed(experiment: int, scheme: str, initialisation: int) -> int:
    """Seed of the stored initial weights: one per (experiment, scheme, initialisation)."""
    return 1_000_000 * experiment + 100_000 * INIT_SCHEMES.index(scheme) + initialisation


def run_seed(experiment: int, scheme: str, initialisation: int, run: int) -> int:
    """Seed of a run's pixel order and dropout noise."""
    return 7_000_003 * init_seed(experiment, scheme, initialisation) + run


@torch.no_grad()
def match_endmembers(endmembers: torch.Tensor, scene: Scene) -> tuple[torch.Tensor, torch.Tensor]:
    """Match M estimates ``endmembers (M, L, R)`` to the truth by the permutation with the
    smallest mean SAD (all R! tried at once). Returns ``(perm (M, R), endmember_error (M,))``:
    estimate ``perm[m, j]`` is matched to true endmember j; the error is the mean SAD (rad)."""
    R = scene.E_true.shape[1]
    e_hat = endmembers / endmembers.norm(dim=1, keepdim=True).clamp_min(1e-12)
    e_true = scene.E_true / scene.E_true.norm(dim=0, keepdim=True)
    angles = torch.acos(torch.einsum("mli,lj->mij", e_hat, e_true).clamp(-1.0, 1.0))   # (M, est, true)
    perms = torch.tensor(list(itertools.permutations(range(R))), device=angles.device)  # (P, R)
    cost = angles[:, perms, torch.arange(R, device=angles.device)].mean(dim=2)         # (M, P)
    best_cost, best = cost.min(dim=1)
    return perms[best], best_cost


def abundance_rmse(abundances: torch.Tensor, perm: torch.Tensor, A_true: torch.Tensor) -> torch.Tensor:
    """Per-pixel abundance RMSE ``(M, pixels)`` of ``abundances (M, pixels, R)`` against
    ``A_true (pixels, R)``, estimates reordered by ``perm (M, R)`` (:func:`match_endmembers`)."""
    matched = torch.gather(abundances, 2, perm.unsqueeze(1).expand(-1, abundances.shape[1], -1))
    return ((matched - A_true) ** 2).mean(dim=2).sqrt()


@torch.no_grad()
def match_and_score(abundances: torch.Tensor, endmembers: torch.Tensor, rmse_pixel: torch.Tensor,
                    scene: Scene) -> dict[str, torch.Tensor]:
    """Errors of M models from all their outputs: ``abundances (M, pixels, R)``, ``endmembers
    (M, L, R)``, ``rmse_pixel (M, pixels)``. Returns ``(M,)`` tensors ``rmse`` (reconstruction,
    mean per-pixel RMSE), ``abundance_error`` (mean per-pixel RMSE) and ``endmember_error``
    (mean SAD, radians), endmembers matched by :func:`match_endmembers`."""
    perm, endmember_error = match_endmembers(endmembers, scene)
    abundance_error = abundance_rmse(abundances, perm, scene.A_true).mean(dim=1)
    return {"rmse": rmse_pixel.mean(dim=1), "abundance_error": abundance_error,
            "endmember_error": endmember_error}


@torch.no_grad()
def score_trained(params, running, scene: Scene, config: AEConfig) -> dict[str, torch.Tensor]:
    """The errors of :func:`match_and_score` for trained models, evaluated block by block
    (:func:`ensemble.evaluate`): memory independent of the number of pixels."""
    decoder = params[f"W{len(config.linear_layers()) - 1}"]
    perm, endmember_error = match_endmembers(decoder, scene)
    M, n = decoder.shape[0], scene.X.shape[0]
    sums = {"rmse": torch.zeros(M, dtype=torch.float64, device=decoder.device),
            "abundance_error": torch.zeros(M, dtype=torch.float64, device=decoder.device)}

    def accumulate(rows, a, rmse):
        sums["rmse"] += rmse.double().sum(dim=1)
        sums["abundance_error"] += abundance_rmse(a, perm, scene.A_true[rows]).double().sum(dim=1)

    evaluate(params, running, scene.X, config, accumulate)
    return {k: v / n for k, v in sums.items()} | {"endmember_error": endmember_error}


def _train_and_score(scene: Scene, config: AEConfig, weights, seeds, experiment: int, epochs: int,
                     reinit: Reinitialisation | None, chunk: int, progress,
                     weight_decay: float) -> dict[str, np.ndarray]:
    """Train models (stacked ``weights``, ``seeds``) in chunks of ``chunk``; all their errors."""
    e = EXPERIMENTS[experiment]
    parts = []
    for start in range(0, len(seeds), chunk):
        part = slice(start, start + chunk)
        trained = train_ensemble(scene.X, config, {k: v[part] for k, v in weights.items()},
                                 torch.as_tensor(seeds[part]), loss=e["loss"], batch_size=e["batch_size"],
                                 lr=e["lr"], epochs=epochs, weight_decay=weight_decay,
                                 reinit=None if reinit is None else reinit[part], progress=progress)
        scores = score_trained(trained["params"], trained["running"], scene, config)
        scores |= {"dead": trained["dead"], "final_loss": trained["final_loss"],
                   "reinitialised": trained["reinitialised"]}
        parts.append({k: v.double().cpu().numpy() for k, v in scores.items()})
    out = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    out["diverged"] = ~np.isfinite(out["rmse"]) | ~np.isfinite(out["final_loss"])
    return out


def _chunk(config: AEConfig, scene: Scene, experiment: int, n_models: int, max_chunk: int | None) -> int:
    """Models per chunk: what fits the device (:func:`models_per_chunk`), capped by ``max_chunk``."""
    fits = models_per_chunk(config, scene.X.shape[0], EXPERIMENTS[experiment]["batch_size"], scene.X.device,
                            scene.X.dtype)
    return max(1, min(fits, max_chunk or fits, n_models))


def train_initialisations(scene: Scene, experiment: int, schemes: list[str], initialisations: list[int],
                          runs: int, epochs: int, max_chunk: int | None = None,
                          weight_decay: float | None = None, gain: float | None = None) -> dict:
    """Train ``runs`` runs of each initialisation of each scheme of one experiment together.
    ``weight_decay``: Adam's, default :data:`WEIGHT_DECAY`; ``gain``: as :func:`ae_config`.

    Returns ``{scheme: {metric: (len(initialisations), runs) list}}`` with metrics ``rmse``,
    ``abundance_error``, ``endmember_error``, ``dead``, ``final_loss``, ``reinitialised``, ``diverged``.
    """
    config = ae_config(experiment, scene, gain)
    per_model, seeds = [], []
    for scheme in schemes:
        for i in initialisations:
            w = initial_weights(config, scheme, init_seed(experiment, scheme, i))
            per_model += [w] * runs
            seeds += [run_seed(experiment, scheme, i, r) for r in range(runs)]
    weights = {k: torch.stack([w[k] for w in per_model]) for k in per_model[0]}
    chunk = _chunk(config, scene, experiment, len(seeds), max_chunk)
    n_chunks = math.ceil(len(seeds) / chunk)
    wd = WEIGHT_DECAY if weight_decay is None else weight_decay
    with tqdm(total=n_chunks * epochs, desc=f"exp {experiment}: {len(seeds)} models, {chunk} per chunk",
              unit="epoch", mininterval=10.0) as bar:
        out = _train_and_score(scene, config, weights, seeds, experiment, epochs, None, chunk, bar, wd)
    shape = (len(schemes), len(initialisations), runs)
    return {s: {k: v.reshape(shape)[j].tolist() for k, v in out.items()} for j, s in enumerate(schemes)}


def reinit_study(scene: Scene, experiment: int, schemes: list[str], initialisations: list[int],
                 variants: list[tuple[str | None, float]], epochs: int, adam_step: str = "keep",
                 max_chunk: int | None = None, weight_decay: float | None = None,
                 gain: float | None = None) -> dict:
    """Table 3: every initialisation trained once (run 0) per variant ``(method, threshold)``;
    ``(None, 0)`` is the baseline. All variants of all schemes train as one ensemble;
    ``adam_step`` as in :class:`Reinitialisation`; ``gain`` (initial and redrawn weights) as
    :func:`ae_config`.

    Returns ``{scheme: {variant_label: {metric: list over initialisations}}}``."""
    config = ae_config(experiment, scene, gain)
    per_model, seeds, methods, thresholds, model_schemes = [], [], [], [], []
    for scheme in schemes:
        for method, threshold in variants:
            for i in initialisations:
                per_model.append(initial_weights(config, scheme, init_seed(experiment, scheme, i)))
                seeds.append(run_seed(experiment, scheme, i, 0))
                methods.append(method)
                thresholds.append(float(threshold))
                model_schemes.append(scheme)
    weights = {k: torch.stack([w[k] for w in per_model]) for k in per_model[0]}
    rule = Reinitialisation(tuple(methods), tuple(thresholds), tuple(model_schemes), adam_step)
    chunk = _chunk(config, scene, experiment, len(seeds), max_chunk)
    wd = WEIGHT_DECAY if weight_decay is None else weight_decay
    with tqdm(total=math.ceil(len(seeds) / chunk) * epochs,
              desc=f"reinit: {len(seeds)} models, {chunk} per chunk", unit="epoch", mininterval=10.0) as bar:
        out = _train_and_score(scene, config, weights, seeds, experiment, epochs, rule, chunk, bar, wd)
    shape = (len(schemes), len(variants), len(initialisations))
    return {s: {variant_label(*v): {k: out[k].reshape(shape)[j, n].tolist() for k in out}
                for n, v in enumerate(variants)} for j, s in enumerate(schemes)}


def variant_label(method: str | None, threshold: float) -> str:
    """``"baseline"`` or e.g. ``"partial t=0.5"``."""
    return "baseline" if method is None else f"{method} t={threshold:g}"


# ----------------------------------------------------------------------------- the pipeline's plan
STUDY = "runs"   # the one study of the chapter (its folder under results/stability/<scale>/)


def variants(P: Mapping) -> list[tuple[str | None, float]]:
    """Table 3's variants ``(method, threshold)``: the baseline ``(None, 0.0)``, then every
    reinitialisation method at every threshold of ``P["thresholds"]`` (thresholds outer)."""
    return [(None, 0.0)] + [(m, t) for t in P["thresholds"] for m in REINIT_METHODS]


def table1_configs(P: Mapping, experiment: int) -> dict[str, dict]:
    """Records of one Table 1 experiment: ``P["initialisations"]`` in blocks of ``P["block"]``."""
    out = {}
    for start in range(0, P["initialisations"], P["block"]):
        inits = list(range(start, min(start + P["block"], P["initialisations"])))
        out[f"exp{experiment}_init{inits[0]}-{inits[-1]}"] = {"kind": "table1", "experiment": experiment,
                                                               "schemes": list(P["schemes"]),
                                                               "initialisations": inits}
    return out


def table3_configs(P: Mapping, tag: str, initialisations: int, chosen: list[tuple[str | None, float]],
                   adam_step: str = "keep", weight_decay: float = 0.0) -> dict[str, dict]:
    """One Table 3 record (Experiment 4, run 0 of ``initialisations`` per scheme, ``chosen`` variants)."""
    return {f"reinit_exp4_{tag}": {
        "kind": "table3", "schemes": list(P["schemes"]), "initialisations": list(range(initialisations)),
        "variants": [[m, t] for m, t in chosen], "epochs": P["reinit_epochs"], "adam_step": adam_step,
        "weight_decay": weight_decay}}


def configs(P: Mapping) -> dict[str, dict]:
    """Every record of the study, keyed by file-name-safe keys, in the order of computation."""
    all_variants, reset = variants(P), P["adam_reset_initialisations"]
    out = {}
    for e in P["experiments"][:2]:
        out |= table1_configs(P, e)
    out |= table3_configs(P, "keep", P["reinit_initialisations"], all_variants)
    for wd in P["weight_decays"]:
        out |= table3_configs(P, f"wd{wd:g}", P["reinit_initialisations"], all_variants[:1], weight_decay=wd)
    if reset:
        out |= table3_configs(P, "reset", reset, all_variants[1:], adam_step="reset")
    for e in P["experiments"][2:]:
        out |= table1_configs(P, e)
    return out


def protocol(P: Mapping) -> dict:
    """Settings shared by every record: epochs and runs ``k`` of Table 1 (the records' code hash
    stands for the training code)."""
    return {"epochs": P["epochs"], "runs": P["runs"]}


@functools.lru_cache(maxsize=8)
def scene(name: str, device: str) -> Scene:
    """:func:`load_scene` on ``device`` (a ``device`` parameter), loaded once per process."""
    return load_scene(name, resolve_device(device))


@dataclass(frozen=True)
class Compute:
    """Trains and scores one record's models (picklable, so a Dask worker can run it).

    ``runs``: k of Table 1; ``epochs``: Table 1's training epochs; ``device``: as the chapter's
    ``device`` parameter (``"auto"`` resolves in the process that computes). On a CPU it trains
    with one torch thread, as the committed records were computed: CPU reductions split over
    another number of threads round differently, and a record must be the same bits wherever it
    is computed (:func:`companion.pipeline.verify`)."""

    runs: int
    epochs: int
    device: str

    def __call__(self, config: Mapping) -> dict:
        """The record of ``config`` (a value of :func:`configs`): Table 1 metrics per scheme
        (:func:`train_initialisations`) or Table 3 metrics per scheme and variant
        (:func:`reinit_study`). An optional ``"gain"`` key sets the draws' gain (a diagnosis's
        records; the chapter's have none: the activation's)."""
        threads = 1 if resolve_device(self.device).type == "cpu" else None
        with torch_threads(threads):
            if config["kind"] == "table1":
                e = config["experiment"]
                return train_initialisations(scene(EXPERIMENTS[e]["dataset"], self.device), e,
                                             config["schemes"], config["initialisations"], self.runs,
                                             self.epochs, gain=config.get("gain"))
            return reinit_study(scene("samson", self.device), 4, config["schemes"], config["initialisations"],
                                [tuple(v) for v in config["variants"]], config["epochs"], config["adam_step"],
                                weight_decay=config["weight_decay"], gain=config.get("gain"))


def datasets(P: Mapping) -> list[str]:
    """Scenes the study reads: those of the chosen experiments, and Samson for Table 3."""
    return sorted({EXPERIMENTS[e]["dataset"] for e in P["experiments"]} | {"samson"})


def plan(P: Mapping) -> dict[str, StudyDefinition]:
    """The chapter's one study, ``{STUDY: definition}``, for resolved parameters ``P``."""
    return {STUDY: StudyDefinition(chapter="stability", scale=P["scale"], configs=configs(P),
                                   protocol=protocol(P),
                                   compute=Compute(P["runs"], P["epochs"], P["device"]), datasets=datasets(P),
                                   desc="stability study")}


# Pixels of the scenes (Samson 95 x 95, Jasper Ridge 100 x 100), for :func:`cost` without loading them.
PIXELS = {"samson": 9025, "jasper": 10000}
# A training step costs about as much as this many pixels of it (per-step overhead of the
# batched engine, measured before its hand-written backward: Exp. 4, batch 4, 18 us per model and
# step; Exp. 10, batch 20, 49 us; it only ranks records by cost, see benchmarks/results/engine_cpu.md
# for the engine's present rates).
STEP_PIXELS = 5


def cost(config: Mapping, runs: int = 5) -> float:
    """Relative cost of a record (:func:`companion.pipeline.sample_keys` ranks the records that
    store no ``seconds`` with it): models x epochs x (pixels + ``STEP_PIXELS`` x steps per epoch).

    ``runs``: k of a Table 1 record, which its configuration does not store (k is in the
    protocol); 5 by default, the committed paper-protocol subset's k. Table 1 records are
    trained for the protocol's epochs, also not in the configuration: 50 (the paper preset's)."""
    if config["kind"] == "table1":
        e, epochs = config["experiment"], 50
        models = len(config["schemes"]) * len(config["initialisations"]) * runs
    else:
        e, epochs = 4, config["epochs"]
        models = len(config["schemes"]) * len(config["initialisations"]) * len(config["variants"])
    pixels = PIXELS[EXPERIMENTS[e]["dataset"]]
    return float(models * epochs * (pixels + STEP_PIXELS * (pixels // EXPERIMENTS[e]["batch_size"])))


def placement(P: Mapping) -> dict[str, str]:
    """Where each part of the chapter's compute runs with parameters ``P``, for the provenance."""
    here = placed(P["device"])
    threads = ", one torch thread" if here == "CPU" else ""
    return {"ensemble training": here + threads, "matching and scores": here + threads,
            "initial weights (counter-based streams)": "CPU, copied to the device once per record"}
