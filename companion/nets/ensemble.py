"""Train thousands of small unmixing autoencoders at once, as one batched computation.

The weights of M models (:mod:`companion.nets.unmixing_ae`) are stacked on a leading model axis
(``W: (M, out, in)``), so one batched product runs a layer of every model; each model's gradient is
its own loss's (the backward is per model), and Adam, being elementwise, keeps per-model moments. BatchNorm
statistics, dropout noise and pixel order are per model too (the latter two from counter-based
random numbers keyed by each model's run seed), so a model trained here follows the trajectory it
would follow alone: ``tests/test_ensemble.py`` checks this against :func:`unmixing_ae.train_single`.
A model whose loss becomes NaN is recorded as diverged; it cannot disturb the others.

Reinitialisation (Książek et al. Sec. 2.6) monitors the dead-activation coefficients of the
second encoder layer (the ``basic`` bottleneck; the ``original`` architecture is refused) every
iteration.

A training step is :mod:`companion.nets.ensemble_backprop`'s forward and hand-written backward
(gradients written in place), one fused Adam pass (:class:`EnsembleAdam`) and the
dead-activation bookkeeping; it reads nothing back to the host, so on CUDA it is captured once as
a CUDA graph and replayed (``cuda_graph``). On the CPU, chunks are sized for the caches
(:func:`models_per_chunk`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch

from companion.nets.ensemble_backprop import decode, decoder_backward, encode, encoder_backward
from companion.nets.unmixing_ae import (
    INIT_SCHEMES,
    AEConfig,
    counter_linear,
    dropout_noise,
    pixel_order,
)

__all__ = ["ADAM_STEP_CHOICES", "CPU_STEP_BYTES", "REINIT_METHODS", "EnsembleAdam", "Reinitialisation",
           "dead_coefficients", "eval_block", "evaluate", "forward", "models_per_chunk", "step_bytes",
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
    and used in evaluation mode, as ``nn.BatchNorm1d`` does (:func:`ensemble_backprop.encode`).
    """
    abundances, code, bottleneck, _ = encode(params, x, config, running=running, training=training,
                                             noise=noise)
    return abundances, decode(code, params[f"W{len(config.linear_layers()) - 1}"]), bottleneck


ADAM_STEP_CHOICES = ("keep", "reset")


@dataclass(frozen=True)
class Reinitialisation:
    """Per-model reinitialisation rules for an ensemble of M models (Sec. 2.6).

    ``methods[m]`` is ``"whole"`` (all weights of the model), ``"layer"`` (the whole second
    encoder layer), ``"partial"`` (only the weights and bias of the second-layer neurons whose own
    coefficient exceeds the threshold) or ``None`` (never: a baseline trained alongside).
    ``whole`` and ``layer`` fire when the layer coefficient exceeds ``thresholds[m]``. Checked every
    iteration, after the optimiser step; new weights come from ``schemes[m]`` as counter-based
    draws keyed by the model's run seed, epoch and step (:func:`unmixing_ae.counter_linear`), so
    a model reinitialises identically alone or in any chunk.

    Adam's state of replaced entries (the paper does not say; ATE has no reinitialisation code):
    the first and second moments are always reset to zero, as for a fresh parameter;
    ``adam_step="keep"`` keeps the step count of the bias correction (one count per tensor, as
    ``torch.optim.Adam``), ``"reset"`` restarts it for the replaced entries (:class:`EnsembleAdam`
    with ``entrywise_steps``).
    """

    methods: tuple[str | None, ...]
    thresholds: tuple[float, ...]
    schemes: tuple[str, ...]
    adam_step: str = "keep"

    def __post_init__(self):
        if not len(self.methods) == len(self.thresholds) == len(self.schemes):
            raise ValueError("methods, thresholds and schemes need one entry per model")
        bad = {m for m in self.methods if m is not None and m not in REINIT_METHODS}
        if bad:
            raise ValueError(f"reinitialisation methods must be in {REINIT_METHODS} or None, "
                             f"got {sorted(bad)}")
        if any(not 0.0 <= t <= 1.0 for t in self.thresholds):
            raise ValueError("thresholds must lie in [0, 1]")
        if self.adam_step not in ADAM_STEP_CHOICES:
            raise ValueError(f"adam_step must be one of {ADAM_STEP_CHOICES}, got {self.adam_step!r}")

    def __getitem__(self, part: slice) -> Reinitialisation:
        """The rules of the models in ``part`` (a chunk)."""
        return Reinitialisation(self.methods[part], self.thresholds[part], self.schemes[part], self.adam_step)


