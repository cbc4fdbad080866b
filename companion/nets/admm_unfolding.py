"""Unfolded-ADMM unmixing networks of Zhou et al. (U-ADMM-AENet, U-ADMM-BUNet) and the
unfolded-ISTA baselines (MNN-AE, MNN-BU) on the same block machinery.

One ADMM iteration of the constrained sparse regression ``min 0.5||y - Ax||^2 + lam ||x||_1,
x >= 0`` (paper eqs. 4-6) becomes one *block* with learnable parameters (eqs. 10-15)::

    x_{k+1} = W_k y + B_k (z_k + d_k)          X-update   (W_k: p x bands, B_k: p x p)
    z_{k+1} = ReLU(x_{k+1} - d_k - theta_k)    Z-update   (scalar theta_k)
    d_{k+1} = d_k - eta_k (x_{k+1} - z_{k+1})  D-update   (scalar eta_k)

from ``z_0 = d_0 = 0``; the output is ``z_K`` divided by its sum (ASC). Here ``W_k`` is the
paper's ``W_k^T`` (we store the matrix that multiplies ``y``). Variant I ties the parameters of
all blocks (one set, ``tied=True``), variant II unties them. The blind networks (BUNet, MNN-BU)
add a linear decoder ``y_hat = E x`` whose weights ``E`` are the endmembers, kept in
``[1e-6, 1]`` after every optimiser step (the official code's constraint; the paper says only
non-negative).

Depth convention. Paper (Sec. III-C): ``K`` blocks are ``K`` ADMM iterations and the output is
the Z-update of block ``K``; its D-update is computed but unused. Official code: after its
``number_layers = K`` blocks it builds one more X/Z pair (its own parameters when untied, the
shared ones when tied), so ``K`` blocks are ``K + 1`` ADMM iterations and, with ``K = 1``, the
tied and untied networks differ. ``official_depth=True`` builds that network: ``K + 1``
iterations (``self.K``), the last one's unused D-update parameter ``eta`` included in the count.

ADMM initialisation from endmembers ``A`` (official code, which follows SUnSAL's MATLAB
reference): ``A`` and ``y`` are divided by ``norm_m = ||A||_F (25 + p) / p``, ``lambda`` by
``norm_m^2`` (``lambda_0 = 0.1``), ``mu = 10 lambda + 0.01``; then
``W = (A^T A + mu I)^-1 A^T / norm_m`` (so it acts on the unscaled ``y``),
``B = mu (A^T A + mu I)^-1``, ``theta = lambda / mu``, ``eta = 1`` (scaled ``A``, ``lambda``).
With this start a network of ``K`` blocks computes exactly ``K`` fixed-``mu`` ADMM iterations.

Unfolded ISTA (our reading of MNN-AE / MNN-BU, Qian et al. 2020, whose code is not public):
``x_{k+1} = ReLU(W_k y + S_k x_k - theta_k)`` from ``x_0 = 0`` (a non-negative LISTA block),
initialised from the same scaled ``A`` as ``W = A^T / (L norm_m)``, ``S = I - A^T A / L``,
``theta = lambda / L`` with ``L = ||A^T A||_2``; output normalised to sum to one. Variant 1 ties
the blocks, variant 2 unties them.

Shapes: every parameter has a leading ``runs`` axis so independent runs (seeds, training sets)
train together as one batched model. Pixels are rows: ``Y: (runs, n, bands)`` or ``(n, bands)``
(shared by all runs); abundances ``(runs, n, p)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

__all__ = [
    "AE_METHODS",
    "BU_METHODS",
    "GLOROT_SUFFIX",
    "LAMBDA_0",
    "MU_AL",
    "admm_parameters",
    "ista_parameters",
    "UnfoldedADMM",
    "UnfoldedISTA",
    "LinearDecoder",
    "BlindNet",
    "aenet_loss",
    "mse_loss",
    "TrainLog",
    "train_supervised",
    "train_blind",
]

LAMBDA_0 = 0.1      # official code's lambda_0
MU_AL = 0.01        # SUnSAL's mu_AL: mu = 10 lambda + mu_AL
_NORM_EPS = 1e-8    # official Norm layer: (z + 1e-8) / sum


def _scaling(A: np.ndarray, lam: float) -> tuple[float, np.ndarray, float]:
    p = A.shape[1]
    norm_m = float(np.linalg.norm(A) * (25 + p) / p)
    return norm_m, A / norm_m, lam / norm_m**2


def admm_parameters(A: np.ndarray, lam: float = LAMBDA_0, mu_al: float = MU_AL) -> dict:
    """ADMM start for one run from endmembers ``A: (bands, p)``, in float64.

    Returns ``W (p, bands)``, ``B (p, p)``, ``theta``, ``eta`` and the scaled problem
    (``norm_m``, ``A_scaled``, ``lam_scaled``, ``mu``) so that a test can run the same ADMM.
    """
    A = np.asarray(A, dtype=np.float64)
    p = A.shape[1]
    norm_m, As, lam_s = _scaling(A, lam)
    mu = 10.0 * lam_s + mu_al
    inv = np.linalg.inv(As.T @ As + mu * np.eye(p))
    return {"W": inv @ As.T / norm_m, "B": mu * inv, "theta": lam_s / mu, "eta": 1.0,
            "norm_m": norm_m, "A_scaled": As, "lam_scaled": lam_s, "mu": mu}


def ista_parameters(A: np.ndarray, lam: float = LAMBDA_0) -> dict:
    """Unfolded-ISTA start for one run from ``A: (bands, p)``: ``W (p, bands)``, ``S (p, p)``,
    ``theta`` (same scaling of ``A``, ``y`` and ``lambda`` as :func:`admm_parameters`)."""
    A = np.asarray(A, dtype=np.float64)
    norm_m, As, lam_s = _scaling(A, lam)
    G = As.T @ As
    L = float(np.linalg.norm(G, 2))
    return {"W": As.T / (L * norm_m), "S": np.eye(A.shape[1]) - G / L, "theta": lam_s / L,
            "L": L, "norm_m": norm_m, "A_scaled": As, "lam_scaled": lam_s}


def _glorot(shape: tuple, fan_in: int, fan_out: int, generator: torch.Generator) -> torch.Tensor:
    std = (2.0 / (fan_in + fan_out)) ** 0.5
    return std * torch.randn(shape, generator=generator, dtype=torch.float64)


def _as_runs(Y: torch.Tensor, runs: int) -> torch.Tensor:
    if Y.ndim == 2:
        return Y.unsqueeze(0).expand(runs, *Y.shape)
    if Y.ndim != 3 or Y.shape[0] != runs:
        raise ValueError(f"expected pixels (n, bands) or (runs={runs}, n, bands), got {tuple(Y.shape)}")
    return Y


def normalise(z: torch.Tensor) -> torch.Tensor:
    """ASC output layer of the official code: ``(z + 1e-8) / sum``, over the last axis."""
    z = z + _NORM_EPS
    return z / z.sum(-1, keepdim=True)


class _Unfolded(nn.Module):
    """Shared plumbing: ``runs`` x ``T`` parameter sets, ``T = 1`` (tied) or ``K`` (untied)."""

    def __init__(self, runs: int, bands: int, p: int, K: int, tied: bool):
        super().__init__()
        if K < 1:
            raise ValueError(f"K must be at least 1, got {K}")
        self.runs, self.bands, self.p, self.K, self.tied = runs, bands, p, K, tied
        self.T = 1 if tied else K

    def _block(self, k: int) -> int:
        return 0 if self.tied else k

    def _initial(self, A, start, shapes: dict[str, tuple[int, int]], seeds, dtype) -> None:
        """Register ``(runs, T, rows, cols)`` parameters named as in ``shapes``.

        With endmembers ``A (runs, bands, p)``: ``start(A_r)`` (a dict of float64 arrays or
        scalars) for each run, the same in every block. With ``A`` None: Glorot-normal draws,
        one generator per run seed, in the order of ``shapes``.
        """
        if A is not None:
            inits = [start(a) for a in np.asarray(A, dtype=np.float64)]
            values = {name: torch.stack([torch.as_tensor(np.asarray(i[name], dtype=np.float64))
                                         .reshape(shape) for i in inits])[:, None]
                      .repeat(1, self.T, 1, 1) for name, shape in shapes.items()}
        else:
            seeds = list(range(self.runs)) if seeds is None else seeds
            draws = {name: [] for name in shapes}
            for seed in seeds:
                g = torch.Generator().manual_seed(int(seed))
                for name, (rows, cols) in shapes.items():
                    draws[name].append(_glorot((self.T, rows, cols), cols, rows, g))
            values = {name: torch.stack(parts) for name, parts in draws.items()}
        for name, value in values.items():
            setattr(self, name, nn.Parameter(value.to(dtype)))

    def parameter_count(self) -> int:
        """Learnable parameters of one run."""
        return sum(q.numel() for q in self.parameters()) // self.runs


class UnfoldedADMM(_Unfolded):
    """U-ADMM encoder (AENet-I with ``tied=True``, AENet-II with ``tied=False``).

    Args:
        A: ``(runs, bands, p)`` endmembers for the ADMM initialisation, or None for random
            (Glorot-normal, as the official code) initialisation, then give ``shape``.
        K: number of iteration blocks.
        tied: share one parameter set across blocks (variant I).
        lam: ``lambda_0`` of the initialisation.
        shape: ``(runs, bands, p)`` when ``A`` is None; ``seeds``: one per run (random init).
        official_depth: ``K`` blocks run ``K + 1`` ADMM iterations, as the official code (module
            docstring); ``self.K`` is the number of iterations.
    """

    def __init__(self, A: np.ndarray | None, K: int = 2, tied: bool = False, lam: float = LAMBDA_0,
                 shape: tuple[int, int, int] | None = None, seeds: list[int] | None = None,
                 dtype: torch.dtype = torch.float32, official_depth: bool = False):
        runs, bands, p = np.shape(A) if A is not None else shape
        super().__init__(runs, bands, p, K + int(official_depth), tied)
        self._initial(A, lambda a: admm_parameters(a, lam),
                      {"W": (p, bands), "B": (p, p), "theta": (1, 1), "eta": (1, 1)}, seeds, dtype)

    def iterate(self, Y: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """``(x_k, z_k, d_k)`` after every block, ``k = 1..K``; each ``(runs, n, p)``."""
        Y = _as_runs(Y, self.runs)
        z = d = None
        out = []
        for k in range(self.K):
            t = self._block(k)
            x = Y @ self.W[:, t].mT
            if z is not None:
                x = x + (z + d) @ self.B[:, t].mT
            z_new = torch.relu(x - (0 if d is None else d) - self.theta[:, t])
            d = (0 if d is None else d) - self.eta[:, t] * (x - z_new)
            z = z_new
            out.append((x, z, d))
        return out

    def forward(self, Y: torch.Tensor) -> torch.Tensor:
        """Abundances ``(runs, n, p)``: ``z_K`` normalised to sum to one."""
        return normalise(self.iterate(Y)[-1][1])


class UnfoldedISTA(_Unfolded):
    """Unfolded non-negative ISTA encoder (MNN-AE-1 with ``tied=True``, -2 with ``tied=False``)."""

    def __init__(self, A: np.ndarray | None, K: int = 2, tied: bool = False, lam: float = LAMBDA_0,
                 shape: tuple[int, int, int] | None = None, seeds: list[int] | None = None,
                 dtype: torch.dtype = torch.float32):
        runs, bands, p = np.shape(A) if A is not None else shape
        super().__init__(runs, bands, p, K, tied)
        self._initial(A, lambda a: ista_parameters(a, lam),
                      {"W": (p, bands), "S": (p, p), "theta": (1, 1)}, seeds, dtype)

    def iterate(self, Y: torch.Tensor) -> list[torch.Tensor]:
        """``x_k`` after every block, ``k = 1..K``; each ``(runs, n, p)``."""
        Y = _as_runs(Y, self.runs)
        x, out = None, []
        for k in range(self.K):
            t = self._block(k)
            v = Y @ self.W[:, t].mT
            if x is not None:
                v = v + x @ self.S[:, t].mT
            x = torch.relu(v - self.theta[:, t])
            out.append(x)
        return out

    def forward(self, Y: torch.Tensor) -> torch.Tensor:
        return normalise(self.iterate(Y)[-1])


# name -> (encoder class, tied). Variant I / 1 shares the blocks' parameters, II / 2 unties them.
AE_METHODS = {"U-ADMM-AENet-I": (UnfoldedADMM, True), "U-ADMM-AENet-II": (UnfoldedADMM, False),
              "MNN-AE-1": (UnfoldedISTA, True), "MNN-AE-2": (UnfoldedISTA, False)}
BU_METHODS = {"U-ADMM-BUNet-I": (UnfoldedADMM, True), "U-ADMM-BUNet-II": (UnfoldedADMM, False),
              "MNN-BU-1": (UnfoldedISTA, True), "MNN-BU-2": (UnfoldedISTA, False)}
# An AE method name with this suffix starts from Glorot-normal draws instead of the
# algorithm's start from the true endmembers (sensitivity rows, e.g. "MNN-AE-2 (Glorot)").
GLOROT_SUFFIX = " (Glorot)"


class LinearDecoder(nn.Module):
    """``y_hat = E x`` with endmembers ``E: (runs, bands, p)``, kept in ``[1e-6, 1]``."""

    LOW, HIGH = 1e-6, 1.0

    def __init__(self, E0: np.ndarray, dtype: torch.dtype = torch.float32):
        super().__init__()
        self.E = nn.Parameter(torch.tensor(np.asarray(E0, dtype=np.float64)).to(dtype))
        self.project()

    def project(self) -> None:
        with torch.no_grad():
            self.E.clamp_(self.LOW, self.HIGH)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return X @ self.E.mT


class BlindNet(nn.Module):
    """Encoder (U-ADMM or unfolded ISTA) + linear non-negative decoder: BUNet / MNN-BU."""

    def __init__(self, encoder: _Unfolded, decoder: LinearDecoder):
        super().__init__()
        self.encoder, self.decoder = encoder, decoder
        self.runs = encoder.runs

    def forward(self, Y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(abundances (runs, n, p), reconstruction (runs, n, bands))``."""
        X = self.encoder(Y)
        return X, self.decoder(X)


