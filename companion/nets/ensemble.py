"""Train thousands of small unmixing autoencoders at once, as one batched computation.

The weights of M models (:mod:`companion.nets.unmixing_ae`) are stacked on a leading model axis
(``W: (M, out, in)``), so one ``baddbmm`` runs a layer of every model; the summed loss gives each
model exactly its own gradient, and Adam, being elementwise, keeps per-model moments. BatchNorm
statistics, dropout noise and pixel order are per model too (the latter two from counter-based
random numbers keyed by each model's run seed), so a model trained here follows the trajectory it
would follow alone: ``tests/test_ensemble.py`` checks this against :func:`unmixing_ae.train_single`.
A model whose loss becomes NaN is recorded as diverged; it cannot disturb the others.

Reinitialisation (Książek et al. Sec. 2.6) monitors the dead-activation coefficients of the
second encoder layer (the ``basic`` bottleneck) every iteration.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch

from companion.nets.unmixing_ae import (
    BN_EPS,
    BN_MOMENTUM,
    INIT_SCHEMES,
    SUM_TO_ONE_EPS,
    AEConfig,
    _draw_linear,
    dropout_noise,
    pixel_order,
    reconstruction_loss,
)

__all__ = ["REINIT_METHODS", "Reinitialisation", "dead_coefficients", "forward", "models_per_chunk",
           "train_ensemble", "unmix"]

REINIT_METHODS = ("whole", "layer", "partial")
REINIT_LAYER = 1  # the second encoder layer


def dead_coefficients(activations: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Dead-activation coefficients of one layer, ``activations: (M, batch, units)``.

    Returns ``(d_layer (M,), d_neuron (M, units))``: the fraction of zero activations over the
    whole layer (eq. 1) and per neuron (eq. 2)."""
    zero = (activations == 0).to(activations.dtype)
    return zero.mean(dim=(1, 2)), zero.mean(dim=1)


def forward(params: Mapping[str, torch.Tensor], x: torch.Tensor, config: AEConfig, *,
            running: dict[str, torch.Tensor] | None, training: bool,
            noise: torch.Tensor | None = None):
    """All models on their own batch ``x: (M, batch, L)``.

    Returns ``(abundances (M, batch, R), reconstruction (M, batch, L), bottleneck (M, batch, R))``.
    ``running`` holds the BatchNorm running statistics (``original``), updated in training mode
    and used in evaluation mode, as ``nn.BatchNorm1d`` does.
    """
    activation = torch.sigmoid if config.architecture == "original" else torch.relu
    n_encoder = len(config.linear_layers()) - 1
    h = x
    for i in range(n_encoder):
        h = activation(torch.baddbmm(params[f"b{i}"].unsqueeze(1), h, params[f"W{i}"].transpose(1, 2)))
    bottleneck = h
    if config.architecture == "original":
        if training:
            mean, var = h.mean(dim=1), h.var(dim=1, unbiased=False)
            with torch.no_grad():
                n = h.shape[1]
                running["mean"].mul_(1 - BN_MOMENTUM).add_(BN_MOMENTUM * mean)
                running["var"].mul_(1 - BN_MOMENTUM).add_(BN_MOMENTUM * var * n / max(n - 1, 1))
        else:
            mean, var = running["mean"], running["var"]
        h = (h - mean.unsqueeze(1)) / torch.sqrt(var.unsqueeze(1) + BN_EPS)
        h = h * params["gamma"].unsqueeze(1) + params["beta"].unsqueeze(1)
        h = torch.relu(h - params["alpha"].unsqueeze(1))
    h = h + SUM_TO_ONE_EPS
    abundances = h / h.sum(dim=-1, keepdim=True)
    code = abundances * noise if (training and noise is not None) else abundances
    decoder = params[f"W{n_encoder}"]
    return abundances, torch.bmm(code, decoder.transpose(1, 2)), bottleneck