class EnsembleAdam:
    """Adam (Kingma and Ba; ``torch.optim.Adam`` without amsgrad) over the named tensors
    ``params`` with their gradients in ``grads`` (written by :func:`ensemble_backprop.backward`,
    never accumulated, so nothing is zeroed). ``weight_decay`` adds ``weight_decay * p`` to the
    gradient, as ``torch.optim.Adam`` does.

    ``state[name]`` holds ``exp_avg``, ``exp_avg_sq`` and ``step``. With ``entrywise_steps=False``
    every tensor shares one step count (a 0-d float32 tensor on the parameters' device, as
    ``torch.optim.Adam``'s per-tensor counts, which move together) and one fused kernel updates
    all tensors (``torch._fused_adam_``, the kernel of ``torch.optim.Adam(fused=True)``). With
    ``entrywise_steps=True`` the count is one per entry, shaped as the parameter, so that
    reinitialised entries can restart their bias correction. Either way ``step()`` reads nothing
    back to the host."""

    def __init__(self, params: Mapping[str, torch.Tensor], grads: Mapping[str, torch.Tensor], lr: float,
                 betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0,
                 entrywise_steps: bool = False):
        self.params, self.grads = dict(params), dict(grads)
        self.lr, self.betas, self.eps, self.weight_decay = lr, betas, eps, weight_decay
        self.entrywise_steps = entrywise_steps
        first = next(iter(self.params.values()))
        shared = torch.zeros((), dtype=torch.float32, device=first.device)
        self.state = {k: {"exp_avg": torch.zeros_like(p), "exp_avg_sq": torch.zeros_like(p),
                          "step": torch.zeros_like(p) if entrywise_steps else shared}
                      for k, p in self.params.items()}
        self._lists = [list(d.values()) for d in (self.params, self.grads)] + \
            [[s[key] for s in self.state.values()] for key in ("exp_avg", "exp_avg_sq", "step")]

    @torch.no_grad()
    def step(self):
        beta1, beta2 = self.betas
        if not self.entrywise_steps:
            params, grads, exp_avgs, exp_avg_sqs, steps = self._lists
            steps[0].add_(1)
            torch._fused_adam_(params, grads, exp_avgs, exp_avg_sqs, [], steps, lr=self.lr, beta1=beta1,
                               beta2=beta2, weight_decay=self.weight_decay, eps=self.eps, amsgrad=False,
                               maximize=False)
            return
        for k, p in self.params.items():
            state, grad = self.state[k], self.grads[k]
            if self.weight_decay:
                grad = grad.add(p, alpha=self.weight_decay)
            state["step"].add_(1)
            state["exp_avg"].lerp_(grad, 1 - beta1)
            state["exp_avg_sq"].mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            correction1 = 1 - torch.pow(beta1, state["step"])
            correction2 = 1 - torch.pow(beta2, state["step"])
            denom = (state["exp_avg_sq"] / correction2).sqrt_().add_(self.eps)
            p.addcdiv_(state["exp_avg"], denom * correction1, value=-self.lr)


class _Rules:
    """A :class:`Reinitialisation` as device tensors, plus which models each layer may redraw."""

    def __init__(self, reinit: Reinitialisation, config: AEConfig, device, dtype):
        self.method = {name: torch.tensor([m == name for m in reinit.methods], device=device)
                       for name in REINIT_METHODS}
        self.threshold = torch.tensor(reinit.thresholds, device=device, dtype=dtype)
        self.scheme = torch.tensor([INIT_SCHEMES.index(s) for s in reinit.schemes], device=device)
        whole = [i for i, m in enumerate(reinit.methods) if m == "whole"]
        any_method = [i for i, m in enumerate(reinit.methods) if m is not None]
        self.candidates = [torch.tensor(any_method if i == REINIT_LAYER else whole, dtype=torch.int64,
                                        device=device) for i in range(len(config.linear_layers()))]
        self.gain = config.init_gain