# ----------------------------------------------------------------------------- losses
def mse_loss(target: torch.Tensor, estimate: torch.Tensor) -> torch.Tensor:
    """Per-run mean squared error over pixels and components, ``(runs,)`` (Keras ``mse``)."""
    return ((target - estimate) ** 2).mean(dim=(-2, -1))


def aenet_loss(X_true: torch.Tensor, X_est: torch.Tensor, weights=(1.0, 1e-7, 1e-5)) -> torch.Tensor:
    """Eq. 20 per run, ``(runs,)``: ``a1 MSE + a2 MAAD + a3 MAID`` over pixels (rows).

    As in the official code: MSE is the mean over all entries; AAD in degrees with the cosine
    clipped to [-0.99, 0.99]; AID is the symmetric KL of eq. 19 (targets clipped to
    ``[1e-8, 0.99]`` by the caller, estimates positive through the output layer's ``+1e-8``).
    """
    a1, a2, a3 = weights
    mse = mse_loss(X_true, X_est)
    cos = ((X_true * X_est).sum(-1) + 1e-8) / (X_true.norm(dim=-1) * X_est.norm(dim=-1) + 1e-8)
    aad = torch.rad2deg(torch.acos(cos.clamp(-0.99, 0.99))).mean(-1)
    ratio = X_true / X_est
    aid = ((ratio.log() * X_true).sum(-1) + ((-ratio.log()) * X_est).sum(-1)).mean(-1)
    return a1 * mse + a2 * aad + a3 * aid


