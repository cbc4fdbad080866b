"""Unrolled unmixing networks under one experimental protocol, shared by two chapters.

The U-ADMM chapter (Zhou et al.) and the NMF-SAE chapter (Xiong et al., Fig. 3's unrolled
baselines) train the same blind networks the same way: encoders built by name
(:data:`companion.nets.admm_unfolding.BU_METHODS`), random training pixels per run, a start from
``|VCA|`` (or another named start) and per-run scores at chosen epochs (SAD in degrees and the
per-pixel abundance RMSE, :func:`companion.metrics.score_runs`). Shapes: ``Y (bands, pixels)``,
starts ``E0 (runs, bands, p)``, training pixels ``idx (runs, n_train)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from .. import metrics
from ..classic import fcls
from ..data.hsi import HSI
from ..initialisation import initial_endmembers_runs
from ..nets.admm_unfolding import (
    BU_METHODS,
    GLOROT_SUFFIX,
    BlindNet,
    LinearDecoder,
    UnfoldedADMM,
    train_blind,
)

__all__ = ["as_tensor", "blind_start", "blind_unmix", "encoder", "train_indices"]


def encoder(registry: Mapping, name: str, A: np.ndarray | None, K: int, protocol: Mapping,
             seeds: list[int], shape: tuple[int, int, int]):
    """Encoder of method ``name``: ADMM start from ``A (runs, bands, p)``, or Glorot draws
    (one per seed) for a ``GLOROT_SUFFIX`` name; U-ADMM networks get the protocol's depth."""
    glorot = name.endswith(GLOROT_SUFFIX)
    cls, tied = registry[name.removesuffix(GLOROT_SUFFIX)]
    depth = {"official_depth": protocol["official_depth"]} if cls is UnfoldedADMM else {}
    if glorot:
        return cls(None, K=K, tied=tied, shape=shape, seeds=seeds, **depth)
    return cls(A, K=K, tied=tied, **depth)


def train_indices(n_pixels: int, n_train: int | None, split_seeds: Sequence[int]) -> np.ndarray:
    """``(runs, n_train)`` random training pixels, one draw per run; all pixels if None."""
    if n_train is None or n_train >= n_pixels:
        return np.tile(np.arange(n_pixels), (len(split_seeds), 1))
    return np.stack([np.sort(np.random.default_rng(s).choice(n_pixels, n_train, replace=False))
                     for s in split_seeds])


def as_tensor(a, device) -> torch.Tensor:
    """``a`` as a float32 tensor on ``device`` (the networks' precision)."""
    return torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float32, device=device)


def blind_start(hsi: HSI, init: str, seeds: Sequence[int], fixed: bool) -> np.ndarray:
    """Start ``(runs, bands, p)`` of the blind networks: ``|init|`` on the whole image (the
    official code takes ``|VCA|``; SiVM and the truth are non-negative already), one draw per
    run seed, or with ``fixed`` one draw (seed ``seeds[0]``) shared by every run."""
    draws = [seeds[0]] * len(seeds) if fixed else list(seeds)
    return np.abs(initial_endmembers_runs(init, hsi.Y, hsi.p, draws, truth=hsi.endmembers))


def blind_unmix(hsi: HSI, idx: np.ndarray, methods: Sequence[str], protocol, K: int, epochs: int,
                eval_at: Sequence[int], seeds: list[int], device, E0: np.ndarray,
                keep_example: bool = False) -> dict:
    """Blind unmixing of ``hsi`` by the networks ``methods`` (keys of ``BU_METHODS``), one run
    per seed trained on pixels ``idx (runs, n_train)`` from endmembers ``E0 (runs, bands, p)``
    (encoder and decoder); scores (SAD in degrees, per-pixel RMSE) at the epochs ``eval_at``,
    plus the start (``E0`` + FCLS) under ``"start"``."""
    Y_all = as_tensor(hsi.Y.T, device)
    Y_train = as_tensor(np.stack([hsi.Y[:, i].T for i in idx]), device)
    A0 = np.stack([fcls(hsi.Y, E, device=device) for E in E0])
    out = {"start": metrics.score_runs(hsi.endmembers, hsi.abundances, E0, A0, sad_unit="deg")}
    for name in methods:
        model = BlindNet(encoder(BU_METHODS, name, E0, K, protocol, seeds, E0.shape),
                         LinearDecoder(E0)).to(device)

        def score(m):
            with torch.no_grad():
                A = m.encoder(Y_all).double().cpu().numpy().transpose(0, 2, 1)
                E = m.decoder.E.double().cpu().numpy()
            return metrics.score_runs(hsi.endmembers, hsi.abundances, E, A, sad_unit="deg")

        log = train_blind(model, Y_train, epochs=epochs, batch=protocol["batch"], lr=protocol["lr"],
                          seeds=seeds, on_epoch=score, eval_at=eval_at, keep_best=protocol["keep_best"])
        out[name] = {str(e): rec for e, rec in sorted(log.checkpoints.items())}
        out[name]["loss_last"] = metrics.finite_or_none(log.loss[-1])
        if log.best_epoch is not None:
            out[name]["best_epoch"] = log.best_epoch.tolist()
        if keep_example:
            with torch.no_grad():
                out[name]["example_endmembers"] = model.decoder.E[0].double().cpu().numpy()
                out[name]["example_abundances"] = model.encoder(Y_all)[0].double().cpu().numpy().T
    return out