@dataclass(frozen=True)
class Reinitialisation:
    """Per-model reinitialisation rules for an ensemble of M models (Sec. 2.6).

    ``methods[m]`` is ``"whole"`` (all weights of the model), ``"layer"`` (the whole second
    encoder layer), ``"partial"`` (only the weights and bias of the second-layer neurons whose own
    coefficient exceeds the threshold) or ``None`` (never: a baseline trained alongside).
    ``whole`` and ``layer`` fire when the layer coefficient exceeds ``thresholds[m]``. Checked every
    iteration, after the optimiser step; new weights come from ``schemes[m]`` and a generator
    seeded with ``seed``; Adam's moments of replaced entries are reset to zero.
    """

    methods: tuple[str | None, ...]
    thresholds: tuple[float, ...]
    schemes: tuple[str, ...]
    seed: int = 0

    def __post_init__(self):
        if not len(self.methods) == len(self.thresholds) == len(self.schemes):
            raise ValueError("methods, thresholds and schemes need one entry per model")
        bad = {m for m in self.methods if m is not None and m not in REINIT_METHODS}
        if bad:
            raise ValueError(f"reinitialisation methods must be in {REINIT_METHODS} or None, "
                             f"got {sorted(bad)}")
        if any(not 0.0 <= t <= 1.0 for t in self.thresholds):
            raise ValueError("thresholds must lie in [0, 1]")


def _reinitialise(params, optimiser, config, method, threshold, scheme_code, d_layer, d_neuron,
                  generator) -> torch.Tensor:
    """Apply the reinitialisation rule in place (``method``: ``{name: (M,) bool}``, ``threshold: (M,)``,
    ``scheme_code: (M,)`` index into ``INIT_SCHEMES``, all precomputed on the device); return the
    ``(M,)`` mask of models that were touched. Batched over models: one draw per layer and scheme."""
    over = d_layer > threshold
    whole, layer = method["whole"] & over, method["layer"] & over
    dead_neurons = d_neuron > threshold.unsqueeze(1)
    neurons = (method["partial"].unsqueeze(1) & dead_neurons) | (whole | layer).unsqueeze(1)
    touched = neurons.any(dim=1)
    if not bool(touched.any()):
        return touched
    for i, (fan_in, fan_out, bias) in enumerate(config.linear_layers()):
        rows = neurons if i == REINIT_LAYER else whole.unsqueeze(1).expand(-1, fan_out)   # (M, fan_out)
        index = rows.any(dim=1).nonzero().flatten()
        if len(index) == 0:
            continue
        codes = scheme_code[index]
        fresh_w = torch.empty((len(index), fan_out, fan_in), dtype=torch.float64)
        fresh_b = torch.empty((len(index), fan_out), dtype=torch.float64) if bias else None
        for code in codes.unique().tolist():                     # at most four schemes
            pick = (codes == code).cpu()
            w, b = _draw_linear(fan_in, fan_out, bias, INIT_SCHEMES[code], generator, count=int(pick.sum()))
            fresh_w[pick] = w
            if bias:
                fresh_b[pick] = b
        mask = rows[index]
        for name, new in ((f"W{i}", fresh_w), (f"b{i}", fresh_b)):
            if new is None:
                continue
            p = params[name]
            m = mask.view(*mask.shape, *([1] * (p.ndim - 2)))
            p.data[index] = torch.where(m, new.to(p), p.data[index])
            state = optimiser.state.get(p, {})
            for moment in ("exp_avg", "exp_avg_sq"):
                if moment in state:
                    state[moment][index] = torch.where(m, 0.0, state[moment][index])
    return touched