# ----------------------------------------------------------------------------- training
@dataclass
class TrainLog:
    """Per-epoch mean training loss ``(epochs, runs)``, the callback's records by epoch and, with
    ``keep_best``, the epoch whose weights each run kept ``(runs,)`` (0: none improved)."""

    loss: np.ndarray
    checkpoints: dict
    best_epoch: np.ndarray | None = None


class _BestWeights:
    """Per-run copy of the weights of the epoch with the lowest mean training loss (the official
    scripts' ``ModelCheckpoint(save_best_only=True, monitor='loss')``). Every parameter has a
    leading ``runs`` axis, so each run keeps its own best epoch."""

    def __init__(self, model: nn.Module, runs: int):
        self.params = list(model.parameters())
        self.saved = [q.detach().clone() for q in self.params]
        self.loss = np.full(runs, np.inf)
        self.epoch = np.zeros(runs, dtype=int)

    def update(self, epoch: int, loss: np.ndarray) -> None:
        """Keep the weights of the runs whose epoch-``epoch`` mean loss ``(runs,)`` is their best
        so far (one upload of the runs' mask, none when no run improved)."""
        better = np.isfinite(loss) & (loss < self.loss)
        if better.any():
            mask = torch.from_numpy(better).to(self.saved[0].device)
            for saved, q in zip(self.saved, self.params, strict=True):
                shape = (-1,) + (1,) * (q.dim() - 1)
                saved.copy_(torch.where(mask.view(shape), q.detach(), saved))
            self.loss[better], self.epoch[better] = loss[better], epoch

    def restore(self) -> None:
        with torch.no_grad():
            for saved, q in zip(self.saved, self.params, strict=True):
                q.copy_(saved)


