"""Forward and hand-written backward of M stacked unmixing autoencoders (the ensemble engine's step).

The models of :mod:`companion.nets.unmixing_ae` are two- to four-layer networks; for them
autograd's bookkeeping (a graph per step, gradients zeroed then accumulated) costs as much as the
arithmetic. Here the backward pass is written out layer by layer and every parameter gradient is
written straight into a preallocated buffer (``out=``), so nothing is zeroed or accumulated.
Shapes: ``x: (M, batch, L)``; weights ``W{i}: (M, fan_out, fan_in)``, biases ``b{i}: (M,
fan_out)``, BatchNorm ``gamma``, ``beta`` and thresholds ``alpha``: ``(M, R)``; the decoder is the
last ``W`` ``(M, L, R)``. ``tests/test_engine_backprop.py`` checks every gradient against autograd.

Derivatives (per model; ``B`` pixels in the batch):

* linear ``z = h W^T + b``: ``dW = dz^T h``, ``db = sum_B dz``, ``dh = dz W``;
* ReLU ``h = max(z, 0)``: ``dz = dh [h > 0]``; sigmoid ``h = s(z)``: ``dz = dh h (1 - h)``;
* BatchNorm (training, biased batch variance) ``n = (h - mu) / sqrt(var + eps)``, ``y = gamma n +
  beta``: ``dgamma = sum_B dy n``, ``dbeta = sum_B dy``, ``dh = (dn - mean_B dn - n mean_B(dn n))
  / sqrt(var + eps)`` with ``dn = gamma dy``;
* soft threshold ``t = max(y - alpha, 0)``: ``dy = dt [t > 0]``, ``dalpha = -sum_B dy``;
* sum-to-one ``a = s / S``, ``S = sum_R s``: ``ds = (da - sum_R(da a)) / S``;
* Gaussian dropout ``c = a * noise``: ``da = dc * noise``;
* losses as :func:`unmixing_ae.reconstruction_loss`: MSE ``dx_hat = 2 (x_hat - x) / (B L)``;
  SAD ``theta = acos(clamp(cos))``, ``cos = <x, x_hat> / max(|x| |x_hat|, 1e-12)``:
  ``dcos = -1 / (B sqrt(1 - cos^2))`` inside the clamp (0 outside, as autograd's clamp), and
  ``dx_hat = dcos (x / den - cos x_hat / |x_hat|^2)`` where the denominator is not clamped.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from companion.nets.unmixing_ae import BN_EPS, BN_MOMENTUM, SUM_TO_ONE_EPS, AEConfig

__all__ = ["backward", "forward_saved", "loss_gradient"]

SAD_CLAMP = 1e-7          # as reconstruction_loss: cos clamped to [-1 + 1e-7, 1 - 1e-7]
SAD_MIN_DENOMINATOR = 1e-12


def forward_saved(params: Mapping[str, torch.Tensor], x: torch.Tensor, config: AEConfig, *,
                  running: dict[str, torch.Tensor] | None, training: bool,
                  noise: torch.Tensor | None = None):
    """All models on their own batch ``x: (M, batch, L)``; returns ``(abundances (M, batch, R),
    reconstruction (M, batch, L), bottleneck (M, batch, R), saved)`` where ``saved`` holds what
    :func:`backward` needs. ``running``: BatchNorm running statistics (``original``), updated in
    place in training mode and used in evaluation mode, as ``nn.BatchNorm1d`` does. ``noise``
    ``(M, batch, R)`` multiplies the abundances in training mode (Gaussian dropout)."""
    activation = torch.sigmoid if config.architecture == "original" else torch.relu
    n_encoder = len(config.linear_layers()) - 1
    hidden = [x]
    for i in range(n_encoder):
        hidden.append(activation(torch.baddbmm(params[f"b{i}"].unsqueeze(1), hidden[-1],
                                               params[f"W{i}"].transpose(1, 2))))
    bottleneck = hidden[-1]
    saved = {"hidden": hidden}
    if config.architecture == "original":
        if training:
            mean, var = bottleneck.mean(dim=1), bottleneck.var(dim=1, unbiased=False)
            n = bottleneck.shape[1]
            running["mean"].mul_(1 - BN_MOMENTUM).add_(mean, alpha=BN_MOMENTUM)
            running["var"].mul_(1 - BN_MOMENTUM).add_(var, alpha=BN_MOMENTUM * n / max(n - 1, 1))
        else:
            mean, var = running["mean"], running["var"]
        inv_std = torch.rsqrt(var + BN_EPS).unsqueeze(1)                     # (M, 1, R)
        normalised = (bottleneck - mean.unsqueeze(1)) * inv_std
        s = torch.relu(torch.addcmul(params["beta"].unsqueeze(1), normalised, params["gamma"].unsqueeze(1))
                       - params["alpha"].unsqueeze(1))
        saved |= {"inv_std": inv_std, "normalised": normalised, "threshold_out": s}
    else:
        s = bottleneck
    s = s + SUM_TO_ONE_EPS
    total = s.sum(dim=-1, keepdim=True)
    abundances = s / total
    code = abundances * noise if (training and noise is not None) else abundances
    decoder = params[f"W{n_encoder}"]
    saved |= {"total": total, "abundances": abundances, "code": code, "noise": noise if training else None}
    return abundances, torch.bmm(code, decoder.transpose(1, 2)), bottleneck, saved


def loss_gradient(x: torch.Tensor, x_hat: torch.Tensor, loss: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-model loss ``(M,)`` of :func:`unmixing_ae.reconstruction_loss` and its gradient with
    respect to ``x_hat`` ``(M, batch, L)``, for ``x, x_hat: (M, batch, L)``."""
    batch, bands = x.shape[-2], x.shape[-1]
    if loss == "mse":
        diff = x_hat - x
        return (diff * diff).mean(dim=(-2, -1)), diff * (2.0 / (batch * bands))
    if loss == "sad":
        dot = (x * x_hat).sum(-1)
        norm_hat_sq = (x_hat * x_hat).sum(-1)
        product = x.norm(dim=-1) * norm_hat_sq.sqrt()
        denominator = product.clamp_min(SAD_MIN_DENOMINATOR)
        cos = dot / denominator
        clamped = cos.clamp(-1 + SAD_CLAMP, 1 - SAD_CLAMP)
        inside = (cos >= -1 + SAD_CLAMP) & (cos <= 1 - SAD_CLAMP)
        d_cos = torch.where(inside, -1.0 / (batch * torch.sqrt(1 - clamped * clamped)), 0.0)    # (M, batch)
        d_norm = torch.where(product >= SAD_MIN_DENOMINATOR,
                             d_cos * cos / norm_hat_sq.clamp_min(torch.finfo(x.dtype).tiny), 0.0)
        grad = (d_cos / denominator).unsqueeze(-1) * x - d_norm.unsqueeze(-1) * x_hat
        return torch.acos(clamped).mean(-1), grad
    raise ValueError(f"loss must be 'mse' or 'sad', got {loss!r}")


