"""The two fully connected unmixing autoencoders of Książek et al. (2022), one model at a time.

This is the straightforward PyTorch version: an ``nn.Module`` per model and a plain training loop.
:mod:`companion.nets.ensemble` trains thousands of the same models as one batched computation;
the tests check that both give the same numbers, and ``benchmarks/ensemble_vs_loop.py`` compares
their speed.

Architectures (Sec. 2.2, Fig. 1; layer details as in the authors' code, ATE):

``original`` (Palsson et al. 2018)
    Linear L->9R->6R->3R->R, each with bias and a sigmoid; BatchNorm over the R code units;
    dynamical soft thresholding ``ReLU(h - alpha)`` with one learnable alpha per code unit
    (initial 0.01); sum-to-one ``(h + 1e-7) / sum(h + 1e-7)``; Gaussian dropout, multiplicative
    ``N(1, d^2)`` noise in training only; decoder Linear R->L without bias.
``basic``
    Linear L->n1*R, ReLU, Linear n1*R->R, ReLU, sum-to-one, decoder Linear R->L without bias.

Endmembers are the decoder weights ``(L, R)``; abundances are the normalised code (before the
dropout noise). Pixels are rows here (``(batch, L)``), as PyTorch layers expect.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

__all__ = [
    "ARCHITECTURES",
    "ACTIVATION_GAIN",
    "INIT_SCHEMES",
    "AEConfig",
    "UnmixingAE",
    "counter_linear",
    "counter_uniform",
    "dropout_noise",
    "init_scale",
    "initial_weights",
    "pixel_order",
    "reconstruction_loss",
    "stack_initial_weights",
    "train_single",
]

ARCHITECTURES = ("original", "basic")
# He (Kaiming) and Glorot (Xavier), normal and uniform, as ATE draws them (:func:`init_scale`).
# "he_uniform" is PyTorch's default Linear initialisation (paper footnote 1).
INIT_SCHEMES = ("he_normal", "he_uniform", "glorot_normal", "glorot_uniform")
SHORT_NAMES = {"he_normal": "KHN", "he_uniform": "KHU", "glorot_normal": "XGN", "glorot_uniform": "XGU"}
SUM_TO_ONE_EPS = 1e-7
_FUSED_ADAM = ("cpu", "cuda")   # devices with torch's fused Adam kernel (elsewhere, e.g. meta: the default)
BN_EPS, BN_MOMENTUM = 1e-5, 0.1
ALPHA_INIT = 0.01


@dataclass(frozen=True)
class AEConfig:
    """Shape of one autoencoder: ``bands`` L, ``endmembers`` R, ``n1`` (basic: first layer has
    n1*R units), the Gaussian dropout ``dropout`` d (original only; 0 disables it) and the
    ``gain`` of the He-normal and Glorot draws (:func:`init_scale`; ``None``: the hidden
    activation's, :data:`ACTIVATION_GAIN`, as ATE draws them)."""

    architecture: str
    bands: int
    endmembers: int
    n1: int = 10
    dropout: float = 0.0
    gain: float | None = None

    def __post_init__(self):
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {ARCHITECTURES}, got {self.architecture!r}")
        if self.dropout < 0:
            raise ValueError(f"dropout must be >= 0, got {self.dropout}")
        if self.gain is not None and not (math.isfinite(self.gain) and self.gain > 0):
            raise ValueError(f"gain must be a positive number or None (the activation's), got {self.gain}")

    @property
    def init_gain(self) -> float:
        """The gain the initial and redrawn weights use: ``gain``, or the activation's."""
        return ACTIVATION_GAIN[self.architecture] if self.gain is None else float(self.gain)

    def linear_layers(self) -> list[tuple[int, int, bool]]:
        """``(fan_in, fan_out, has_bias)`` of every linear layer, encoder first, decoder last."""
        L, R = self.bands, self.endmembers
        widths = [L, 9 * R, 6 * R, 3 * R, R] if self.architecture == "original" else [L, self.n1 * R, R]
        encoder = [(a, b, True) for a, b in zip(widths[:-1], widths[1:], strict=True)]
        return [*encoder, (R, L, False)]


# Gain of the hidden activation, as ``torch.nn.init.calculate_gain``: ATE scales He normal and both
# Glorot schemes by it (``weights_initialization`` in ``ate/ate_train.py``).
ACTIVATION_GAIN = {"original": 1.0, "basic": math.sqrt(2.0)}   # sigmoid, ReLU


def init_scale(scheme: str, fan_in: int, fan_out: int, gain: float) -> tuple[bool, float, float]:
    """How ``scheme`` draws one linear layer, as the authors' code (ATE) does it:
    ``(normal?, weight scale, bias bound)``. The weight scale is the std of a normal draw or the
    bound of a uniform one; a bias bound of 0 means zero biases.

    - ``he_uniform``: PyTorch's ``nn.Linear`` default (ATE leaves it untouched), weights and
      biases ``U(+-1/sqrt(fan_in))``; no gain.
    - ``he_normal``: ``N(0, gain^2 / fan_in)`` (``kaiming_normal_`` with the activation's gain).
    - ``glorot_normal``: ``N(0, gain^2 * 2 / (fan_in + fan_out))``.
    - ``glorot_uniform``: ``U(+-gain * sqrt(6 / (fan_in + fan_out)))``.
    """
    if scheme == "he_uniform":
        bound = 1.0 / math.sqrt(fan_in)
        return False, bound, bound
    if scheme == "he_normal":
        return True, gain / math.sqrt(fan_in), 0.0
    if scheme == "glorot_normal":
        return True, gain * math.sqrt(2.0 / (fan_in + fan_out)), 0.0
    if scheme == "glorot_uniform":
        return False, gain * math.sqrt(6.0 / (fan_in + fan_out)), 0.0
    raise ValueError(f"init scheme must be one of {INIT_SCHEMES}, got {scheme!r}")


def _draw_linear(fan_in: int, fan_out: int, bias: bool, scheme: str, gain: float,
                 generator: torch.Generator):
    """One layer's ``(weight (fan_out, fan_in), bias (fan_out,) or None)`` in float64."""
    normal, scale, bias_bound = init_scale(scheme, fan_in, fan_out, gain)
    if normal:
        weight = torch.randn((fan_out, fan_in), generator=generator, dtype=torch.float64) * scale
    else:
        weight = (torch.rand((fan_out, fan_in), generator=generator, dtype=torch.float64) * 2 - 1) * scale
    if not bias:
        return weight, None
    if bias_bound == 0:
        return weight, torch.zeros(fan_out, dtype=torch.float64)
    return weight, (torch.rand(fan_out, generator=generator, dtype=torch.float64) * 2 - 1) * bias_bound


def initial_weights(config: AEConfig, scheme: str, seed: int) -> dict[str, torch.Tensor]:
    """The initial weights of one model, a pure function of ``(config, scheme, seed)``.

    Keys ``W0, b0, W1, b1, ...`` for the linear layers (``W{i}: (fan_out, fan_in)``; the decoder
    is the last ``W`` and has no bias), plus for ``original`` the BatchNorm ``gamma``/``beta``
    and the thresholds ``alpha`` (all ``(R,)``). Float64; cast when used.
    """
    generator = torch.Generator().manual_seed(int(seed))
    weights = {}
    for i, (fan_in, fan_out, bias) in enumerate(config.linear_layers()):
        weights[f"W{i}"], b = _draw_linear(fan_in, fan_out, bias, scheme, config.init_gain, generator)
        if b is not None:
            weights[f"b{i}"] = b
    if config.architecture == "original":
        R = config.endmembers
        weights |= {"gamma": torch.ones(R, dtype=torch.float64), "beta": torch.zeros(R, dtype=torch.float64),
                    "alpha": torch.full((R,), ALPHA_INIT, dtype=torch.float64)}
    return weights


def _mix64(z: torch.Tensor) -> torch.Tensor:
    """SplitMix64 finaliser on int64 tensors (wrapping arithmetic, logical shifts)."""
    for shift, factor in ((30, -4658895280553007687), (27, -7723592293110705685), (31, None)):
        z = z ^ ((z >> shift) & ((1 << (64 - shift)) - 1))
        if factor is not None:
            z = z * factor
    return z


def _wrap64(value: int) -> int:
    """``value`` modulo 2**64 as a signed int64 (two's complement), as int64 tensors wrap."""
    value &= (1 << 64) - 1
    return value - (1 << 64) if value >= 1 << 63 else value


def counter_uniform(seeds: torch.Tensor, stream: int, epoch: int, step: int, shape: tuple[int, ...],
                    device=None) -> torch.Tensor:
    """Counter-based uniforms in (0, 1], float64, shape ``(models, *shape)``: a pure function of
    ``(seed, stream, epoch, step, position)``, so every model draws the same numbers alone or in
    any ensemble, on any device, with no generator state and no loop over models."""
    seeds = torch.as_tensor(seeds, dtype=torch.int64, device=device).reshape(-1)
    count = math.prod(shape)
    index = torch.arange(count, dtype=torch.int64, device=seeds.device)
    golden = -7046029254386353131  # 0x9E3779B97F4A7C15 as a signed int64
    # counter * 7146284364453076505 wrapped to int64 on the host: a Python scalar, no tensor to copy
    offset = _wrap64((stream * 1_000_003 + epoch * 7_919 + step + 1) * 7146284364453076505)
    key = _mix64(seeds * golden + offset)
    z = _mix64(key[:, None] + (index[None, :] + 1) * golden)
    uniform = (((z >> 11) & ((1 << 53) - 1)).to(torch.float64) + 1.0) * 2.0**-53
    return uniform.view(seeds.shape[0], *shape)


def pixel_order(seeds: torch.Tensor, epoch: int, n_pixels: int, batch_size: int, device=None) -> torch.Tensor:
    """Each model's pixel order in ``epoch``, ``(models, steps, batch)``; the incomplete last
    batch is dropped (a BatchNorm batch of one pixel is undefined)."""
    steps = n_pixels // batch_size
    keys = counter_uniform(seeds, 0, epoch, 0, (n_pixels,), device)
    return keys.argsort(dim=1)[:, : steps * batch_size].view(-1, steps, batch_size)


def dropout_noise(seeds: torch.Tensor, epoch: int, step: int, batch_size: int, endmembers: int,
                  dropout: float, device=None) -> torch.Tensor:
    """Gaussian-dropout factors ``1 + d N(0, 1)``, ``(models, batch, R)``, float64 (Box-Muller)."""
    u = counter_uniform(seeds, 1, epoch, step, (2, batch_size, endmembers), device)
    normal = torch.sqrt(-2.0 * torch.log(u[:, 0])) * torch.cos(2.0 * math.pi * u[:, 1])
    return 1.0 + dropout * normal


def counter_linear(seeds: torch.Tensor, schemes: torch.Tensor, layer: int, epoch: int, step: int,
                   fan_in: int, fan_out: int, gain: float, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Fresh weights of linear layer ``layer`` for the models ``seeds (n,)``, each from its own init
    scheme (``schemes (n,)``: index into :data:`INIT_SCHEMES`, scaled as :func:`init_scale`):
    ``(weight (n, fan_out, fan_in), bias (n, fan_out))``, float64. Counter-based (stream
    ``2 + layer``, keyed by ``(seed, epoch, step)``), so a model's draw does not depend on which
    other models draw with it, nor on the device. Normals by Box-Muller."""
    u = counter_uniform(seeds, 2 + layer, epoch, step, (2, fan_out, fan_in + 1), device)
    normal = torch.sqrt(-2.0 * torch.log(u[:, 0])) * torch.cos(2.0 * math.pi * u[:, 1])
    uniform = 2.0 * u[:, 0] - 1.0
    # Each model's (normal?, scale, bias bound) selected on the device from Python scalars: no
    # host table to copy per call (the Table 3 reinitialisation calls this every step).
    is_normal = torch.zeros_like(schemes, dtype=torch.bool)
    scale = torch.zeros_like(schemes, dtype=torch.float64)
    bias_bound = torch.zeros_like(schemes, dtype=torch.float64)
    for code, name in enumerate(INIT_SCHEMES):
        normal_draw, weight_scale, bound = init_scale(name, fan_in, fan_out, gain)
        chosen = schemes == code
        is_normal = is_normal | (chosen & normal_draw)
        scale = torch.where(chosen, weight_scale, scale)
        bias_bound = torch.where(chosen, bound, bias_bound)
    draw = torch.where(is_normal[:, None, None], normal, uniform)
    return draw[..., :fan_in] * scale[:, None, None], uniform[..., fan_in] * bias_bound[:, None]


def reconstruction_loss(x: torch.Tensor, x_hat: torch.Tensor, loss: str) -> torch.Tensor:
    """Per-model training loss over the last two axes ``(..., batch, L)``: ``"mse"`` (mean squared
    error) or ``"sad"`` (mean spectral angle, radians)."""
    if loss == "mse":
        return ((x - x_hat) ** 2).mean(dim=(-2, -1))
    if loss == "sad":
        cos = (x * x_hat).sum(-1) / (x.norm(dim=-1) * x_hat.norm(dim=-1)).clamp_min(1e-12)
        return torch.acos(cos.clamp(-1 + 1e-7, 1 - 1e-7)).mean(-1)
    raise ValueError(f"loss must be 'mse' or 'sad', got {loss!r}")


class _SoftThreshold(nn.Module):
    def __init__(self, alpha: torch.Tensor):
        super().__init__()
        self.alpha = nn.Parameter(alpha.clone())

    def forward(self, h):
        return torch.relu(h - self.alpha)


class UnmixingAE(nn.Module):
    """One autoencoder built from :func:`initial_weights` (cast to ``dtype``).

    ``forward(x, noise=None)`` takes ``x: (batch, L)`` and returns ``(abundances (batch, R),
    reconstruction (batch, L), bottleneck (batch, R))``; ``bottleneck`` is the last encoder
    layer's activation (basic: after its ReLU), used for the dead-activation coefficients.
    """

    def __init__(self, config: AEConfig, weights: dict[str, torch.Tensor], dtype=torch.float32):
        super().__init__()
        self.config = config
        layers = config.linear_layers()
        self.encoder = nn.ModuleList()
        for i, (fan_in, fan_out, bias) in enumerate(layers[:-1]):
            layer = nn.Linear(fan_in, fan_out, bias=bias, dtype=dtype)
            with torch.no_grad():
                layer.weight.copy_(weights[f"W{i}"])
                layer.bias.copy_(weights[f"b{i}"])
            self.encoder.append(layer)
        self.decoder = nn.Linear(config.endmembers, config.bands, bias=False, dtype=dtype)
        with torch.no_grad():
            self.decoder.weight.copy_(weights[f"W{len(layers) - 1}"])
        if config.architecture == "original":
            self.batch_norm = nn.BatchNorm1d(config.endmembers, eps=BN_EPS, momentum=BN_MOMENTUM, dtype=dtype)
            with torch.no_grad():
                self.batch_norm.weight.copy_(weights["gamma"])
                self.batch_norm.bias.copy_(weights["beta"])
            self.threshold = _SoftThreshold(weights["alpha"].to(dtype))

    def forward(self, x: torch.Tensor, noise: torch.Tensor | None = None):
        activation = torch.sigmoid if self.config.architecture == "original" else torch.relu
        h = x
        for layer in self.encoder:
            h = activation(layer(h))
        bottleneck = h
        if self.config.architecture == "original":
            h = self.threshold(self.batch_norm(h))
        h = h + SUM_TO_ONE_EPS
        abundances = h / h.sum(dim=-1, keepdim=True)
        code = abundances * noise if (self.training and noise is not None) else abundances
        return abundances, self.decoder(code), bottleneck

    def endmembers(self) -> torch.Tensor:
        """Endmember estimate ``(L, R)``: the decoder weights."""
        return self.decoder.weight.detach()


def train_single(model: UnmixingAE, X: torch.Tensor, *, loss: str, batch_size: int, lr: float,
                 epochs: int, run_seed: int) -> list[float]:
    """Train one model with Adam, the plain PyTorch way; return the per-step losses.

    ``X: (pixels, L)`` already scaled, on the model's device. Data order and dropout noise are
    those of :func:`pixel_order` and :func:`dropout_noise` for ``run_seed``, drawn on ``X``'s
    device; the losses stay there until the end (one host read in all).
    """
    fused = X.device.type in _FUSED_ADAM  # as the ensemble, where torch has the fused kernel
    optimiser = torch.optim.Adam(model.parameters(), lr=lr, fused=fused or None)
    model.train()
    seeds = torch.full((1,), run_seed, dtype=torch.int64, device=X.device)
    losses = []
    for epoch in range(epochs):
        order = pixel_order(seeds, epoch, X.shape[0], batch_size, X.device)[0]
        for step in range(order.shape[0]):
            xb = X[order[step]]
            noise = None
            if model.config.dropout > 0:
                noise = dropout_noise(seeds, epoch, step, batch_size, model.config.endmembers,
                                      model.config.dropout, X.device)[0].to(X.dtype)
            _, x_hat, _ = model(xb, noise)
            value = reconstruction_loss(xb, x_hat, loss)
            optimiser.zero_grad()
            value.backward()
            optimiser.step()
            losses.append(value.detach())
    return torch.stack(losses).tolist() if losses else []


def stack_initial_weights(config: AEConfig, scheme: str, seeds: Sequence[int]) -> dict[str, torch.Tensor]:
    """:func:`initial_weights` of several models stacked on a leading model axis."""
    per_model = [initial_weights(config, scheme, s) for s in seeds]
    return {k: torch.stack([w[k] for w in per_model]) for k in per_model[0]}
