"""NMF-SAE: the unrolled L1-NMF sparse autoencoder of Xiong et al. (ICASSP 2021).

Encoder (eq. 7), ``K`` unrolled proximal-gradient steps for the abundances:
``S_{k+1} = normalise(ReLU(S_k - W1 (A0 S_k - X) - theta))``.
Decoder (eq. 8), ``K`` unrolled projected-gradient steps for the endmembers:
``A_{k+1} = ReLU(A_k - (A_k S0 - X_train) W2)``.
Output ``A_K S_K``; loss ``0.5 ||A_K S_K - X||_F^2`` (eq. 9); learnable ``W1, W2, theta``.

Initialisation (Sec. 3.1): ``W1 = t_s A0^T`` with ``t_s = 1 / ||A0^T A0||_2``,
``W2 = t_a S0^T`` with ``t_a = 1 / ||S0 S0^T||_2``, ``theta = 0.01 t_s`` (i.e. ``lambda = 0.01``).

Shapes: ``X: (bands, pixels)``; every parameter carries a leading ``runs`` axis so that many
independent runs (different VCA seeds) train at once as one batched model:
``A0: (runs, bands, p)``, ``S0: (runs, p, n_train)``, ``W1: (runs, p, bands)``,
``W2: (runs, n_train, p)``, ``theta: (runs, p, 1)``.

Assumption (the paper is silent on where the encoder's iteration starts): it starts from the
FCLS abundances under ``A0``, the same warm start that gives ``S0``. For the training pixels that
start *is* ``S0`` (cached); new pixels get FCLS under ``A0`` once, then the learned steps. We
tried the simplex centre ``1/p`` as the alternative: with K = 2 it leaves the encoder far from
a solution and training then drifts the endmembers away (synthetic SAD 0.36 rad vs 0.09).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from ..classic import fcls
from ..runtime import resolve_device

__all__ = ["NMFSAE", "LAMBDA_INIT", "normalise_sum_to_one", "train", "NMFSAEFit", "fit"]

LAMBDA_INIT = 0.01
_EPS = 1e-12


def normalise_sum_to_one(S: torch.Tensor) -> torch.Tensor:
    """Eq. 6: divide each column (pixel) by its sum; ``S: (..., p, pixels)``."""
    return S / (S.sum(-2, keepdim=True) + _EPS)


class NMFSAE(nn.Module):
    """Unrolled L1-NMF autoencoder for ``runs`` independent runs sharing one training set.

    Args:
        X_train: ``(bands, n_train)`` training pixels (used by the decoder, eq. 8).
        A0: ``(runs, bands, p)`` initial endmembers (VCA).
        S0: ``(runs, p, n_train)`` initial abundances of the training pixels (FCLS).
        K: number of unrolled steps in the encoder and in the decoder.
    """

    def __init__(self, X_train: torch.Tensor, A0: torch.Tensor, S0: torch.Tensor, K: int = 2):
        super().__init__()
        if A0.ndim != 3 or S0.ndim != 3 or X_train.ndim != 2:
            raise ValueError("expected X_train (bands, n), A0 (runs, bands, p), S0 (runs, p, n)")
        if A0.shape[1] != X_train.shape[0] or S0.shape[2] != X_train.shape[1]:
            raise ValueError(f"shape mismatch: X {tuple(X_train.shape)}, A0 {tuple(A0.shape)}, "
                             f"S0 {tuple(S0.shape)}")
        if K < 1:
            raise ValueError(f"K must be at least 1, got {K}")
        self.K = K
        t_s = 1.0 / torch.linalg.matrix_norm(A0.mT @ A0, ord=2)          # (runs,)
        t_a = 1.0 / torch.linalg.matrix_norm(S0 @ S0.mT, ord=2)          # (runs,)
        self.register_buffer("X_train", X_train)
        self.register_buffer("A0", A0)
        self.register_buffer("S0", S0)
        self.W1 = nn.Parameter(t_s[:, None, None] * A0.mT.clone())
        self.W2 = nn.Parameter(t_a[:, None, None] * S0.mT.clone())
        ones = torch.ones(A0.shape[0], A0.shape[2], 1, dtype=A0.dtype, device=A0.device)
        self.theta = nn.Parameter(LAMBDA_INIT * t_s[:, None, None] * ones)

    @property
    def runs(self) -> int:
        return self.A0.shape[0]

    @property
    def p(self) -> int:
        return self.A0.shape[2]

    def initial_abundances(self, X: torch.Tensor) -> torch.Tensor:
        """FCLS abundances of ``X: (bands, pixels)`` under each run's ``A0``: ``(runs, p, pixels)``.

        Not differentiable; computed once per call (one batched FCLS per run).
        """
        Xn = X.detach().cpu().double().numpy()
        starts = [fcls(Xn, A.detach().cpu().double().numpy(), device=X.device) for A in self.A0]
        return torch.as_tensor(np.stack(starts), dtype=X.dtype, device=X.device)

    def encode(self, X: torch.Tensor, start: torch.Tensor | None = None) -> torch.Tensor:
        """Abundances ``(runs, p, pixels)`` of any pixels ``X: (bands, pixels)``.

        ``start``: the iteration's starting point, default :meth:`initial_abundances`. Each step
        is eq. 7 with the products regrouped, ``W1 (A0 S - X) = (W1 A0) S - W1 X``, so the
        bands-sized product ``W1 X`` is computed once, not once per step.
        """
        S = self.initial_abundances(X) if start is None else start
        W1A0 = self.W1 @ self.A0                     # (runs, p, p)
        W1X = self.W1 @ X                            # (runs, p, pixels)
        for _ in range(self.K):
            S = normalise_sum_to_one(torch.relu(S - W1A0 @ S + W1X - self.theta))
        return S

    def decode(self) -> torch.Tensor:
        """Endmembers ``(runs, bands, p)`` after ``K`` unrolled steps from ``A0`` (eq. 8).

        Regrouped as ``(A S0 - X) W2 = A (S0 W2) - X W2`` so no step forms a pixels-sized array.
        """
        S0W2 = self.S0 @ self.W2                     # (runs, p, p)
        XW2 = self.X_train @ self.W2                 # (runs, bands, p)
        A = self.A0
        for _ in range(self.K):
            A = torch.relu(A - A @ S0W2 + XW2)
        return A

    def reconstruct_training(self) -> torch.Tensor:
        """``A_K S_K`` of the training pixels (encoder started at the cached ``S0``)."""
        return self.decode() @ self.encode(self.X_train, start=self.S0)

    def training_loss(self) -> torch.Tensor:
        """Eq. 9 per run, ``(runs,)``: ``0.5 ||A_K S_K - X||_F^2`` on the training pixels.

        Expanded as ``0.5 (<A^T A, S S^T> - 2 <A, X S^T> + ||X||^2)`` so that no
        ``(runs, bands, pixels)`` array is formed (10x faster on Jasper Ridge's 10 000 pixels;
        :meth:`residual_loss` is the direct form, equal to rounding, see the tests)."""
        A = self.decode()                                        # (runs, bands, p)
        S = self.encode(self.X_train, start=self.S0)             # (runs, p, n)
        quad = ((A.mT @ A) * (S @ S.mT)).sum(dim=(1, 2))
        cross = (A.mT * (S @ self.X_train.T)).sum(dim=(1, 2))
        return 0.5 * (quad - 2 * cross + (self.X_train**2).sum())

    def residual_loss(self) -> torch.Tensor:
        """Eq. 9 per run in its direct form, ``(runs,)`` (reference for :meth:`training_loss`)."""
        return 0.5 * ((self.reconstruct_training() - self.X_train) ** 2).sum(dim=(1, 2))

    def parameter_count(self) -> int:
        """Learnable parameters of one run: ``p + p N + p L`` (paper, Sec. 3.2)."""
        return sum(p.numel() for p in self.parameters()) // self.runs


def train(
    model: NMFSAE,
    iterations: int,
    lr_encoder: float,
    lr_decoder: float,
    progress: bool = True,
) -> np.ndarray:
    """Full-batch Adam on eq. 9 over the model's training pixels, encoder (``W1, theta``) and
    decoder (``W2``) with their own learning rates. Runs are independent: the summed loss has
    per-run gradients and Adam's update is elementwise.

    Returns the per-run loss before every update, ``(iterations, runs)``; the losses stay on the
    model's device until the end (one host read in all).
    """
    optimiser = torch.optim.Adam(
        [
            {"params": [model.W1, model.theta], "lr": lr_encoder},
            {"params": [model.W2], "lr": lr_decoder},
        ]
    )
    history = []
    for _ in tqdm(range(iterations), desc="NMF-SAE", disable=not progress, mininterval=5.0):
        optimiser.zero_grad()
        per_run = model.training_loss()
        per_run.sum().backward()
        optimiser.step()
        history.append(per_run.detach())
    return torch.stack(history).cpu().double().numpy() if history else np.empty((0, model.runs))


@dataclass
class NMFSAEFit:
    """Result of :func:`fit` for ``runs`` runs.

    ``endmembers (runs, bands, p)``, ``abundances (runs, p, pixels)`` of the pixels passed as
    ``Y``, the initial endmembers ``initial_endmembers (runs, bands, p)`` and the loss history
    ``(iterations, runs)``.
    """

    endmembers: np.ndarray
    abundances: np.ndarray
    initial_endmembers: np.ndarray
    loss: np.ndarray


def fit(
    Y: np.ndarray,
    train_idx: np.ndarray,
    A0: np.ndarray,
    K: int = 2,
    iterations: int = 1000,
    lr_encoder: float = 1e-4,
    lr_decoder: float = 5e-4,
    device="auto",
    progress: bool = True,
) -> NMFSAEFit:
    """Blind unmixing of ``Y: (bands, pixels)`` from starts ``A0 (runs, bands, p)`` (the paper:
    VCA on the training pixels ``Y[:, train_idx]``), one run per start, trained together.

    Each run: FCLS under its ``A0`` gives ``S0``; the model trains on the training pixels, then
    the encoder unmixes every pixel.
    """
    dev = resolve_device(device)
    X_train = Y[:, train_idx]
    A0 = np.asarray(A0, dtype=np.float64)
    S0 = np.stack([fcls(X_train, A, device=dev) for A in A0])
    as_tensor = lambda a: torch.as_tensor(a, dtype=torch.float32, device=dev)  # noqa: E731
    model = NMFSAE(as_tensor(X_train), as_tensor(A0), as_tensor(S0), K=K)
    history = train(model, iterations, lr_encoder, lr_decoder, progress)
    with torch.no_grad():
        endmembers = model.decode().cpu().double().numpy()
        abundances = model.encode(as_tensor(Y)).cpu().double().numpy()
    return NMFSAEFit(endmembers, abundances, A0, history)