def _reinitialise(params, optimiser: EnsembleAdam, config: AEConfig, rules: _Rules, seeds: torch.Tensor,
                  epoch: int, step: int, d_layer: torch.Tensor, d_neuron: torch.Tensor) -> torch.Tensor:
    """Apply the reinitialisation rules in place; return the ``(M,)`` mask of models touched.

    No host synchronisation on an accelerator: each layer redraws the rows of every model whose
    method may touch it (a fixed set) and keeps the old values where the rule did not fire. On
    the CPU, where synchronisation is free, only the models that fired draw."""
    over = d_layer > rules.threshold
    whole = rules.method["whole"] & over
    fired = whole | (rules.method["layer"] & over)
    neurons = (rules.method["partial"].unsqueeze(1) & (d_neuron > rules.threshold.unsqueeze(1))) \
        | fired.unsqueeze(1)                                                   # (M, units)
    decoder = len(config.linear_layers()) - 1
    for i, (fan_in, fan_out, bias) in enumerate(config.linear_layers()):
        index = rules.candidates[i]
        rows = neurons if i == REINIT_LAYER else whole.unsqueeze(1).expand(-1, fan_out)   # (M, fan_out)
        if index.device.type == "cpu":
            index = index[rows[index].any(dim=1)]
        if len(index) == 0:
            continue
        w, b = counter_linear(seeds[index], rules.scheme[index], i, epoch, step, fan_in, fan_out, rules.gain,
                              index.device)
        mask = rows[index]                                                      # (n, fan_out)
        for name, new in ((f"W{i}", w), (f"b{i}", b if bias else None)):
            if new is None:
                continue
            p = params[name]
            if i == decoder:                 # held as D^T (train_ensemble); replaced whole or not at all
                new, m = new.transpose(1, 2), mask[:, :1, None]
            else:
                m = mask.view(*mask.shape, *([1] * (p.ndim - 2)))
            p[index] = torch.where(m, new.to(p), p[index])
            for value in optimiser.state[name].values():   # moments, and entrywise step counts
                if value.shape == p.shape:
                    value[index] = torch.where(m, 0.0, value[index])
    return neurons.any(dim=1)


def _train_step(params, grads, optimiser: EnsembleAdam, xb: torch.Tensor, x_norm: torch.Tensor,
                noise: torch.Tensor | None, running, config: AEConfig, loss: str, loss_sum: torch.Tensor,
                dead_sum: torch.Tensor):
    """One optimisation step of every model on its batch ``xb: (M, batch, L)`` (``x_norm: (M,
    batch)`` the spectra's norms): forward, hand-written backward, Adam. ``params`` and ``grads``
    hold the decoder as ``D^T (M, R, L)``. Adds the per-model loss and the bottleneck's dead
    coefficient to ``loss_sum``, ``dead_sum`` ``(M,)`` in place. Returns ``(d_layer (M,),
    d_neuron (M, units))`` of :func:`dead_coefficients`. All inputs and outputs live at fixed
    addresses and nothing is read back to the host, so a CUDA graph can capture it."""
    _, code, bottleneck, saved = encode(params, xb, config, running=running, training=True, noise=noise)
    decoder = f"W{len(config.linear_layers()) - 1}"                        # held as D^T (M, R, L)
    per_model, d_code = decoder_backward(xb, x_norm, code, params[decoder], loss, grads[decoder])
    encoder_backward(params, grads, saved, d_code, config)
    optimiser.step()
    d_layer, d_neuron = dead_coefficients(bottleneck)
    loss_sum.add_(per_model)
    dead_sum.add_(d_layer)
    return d_layer, d_neuron


class _CudaGraphStep:
    """Calls ``step`` eagerly ``warmup`` times (on a side stream, as CUDA graph capture requires),
    then captures the next call once as a CUDA graph and replays it on every later call, returning
    the captured outputs (their values refreshed by each replay). ``step`` must take its inputs from
    fixed tensors and never synchronise with the host (:func:`_train_step`). Removes the launch
    overhead of the step's ~100 small kernels."""

    def __init__(self, step, warmup: int = 3):
        self.step, self.warmup, self.calls = step, warmup, 0
        self.graph, self.outputs = None, None

    def __call__(self):
        if self.graph is None and self.calls < self.warmup:
            self.calls += 1
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                outputs = self.step()
            torch.cuda.current_stream().wait_stream(side)
            return outputs
        if self.graph is None:
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph):
                self.outputs = self.step()
        self.graph.replay()
        return self.outputs


