"""Książek et al. (2022): how much the initial weights decide an unmixing autoencoder's quality.

Table 1's ten experiments, trained as ensembles (:mod:`companion.nets.ensemble`): for each
experiment and init scheme, ``N`` initialisations x ``k`` runs; the runs of one initialisation
start from the same weights and differ only in pixel order and dropout noise. Per run we measure
the reconstruction RMSE (mean per-pixel RMSE between X and its reconstruction), the abundance
error (mean per-pixel RMSE) and the endmember error (mean SAD, radians) after matching the
estimated endmembers to the ground truth by the permutation of smallest mean SAD (exhaustive).
Data are scaled by the image's global maximum.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from companion import data
from companion.nets.ensemble import Reinitialisation, evaluate, models_per_chunk, train_ensemble
from companion.nets.unmixing_ae import INIT_SCHEMES, AEConfig, initial_weights

__all__ = ["EXPERIMENTS", "WEIGHT_DECAY", "Scene", "abundance_rmse", "load_scene", "match_and_score",
           "match_endmembers", "reinit_study", "score_trained", "train_initialisations"]

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
# Larger CPU chunks leave the cache: one thread, 50 epochs' steps, per model and step: Exp. 4
# 18 us at 200 models vs 21 us at 800; Exp. 10 49 us vs 83 us.
CPU_CHUNK = 256


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


def ae_config(experiment: int, scene: Scene) -> AEConfig:
    """The :class:`AEConfig` of a Table 1 experiment on its scene."""
    e = EXPERIMENTS[experiment]
    return AEConfig(e["arch"], scene.X.shape[1], scene.E_true.shape[1], n1=e["n1"] or 10,
                    dropout=e["dropout"])


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
                          weight_decay: float | None = None) -> dict:
    """Train ``runs`` runs of each initialisation of each scheme of one experiment together.
    ``weight_decay``: Adam's, default :data:`WEIGHT_DECAY`.

    Returns ``{scheme: {metric: (len(initialisations), runs) list}}`` with metrics ``rmse``,
    ``abundance_error``, ``endmember_error``, ``dead``, ``final_loss``, ``reinitialised``, ``diverged``.
    """
    config = ae_config(experiment, scene)
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
                 max_chunk: int | None = None, weight_decay: float | None = None) -> dict:
    """Table 3: every initialisation trained once (run 0) per variant ``(method, threshold)``;
    ``(None, 0)`` is the baseline. All variants of all schemes train as one ensemble;
    ``adam_step`` as in :class:`Reinitialisation`.

    Returns ``{scheme: {variant_label: {metric: list over initialisations}}}``."""
    config = ae_config(experiment, scene)
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