def backward(params: Mapping[str, torch.Tensor], grads: Mapping[str, torch.Tensor], saved: Mapping,
             d_x_hat: torch.Tensor, config: AEConfig) -> None:
    """Write the gradient of the summed per-model losses with respect to every parameter into
    ``grads`` (same keys and shapes as ``params``, overwritten, never accumulated), from the
    ``saved`` values of :func:`forward_saved` in training mode and ``d_x_hat (M, batch, R)``."""
    n_encoder = len(config.linear_layers()) - 1
    decoder = params[f"W{n_encoder}"]
    torch.bmm(d_x_hat.transpose(1, 2), saved["code"], out=grads[f"W{n_encoder}"])
    d_a = torch.bmm(d_x_hat, decoder)                                          # (M, batch, R)
    if saved["noise"] is not None:
        d_a = d_a * saved["noise"]
    a = saved["abundances"]
    d_s = (d_a - (d_a * a).sum(-1, keepdim=True)) / saved["total"]
    hidden = saved["hidden"]
    if config.architecture == "original":
        d_y = d_s * (saved["threshold_out"] > 0)
        normalised = saved["normalised"]
        torch.sum(d_y, dim=1, out=grads["beta"])
        torch.neg(grads["beta"], out=grads["alpha"])
        torch.sum(d_y * normalised, dim=1, out=grads["gamma"])
        d_n = d_y * params["gamma"].unsqueeze(1)
        d_h = (d_n - d_n.mean(dim=1, keepdim=True)
               - normalised * (d_n * normalised).mean(dim=1, keepdim=True)) * saved["inv_std"]
        h = hidden[-1]
        d_z = d_h * h * (1 - h)
    else:
        d_z = d_s * (hidden[-1] > 0)
    for i in range(n_encoder - 1, -1, -1):
        torch.bmm(d_z.transpose(1, 2), hidden[i], out=grads[f"W{i}"])
        torch.sum(d_z, dim=1, out=grads[f"b{i}"])
        if i == 0:
            break
        d_h = torch.bmm(d_z, params[f"W{i}"])
        h = hidden[i]
        d_z = d_h * h * (1 - h) if config.architecture == "original" else d_h * (h > 0)