def _minibatches(n: int, batch: int, rngs: list[np.random.Generator], device: torch.device):
    """One epoch's minibatch indices ``(runs, <= batch)`` on ``device``: each run's permutation
    from its own numpy stream (as the official code shuffles), all runs' permutations copied to
    the device once per epoch."""
    perms = torch.from_numpy(np.stack([r.permutation(n) for r in rngs])).to(device)   # (runs, n)
    for start in range(0, n, batch):
        yield perms[:, start:start + batch]


def _gather(T: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    return torch.gather(T, 1, idx[..., None].expand(-1, -1, T.shape[-1]))


def _fit(model, loss_fn, Y, target, epochs, batch, lr, seeds, on_epoch, eval_at, after_step=None,
         keep_best=False):
    """Adam over minibatches of ``Y``/``target`` (on the model's device). Host traffic: the
    epoch's minibatch order crosses to the device once, and the epoch's mean loss is read once
    per epoch (the history, and the best-epoch checkpoint, which needs its value); nothing
    crosses per step."""
    runs = model.runs
    Y = _as_runs(Y, runs)
    target = _as_runs(target, runs)
    rngs = [np.random.default_rng(int(s)) for s in seeds]
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    eval_at = set(eval_at or ())
    checkpoints = {}
    if on_epoch is not None and 0 in eval_at:
        checkpoints[0] = on_epoch(model)
    history = np.empty((epochs, runs))
    n = Y.shape[1]
    best = _BestWeights(model, runs) if keep_best else None
    for epoch in range(1, epochs + 1):
        total = torch.zeros(runs, dtype=torch.float64, device=Y.device)
        for idx in _minibatches(n, batch, rngs, Y.device):
            optimiser.zero_grad()
            per_run = loss_fn(model, _gather(Y, idx), _gather(target, idx))
            per_run.sum().backward()
            optimiser.step()
            if after_step is not None:
                after_step()
            total += per_run.detach().double() * idx.shape[1]
        history[epoch - 1] = (total / n).cpu().numpy()   # the one host read of the epoch
        if best is not None:
            best.update(epoch, history[epoch - 1])
            if epoch == epochs:
                best.restore()
        if on_epoch is not None and epoch in eval_at:
            checkpoints[epoch] = on_epoch(model)
    return TrainLog(history, checkpoints, None if best is None else best.epoch)


def train_supervised(model: _Unfolded, Y: torch.Tensor, X: torch.Tensor, epochs: int,
                     batch: int = 64, lr: float = 1e-4, loss: str = "aenet",
                     seeds: list[int] | None = None, on_epoch=None, eval_at=(),
                     keep_best: bool = False) -> TrainLog:
    """Adam on pixels ``Y (runs, n, bands)`` and abundances ``X (runs, n, p)`` (true, clipped to
    ``[1e-8, 0.99]`` as the official code). ``loss``: ``"aenet"`` (eq. 20) or ``"mse"`` (the
    MNN-AE baseline). Each run shuffles its own pixels with its own seed. ``on_epoch(model)``
    is called before training (epoch 0) and after each epoch in ``eval_at``. ``keep_best``: after
    the last epoch each run gets back the weights of its epoch of lowest mean training loss (as
    the official scripts), so the last epoch's record scores those."""
    X = X.clamp(1e-8, 0.99)
    fn = aenet_loss if loss == "aenet" else mse_loss
    seeds = list(range(model.runs)) if seeds is None else seeds
    return _fit(model, lambda m, y, x: fn(x, m(y)), Y, X, epochs, batch, lr, seeds, on_epoch,
                eval_at, keep_best=keep_best)


def train_blind(model: BlindNet, Y: torch.Tensor, epochs: int, batch: int = 64, lr: float = 1e-4,
                seeds: list[int] | None = None, on_epoch=None, eval_at=(),
                keep_best: bool = False) -> TrainLog:
    """Adam on the reconstruction MSE of ``Y (runs, n, bands)``; decoder projected after each
    step; ``keep_best`` as :func:`train_supervised`."""
    seeds = list(range(model.runs)) if seeds is None else seeds
    return _fit(model, lambda m, y, _: mse_loss(y, m(y)[1]), Y, Y, epochs, batch, lr, seeds,
                on_epoch, eval_at, after_step=model.decoder.project, keep_best=keep_best)