def train_ensemble(X: torch.Tensor, config: AEConfig, weights: Mapping[str, torch.Tensor],
                   run_seeds: torch.Tensor, *, loss: str, batch_size: int, lr: float, epochs: int,
                   weight_decay: float = 0.0, reinit: Reinitialisation | None = None, progress=None,
                   cuda_graph: bool | None = None) -> dict:
    """Train M models together; ``X: (pixels, L)`` scaled data on the target device and dtype,
    ``weights``: stacked initial weights ``(M, ...)`` (cast to X's dtype), ``run_seeds: (M,)``.
    Adam with learning rate ``lr`` and L2 ``weight_decay`` (ATE's Table 1 runs: 0).
    ``cuda_graph``: replay the training step as a CUDA graph (:class:`_CudaGraphStep`); default
    on for CUDA devices; refused elsewhere.

    Returns ``{"params", "running", "final_loss" (M,) mean loss of the last epoch,
    "dead" (M,) mean dead-activation coefficient of the bottleneck over the last epoch,
    "reinitialised" (M,) number of iterations that reinitialised the model}``.
    """
    device, dtype = X.device, X.dtype
    if cuda_graph is None:
        cuda_graph = device.type == "cuda"
    if cuda_graph and device.type != "cuda":
        raise ValueError(f"cuda_graph needs a CUDA device, got {device}")
    if reinit is not None and config.architecture != "basic":
        raise ValueError("reinitialisation watches the bottleneck as the second encoder layer, which only "
                         f"the 'basic' architecture has (Sec. 2.6), got {config.architecture!r}")
    decoder = f"W{len(config.linear_layers()) - 1}"

    def own(name: str, value: torch.Tensor) -> torch.Tensor:     # a contiguous copy; the decoder as D^T
        value = value.transpose(1, 2) if name == decoder else value
        return torch.empty(value.shape, device=device, dtype=dtype).copy_(value)

    params = {k: own(k, v) for k, v in weights.items()}
    grads = {k: torch.empty_like(v) for k, v in params.items()}
    M, bands = len(run_seeds), X.shape[1]
    seeds = torch.as_tensor(run_seeds, dtype=torch.int64, device=device)
    running = {"mean": torch.zeros(M, config.endmembers, device=device, dtype=dtype),
               "var": torch.ones(M, config.endmembers, device=device, dtype=dtype)}
    optimiser = EnsembleAdam(params, grads, lr=lr, weight_decay=weight_decay,
                             entrywise_steps=reinit is not None and reinit.adam_step == "reset")
    rules = _Rules(reinit, config, device, dtype) if reinit is not None else None
    reinitialised = torch.zeros(M, dtype=torch.int64, device=device)
    norms = X.norm(dim=1)                                                   # (pixels,)
    xb = torch.empty(M, batch_size, bands, device=device, dtype=dtype)      # the step's fixed inputs
    x_norm = torch.empty(M, batch_size, device=device, dtype=dtype)
    noise = torch.empty(M, batch_size, config.endmembers, device=device, dtype=dtype) \
        if config.dropout > 0 else None
    loss_sum, dead_sum = (torch.zeros(M, device=device, dtype=dtype) for _ in range(2))

    def step():
        return _train_step(params, grads, optimiser, xb, x_norm, noise, running, config, loss, loss_sum,
                           dead_sum)

    run_step = _CudaGraphStep(step) if cuda_graph else step
    steps = X.shape[0] // batch_size
    for epoch in range(epochs):
        order = pixel_order(seeds, epoch, X.shape[0], batch_size, device).transpose(0, 1).contiguous()
        loss_sum.zero_()
        dead_sum.zero_()
        for step_index in range(steps):
            rows = order[step_index].view(-1)
            torch.index_select(X, 0, rows, out=xb.view(-1, bands))
            torch.index_select(norms, 0, rows, out=x_norm.view(-1))
            if noise is not None:
                noise.copy_(dropout_noise(seeds, epoch, step_index, batch_size, config.endmembers,
                                          config.dropout, device))
            d_layer, d_neuron = run_step()
            if rules is not None:
                reinitialised += _reinitialise(params, optimiser, config, rules, seeds, epoch, step_index,
                                               d_layer, d_neuron)
        if progress is not None:
            progress.update(1)
    params[decoder] = params[decoder].transpose(1, 2).contiguous()
    return {"params": params, "running": running, "final_loss": loss_sum / steps, "dead": dead_sum / steps,
            "reinitialised": reinitialised}