def train_ensemble(X: torch.Tensor, config: AEConfig, weights: Mapping[str, torch.Tensor],
                   run_seeds: torch.Tensor, *, loss: str, batch_size: int, lr: float, epochs: int,
                   reinit: Reinitialisation | None = None, progress=None) -> dict:
    """Train M models together; ``X: (pixels, L)`` scaled data on the target device and dtype,
    ``weights``: stacked initial weights ``(M, ...)`` (cast to X's dtype), ``run_seeds: (M,)``.

    Returns ``{"params", "running", "final_loss" (M,) mean loss of the last epoch,
    "dead" (M,) mean dead-activation coefficient of the bottleneck over the last epoch,
    "reinitialised" (M,) number of iterations that reinitialised the model}``.
    """
    device, dtype = X.device, X.dtype
    params = {k: v.to(device=device, dtype=dtype).clone().requires_grad_(True) for k, v in weights.items()}
    M = len(run_seeds)
    seeds = torch.as_tensor(run_seeds, dtype=torch.int64, device=device)
    running = {"mean": torch.zeros(M, config.endmembers, device=device, dtype=dtype),
               "var": torch.ones(M, config.endmembers, device=device, dtype=dtype)}
    optimiser = torch.optim.Adam(list(params.values()), lr=lr, fused=True)  # one pass per tensor
    generator = torch.Generator().manual_seed(reinit.seed) if reinit else None
    if reinit is not None:
        method = {name: torch.tensor([m == name for m in reinit.methods], device=device)
                  for name in REINIT_METHODS}
        threshold = torch.tensor(reinit.thresholds, device=device, dtype=dtype)
        scheme_code = torch.tensor([INIT_SCHEMES.index(s) for s in reinit.schemes], device=device)
    reinitialised = torch.zeros(M, dtype=torch.int64, device=device)
    for epoch in range(epochs):
        order = pixel_order(seeds, epoch, X.shape[0], batch_size, device)
        steps = order.shape[1]
        loss_sum = torch.zeros(M, device=device, dtype=dtype)
        dead_sum = torch.zeros(M, device=device, dtype=dtype)
        for step in range(steps):
            xb = X[order[:, step]]                                    # (M, batch, L)
            noise = None
            if config.dropout > 0:
                noise = dropout_noise(seeds, epoch, step, batch_size, config.endmembers, config.dropout,
                                      device).to(dtype)
            _, x_hat, bottleneck = forward(params, xb, config, running=running, training=True, noise=noise)
            per_model = reconstruction_loss(xb, x_hat, loss)
            optimiser.zero_grad(set_to_none=False)  # reuse the buffers: fresh large tensors cost page faults
            per_model.sum().backward()
            optimiser.step()
            with torch.no_grad():
                d_layer, d_neuron = dead_coefficients(bottleneck)
                loss_sum += per_model.detach()
                dead_sum += d_layer
                if reinit is not None:
                    reinitialised += _reinitialise(params, optimiser, config, method, threshold, scheme_code,
                                                   d_layer, d_neuron, generator).long()
        if progress is not None:
            progress.update(1)
    return {"params": {k: v.detach() for k, v in params.items()}, "running": running,
            "final_loss": loss_sum / steps, "dead": dead_sum / steps, "reinitialised": reinitialised}


@torch.no_grad()
def unmix(params: Mapping[str, torch.Tensor], running: Mapping[str, torch.Tensor], X: torch.Tensor,
          config: AEConfig, block: int = 2048) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Evaluate trained models on every pixel (evaluation mode, no dropout).

    Returns ``(abundances (M, pixels, R), endmembers (M, L, R), reconstruction RMSE per pixel
    (M, pixels))``; pixels go through in blocks of ``block`` to bound memory.
    """
    M = params["W0"].shape[0]
    abundances, rmse = [], []
    for start in range(0, X.shape[0], block):
        xb = X[start:start + block].unsqueeze(0).expand(M, -1, -1)
        a, x_hat, _ = forward(params, xb, config, running=dict(running), training=False)
        abundances.append(a)
        rmse.append(((xb - x_hat) ** 2).mean(dim=-1).sqrt())
    decoder = params[f"W{len(config.linear_layers()) - 1}"]
    return torch.cat(abundances, dim=1), decoder, torch.cat(rmse, dim=1)


def models_per_chunk(config: AEConfig, n_pixels: int, batch_size: int, device: torch.device,
                     dtype: torch.dtype = torch.float32, budget_bytes: int | None = None,
                     block: int = 2048) -> int:
    """How many models to train at once so that one chunk fits ``budget_bytes`` (default: half
    the free GPU memory on CUDA, 2 GiB on CPU). Counts parameters with gradients and Adam
    moments, training activations, the epoch's pixel order and the evaluation block."""
    if budget_bytes is None:
        if device.type == "cuda":
            budget_bytes = torch.cuda.mem_get_info(device)[0] // 2
        else:
            budget_bytes = 2 * 1024**3
    layers = config.linear_layers()
    n_params = sum(fi * fo + (fo if b else 0) for fi, fo, b in layers) + 3 * config.endmembers
    widths = sum(fo for _, fo, _ in layers) + config.bands
    itemsize = torch.empty((), dtype=dtype).element_size()
    per_model = (4 * n_params + 6 * batch_size * widths + 2 * min(block, n_pixels) * widths) * itemsize
    per_model += 3 * n_pixels * 8                                   # pixel keys and order (int64/float64)
    return max(1, int(budget_bytes // per_model))
