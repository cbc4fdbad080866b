"""Forward and hand-written backward of M stacked unmixing autoencoders (the ensemble engine's step).

The models of :mod:`companion.nets.unmixing_ae` are two- to four-layer networks; for them
autograd's bookkeeping (a graph per step, gradients zeroed then accumulated) costs as much as the
arithmetic. Here the backward pass is written out layer by layer and every parameter gradient is
written straight into a preallocated buffer (``out=``), so nothing is zeroed or accumulated.
Shapes: ``x: (M, batch, L)``; weights ``W{i}: (M, fan_out, fan_in)``, biases ``b{i}: (M,
fan_out)``, BatchNorm ``gamma``, ``beta`` and thresholds ``alpha``: ``(M, R)``; the decoder
``D`` is the last ``W``, ``(M, L, R)``, which the training step holds transposed, ``D^T: (M, R,
L)`` (the layout of its fast products here). ``tests/test_engine_backprop.py`` checks every
gradient against autograd.

Some products of under 400 multiply-adds per model are a broadcast on the CPU (:func:`contract`):
there ``torch.bmm`` runs a scalar loop per model, slow when a short contraction has many outputs.

The MSE step forms the residual ``x_hat - x`` once (one ``baddbmm``) and reads it three times.
The SAD step never forms the reconstruction ``x_hat = c D^T`` ``(M, batch, L)``: the decoder is
linear of rank R (3 or 4), so with ``xD = x D`` and the Gram matrix ``G = D^T D`` ``(M, R, R)``,
``<x, x_hat> = sum_R c xD`` and ``|x_hat|^2 = sum_R c (c G)``, and the gradients need only ``xD``
and ``x^T (u c)`` ``(M, L, R)``: the batch of spectra is read twice and nothing of its size is
written. (The cosine is as accurate as from ``x_hat``; the MSE is not formed this way because
``|x|^2 - 2 <x, x_hat> + |x_hat|^2`` loses digits to cancellation, 3e-3 relative in float32 at a
1 % residual.)

Derivatives (per model; ``B`` pixels in the batch, ``c`` the code fed to the decoder):

* linear ``z = h W^T + b``: ``dW = dz^T h``, ``db = sum_B dz``, ``dh = dz W``;
* ReLU ``h = max(z, 0)``: ``dz = dh [h > 0]``; sigmoid ``h = s(z)``: ``dz = dh h (1 - h)``;
* BatchNorm (training, biased batch variance) ``n = (h - mu) / sqrt(var + eps)``, ``y = gamma n +
  beta``: ``dgamma = sum_B dy n``, ``dbeta = sum_B dy``, ``dh = (dn - mean_B dn - n mean_B(dn n))
  / sqrt(var + eps)`` with ``dn = gamma dy``: aten's own batch-norm kernels forward and backward
  (``native_batch_norm``, ``native_batch_norm_backward``, those of ``nn.BatchNorm1d``), with
  each (model, unit) pair a channel;
* soft threshold ``t = max(y - alpha, 0)``: ``dy = dt [t > 0]``, ``dalpha = -sum_B dy``;
* sum-to-one ``a = s / S``, ``S = sum_R s``: ``ds = (da - sum_R(da a)) / S``;
* Gaussian dropout ``c = a * noise``: ``da = dc * noise``;
* MSE ``(1 / BL) |x_hat - x|^2``: with ``r = x_hat - x``, ``dD^T = (2 / BL) c^T r`` and
  ``dc = (2 / BL) r D``;
* SAD, with ``dx_hat = u x - v x_hat`` (``u, v: (M, B)``): ``dD = x^T (u c) - D (c^T (v c))`` and
  ``dc = u xD - v (c G)``; for ``theta = acos(clamp(cos))``,
  ``cos = <x, x_hat> / max(|x| |x_hat|, 1e-12)``: with ``k =
  dtheta/dcos / B = -1 / (B sqrt(1 - cos^2))`` inside the clamp (0 outside, as autograd's clamp),
  ``u = k / den`` and ``v = k cos / |x_hat|^2`` where the denominator is not clamped (else 0).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from companion.nets.unmixing_ae import BN_EPS, BN_MOMENTUM, SUM_TO_ONE_EPS, AEConfig

__all__ = ["contract", "decode", "decoder_backward", "encode", "encoder_backward"]

SAD_CLAMP = 1e-7          # as reconstruction_loss: cos clamped to [-1 + 1e-7, 1 - 1e-7]
SAD_MIN_DENOMINATOR = 1e-12
NAIVE_BMM_WORK = 400      # below this many multiply-adds per matrix, aten's CPU bmm loops per model
SHORT_CONTRACTION = 4     # ... where a contraction this short
MANY_OUTPUTS = 64         # ... into this many outputs per matrix is faster as a broadcast (contract)


def contract(a: torch.Tensor, b: torch.Tensor, out: torch.Tensor | None = None,
             bias: torch.Tensor | None = None) -> torch.Tensor:
    """Batched matrix product ``a @ b`` (plus ``bias``, broadcast to ``(M, n, p)``), ``a: (M, n,
    k)``, ``b: (M, k, p)``, written into ``out`` ``(M, n, p)`` when given (without ``bias``).
    ``torch.bmm``, except for products below :data:`NAIVE_BMM_WORK` multiply-adds per matrix
    (where aten's CPU ``bmm`` runs a scalar kernel model by model) with a contraction of at most
    :data:`SHORT_CONTRACTION` into at least :data:`MANY_OUTPUTS` outputs: on the CPU those are one
    broadcast product ``(M, n, k, p)`` summed over ``k`` (measured at M = 181 on one thread:
    ``(4 x 3) @ (3 x 30)`` 54 us against 100 us; the other small products of the engine are faster
    in ``bmm``, e.g. ``(4 x 30) @ (30 x 3)`` 65 us against 224 us)."""
    n, k, p = a.shape[-2], a.shape[-1], b.shape[-1]
    if (a.device.type == "cpu" and k <= SHORT_CONTRACTION and n * p >= MANY_OUTPUTS
            and n * k * p < NAIVE_BMM_WORK):
        out = torch.sum(a.unsqueeze(-1) * b.unsqueeze(1), dim=2, out=out)
        return out if bias is None else out.add_(bias)
    return torch.bmm(a, b, out=out) if bias is None else torch.baddbmm(bias, a, b)


def encode(params: Mapping[str, torch.Tensor], x: torch.Tensor, config: AEConfig, *,
           running: dict[str, torch.Tensor] | None, training: bool, noise: torch.Tensor | None = None):
    """The encoder of all models on their own batch ``x: (M, batch, L)``; returns ``(abundances
    (M, batch, R), code (M, batch, R), bottleneck (M, batch, R), saved)``: ``code`` is what the
    decoder receives (the abundances times ``noise``, Gaussian dropout, in training mode),
    ``saved`` what :func:`encoder_backward` needs. ``running``: BatchNorm running statistics
    (``original``), updated in place in training mode and used in evaluation mode, as
    ``nn.BatchNorm1d`` does."""
    activation = torch.sigmoid_ if config.architecture == "original" else torch.relu_
    n_encoder = len(config.linear_layers()) - 1
    hidden = [x]
    for i in range(n_encoder):
        hidden.append(activation(contract(hidden[-1], params[f"W{i}"].transpose(1, 2),
                                          bias=params[f"b{i}"].unsqueeze(1))))
    bottleneck = hidden[-1]
    saved = {"hidden": hidden}
    if config.architecture == "original":
        M, batch, R = bottleneck.shape
        channels = bottleneck.transpose(0, 1).reshape(batch, M * R)   # every (model, unit) a channel
        normalised, batch_mean, batch_inv_std = torch.native_batch_norm(
            channels, params["gamma"].view(-1), params["beta"].view(-1), running["mean"].view(-1),
            running["var"].view(-1), training, BN_MOMENTUM, BN_EPS)
        s = torch.relu(normalised.view(batch, M, R).transpose(0, 1) - params["alpha"].unsqueeze(1))
        saved |= {"channels": channels, "batch_mean": batch_mean, "batch_inv_std": batch_inv_std,
                  "threshold_out": s}
    else:
        s = bottleneck
    s = s + SUM_TO_ONE_EPS
    total = s.sum(dim=-1, keepdim=True)
    abundances = s / total
    noise = noise if training else None
    code = abundances if noise is None else abundances * noise
    saved |= {"total": total, "abundances": abundances, "noise": noise}
    return abundances, code, bottleneck, saved


def decode(code: torch.Tensor, decoder: torch.Tensor) -> torch.Tensor:
    """Reconstruction ``(M, batch, L)`` of ``code (M, batch, R)`` by ``decoder (M, L, R)``."""
    return contract(code, decoder.transpose(1, 2))


def decoder_backward(x: torch.Tensor, x_norm: torch.Tensor, code: torch.Tensor, decoder_t: torch.Tensor,
                     loss: str, d_decoder_t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-model loss ``(M,)`` of :func:`unmixing_ae.reconstruction_loss` of the reconstruction
    of ``code`` against ``x: (M, batch, L)`` (``x_norm: (M, batch)`` the spectra's norms), and the
    gradient with respect to ``code`` ``(M, batch, R)``. The decoder is given transposed,
    ``decoder_t = D^T: (M, R, L)``, and the gradient with respect to it is written into
    ``d_decoder_t (M, R, L)``. SAD never forms the reconstruction (module docstring)."""
    batch, bands = x.shape[-2], x.shape[-1]
    if loss == "mse":
        scale = 2.0 / (batch * bands)
        residual = torch.baddbmm(x, code, decoder_t, beta=-1)                      # x_hat - x
        value = torch.linalg.vector_norm(residual, dim=(-2, -1)).square() / (batch * bands)
        torch.bmm(code.transpose(1, 2), residual, out=d_decoder_t).mul_(scale)
        return value, torch.bmm(residual, decoder_t.transpose(1, 2)).mul_(scale)
    xD = torch.bmm(x, decoder_t.transpose(1, 2))                                 # (M, batch, R)
    code_gram = contract(code, torch.bmm(decoder_t, decoder_t.transpose(1, 2)))  # c G
    dot = torch.linalg.vecdot(code, xD)                                          # <x, x_hat> (M, batch)
    hat_sq = torch.linalg.vecdot(code, code_gram)                                # |x_hat|^2
    if loss == "sad":
        product = x_norm * hat_sq.clamp_min(0).sqrt()
        denominator = product.clamp_min(SAD_MIN_DENOMINATOR)
        cos = dot / denominator
        clamped = cos.clamp(-1 + SAD_CLAMP, 1 - SAD_CLAMP)
        inside = (cos >= -1 + SAD_CLAMP) & (cos <= 1 - SAD_CLAMP)
        k = torch.where(inside, -1.0 / (batch * torch.sqrt(1 - clamped * clamped)), 0.0)
        u = k / denominator
        tiny = torch.finfo(x.dtype).tiny
        v = torch.where(product >= SAD_MIN_DENOMINATOR, k * cos / hat_sq.clamp_min(tiny), 0.0)
        value = torch.acos(clamped).mean(-1)
    else:
        raise ValueError(f"loss must be 'mse' or 'sad', got {loss!r}")
    torch.bmm((code * u.unsqueeze(-1)).transpose(1, 2), x, out=d_decoder_t)    # (u c)^T x
    d_decoder_t.sub_(contract(contract(code.transpose(1, 2), code * v.unsqueeze(-1)), decoder_t))
    d_code = xD * u.unsqueeze(-1) - code_gram * v.unsqueeze(-1)
    return value, d_code


def encoder_backward(params: Mapping[str, torch.Tensor], grads: Mapping[str, torch.Tensor], saved: Mapping,
                     d_code: torch.Tensor, config: AEConfig) -> None:
    """Write the gradient of the summed per-model losses with respect to every encoder parameter
    into ``grads`` (same keys and shapes as ``params``, overwritten, never accumulated), from the
    ``saved`` values of :func:`encode` in training mode and ``d_code (M, batch, R)``."""
    n_encoder = len(config.linear_layers()) - 1
    d_a = d_code if saved["noise"] is None else d_code * saved["noise"]
    d_s = (d_a - torch.linalg.vecdot(d_a, saved["abundances"]).unsqueeze(-1)) / saved["total"]
    hidden = saved["hidden"]
    if config.architecture == "original":
        M, batch, R = d_s.shape
        d_y = torch.ops.aten.threshold_backward(d_s, saved["threshold_out"], 0)
        d_channels, d_gamma, d_beta = torch.ops.aten.native_batch_norm_backward(
            d_y.transpose(0, 1).reshape(batch, M * R), saved["channels"], params["gamma"].view(-1),
            None, None,
            saved["batch_mean"], saved["batch_inv_std"], True, BN_EPS, [True, True, True])
        grads["gamma"].view(-1).copy_(d_gamma)
        grads["beta"].view(-1).copy_(d_beta)
        torch.neg(grads["beta"], out=grads["alpha"])
        d_h = d_channels.view(batch, M, R).transpose(0, 1)
    else:
        d_h = d_s
    for i in range(n_encoder - 1, -1, -1):
        h = hidden[i + 1]
        if config.architecture == "original":
            d_z = torch.ops.aten.sigmoid_backward(d_h, h)
        else:
            d_z = torch.ops.aten.threshold_backward(d_h, h, 0)
        contract(d_z.transpose(1, 2), hidden[i], out=grads[f"W{i}"])
        torch.sum(d_z, dim=1, out=grads[f"b{i}"])
        if i > 0:
            d_h = contract(d_z, params[f"W{i}"])