def eval_block(M: int, config: AEConfig, n_pixels: int, itemsize: int = 4,
               budget_bytes: int = 512 * 1024**2) -> int:
    """Pixels per evaluation block so that M models' activations of one block take about
    ``budget_bytes``: evaluation memory does not grow with the training chunk."""
    widths = sum(fo for _, fo, _ in config.linear_layers()) + 2 * config.bands + 2 * config.endmembers
    return int(min(n_pixels, max(1, budget_bytes // (M * widths * itemsize))))


@torch.no_grad()
def evaluate(params: Mapping[str, torch.Tensor], running: Mapping[str, torch.Tensor], X: torch.Tensor,
             config: AEConfig, accumulate, block: int | None = None) -> None:
    """Run trained models on every pixel (evaluation mode, no dropout), block by block.

    For each block of pixels ``rows`` (a slice), calls ``accumulate(rows, abundances (M, b, R),
    rmse (M, b))`` with the per-pixel reconstruction RMSE; nothing of size ``(M, pixels)`` is
    kept. ``block`` defaults to :func:`eval_block`."""
    M = params["W0"].shape[0]
    block = block or eval_block(M, config, X.shape[0], X.element_size())
    for start in range(0, X.shape[0], block):
        rows = slice(start, start + block)
        xb = X[rows].unsqueeze(0).expand(M, -1, -1)
        a, x_hat, _ = forward(params, xb, config, running=dict(running), training=False)
        accumulate(rows, a, ((xb - x_hat) ** 2).mean(dim=-1).sqrt())


@torch.no_grad()
def unmix(params: Mapping[str, torch.Tensor], running: Mapping[str, torch.Tensor], X: torch.Tensor,
          config: AEConfig, block: int | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """All outputs of the trained models on every pixel, for a few models (memory ``M x pixels``):
    ``(abundances (M, pixels, R), endmembers (M, L, R), reconstruction RMSE per pixel (M, pixels))``."""
    abundances, rmse = [], []
    evaluate(params, running, X, config, lambda rows, a, r: (abundances.append(a), rmse.append(r)), block)
    decoder = params[f"W{len(config.linear_layers()) - 1}"]
    return torch.cat(abundances, dim=1), decoder, torch.cat(rmse, dim=1)


# Per-step working set of a CPU chunk (parameters, gradients, Adam moments, activations;
# :func:`step_bytes`): the chunk that keeps it near this size trains fastest. Measured on one
# thread of the Xeon this was developed on (2 MiB L2 per core, a shared 260 MiB L3;
# benchmarks/results/engine_chunk_sweep.md): the best chunks of Exp. 3, 4, 8, 9 and 10 touch 24
# to 52 MB per step (chunks of 128 to 256 models); four times smaller chunks lose 17-42 % to
# per-step overhead, the chunks of thousands that a 2 GiB memory budget gives lose to DRAM traffic.
# Exception: Exp. 1 (batch 100, activations dominate) is fastest at 16 models, 1.5x its rate here.
CPU_STEP_BYTES = 32 * 1024**2


def step_bytes(config: AEConfig, batch_size: int, itemsize: int = 4) -> int:
    """Bytes one model touches in a training step: parameters, their gradients and Adam's two
    moments, and about four activation tensors of each layer's width (inputs included)."""
    layers = config.linear_layers()
    n_params = sum(fi * fo + (fo if b else 0) for fi, fo, b in layers) + 3 * config.endmembers
    widths = sum(fo for _, fo, _ in layers) + config.bands
    return (4 * n_params + 4 * batch_size * widths) * itemsize


def models_per_chunk(config: AEConfig, n_pixels: int, batch_size: int, device: torch.device,
                     dtype: torch.dtype = torch.float32, budget_bytes: int | None = None) -> int:
    """How many models to train at once. With ``budget_bytes`` (default: half the free GPU
    memory on CUDA), so that one chunk fits it: counts parameters with gradients, Adam moments
    and step counts, the parameter-sized temporaries of a reinitialisation, training activations
    and the epoch's pixel order (keys, argsort); the evaluation is bounded separately
    (:func:`eval_block`). On the CPU without a budget, sized for the caches instead: a per-step
    working set (:func:`step_bytes`) of :data:`CPU_STEP_BYTES`, within 2 GiB of memory."""
    itemsize = torch.empty((), dtype=dtype).element_size()
    cache_limit = None
    if budget_bytes is None:
        if device.type == "cuda":
            budget_bytes = torch.cuda.mem_get_info(device)[0] // 2
        else:
            budget_bytes = 2 * 1024**3
            cache_limit = max(1, CPU_STEP_BYTES // step_bytes(config, batch_size, itemsize))
    layers = config.linear_layers()
    n_params = sum(fi * fo + (fo if b else 0) for fi, fo, b in layers) + 3 * config.endmembers
    widths = sum(fo for _, fo, _ in layers) + config.bands
    per_model = (7 * n_params + 6 * batch_size * widths) * itemsize
    per_model += 2 * n_params * 8                                   # float64 counter draws of a reinit.
    per_model += 4 * n_pixels * 8                                   # pixel keys, hashes, order (64 bit)
    fits = max(1, int(budget_bytes // per_model))
    return fits if cache_limit is None else min(fits, cache_limit)
