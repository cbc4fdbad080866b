"""Model-steps per second of the ensemble engine for every Table 1 experiment of Książek et al.,
against the per-model PyTorch loop and against memory-bandwidth bounds, in one run.

Usage: ``HU_DATA_DIR=../shared/data OMP_NUM_THREADS=1 python benchmarks/stability_engine.py
[--steps 40] [--loop-models 3] [--device cpu]``.

For each experiment (its architecture, loss, batch size, dropout and scene) the engine trains the
number of models per chunk that :func:`companion.experiments.stability._chunk` would use for the
paper's 4 x 50 x 50 models on this device, for ``steps`` optimisation steps (one epoch over the
first ``steps x batch`` pixels); the loop (``nn.Module`` + ``torch.optim.Adam``, one model after
another, :func:`~companion.nets.unmixing_ae.train_single`) trains ``loop_models`` models for the
same steps. Columns:

* ``engine`` and ``loop``: model-steps per second; ``engine/loop`` their ratio; ``engine, 256
  models``: the engine's rate at :data:`~companion.experiments.stability.CPU_CHUNK` models (a
  chunk that stays in the CPU caches), for comparison with the chunk that is used;
* ``bound here``: this device's streaming bound, ``B / (48 bytes x parameters per model)`` with
  ``B`` the bandwidth of one large ``c = a + b`` measured here (48 B per parameter and step: the
  parameter, its gradient and Adam's two moments, each read and written, float32);
  ``engine/bound`` how close the engine gets (a chunk that fits the caches can exceed it);
* ``H100 bound``: the same for 3 TB/s HBM (issue #17's target model);
* ``study here``: projected hours of this experiment at the paper's scale (4 schemes x 50 x 50
  models, 50 epochs of ``ceil(pixels / batch)`` steps) at the engine's rate here, one process;
  ``study H100``: the same at the H100 bound, in minutes.
"""

from __future__ import annotations

import argparse
import math
import time

import torch

from companion.experiments import stability as exp
from companion.nets import ensemble
from companion.nets import unmixing_ae as net

BYTES_PER_PARAMETER_STEP = 48  # parameter, gradient, Adam m and v: read + write, float32
H100_BYTES_PER_S = 3.0e12
PAPER_MODELS = 4 * 50 * 50     # schemes x initialisations x runs
PAPER_EPOCHS = 50


def parameters_per_model(config: net.AEConfig) -> int:
    """Trainable parameters of one autoencoder (linear layers and batch-norm scale and shift) plus
    its batch-norm running statistics, as counted by :func:`ensemble.models_per_chunk`."""
    linear = sum(fi * fo + (fo if bias else 0) for fi, fo, bias in config.linear_layers())
    return linear + 3 * config.endmembers


def streaming_bandwidth(device: torch.device, megabytes: int = 256, repeats: int = 5) -> float:
    """Bytes per second of ``torch.add(a, b, out=c)`` on float32 tensors of ``megabytes`` each
    (two reads, one write; best of ``repeats``)."""
    n = megabytes * 1024**2 // 4
    a, b, c = (torch.rand(n, device=device) for _ in range(3))
    best = math.inf
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        torch.add(a, b, out=c)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        best = min(best, time.perf_counter() - start)
    return 3 * n * 4 / best


def timed(fn) -> float:
    """Seconds taken by ``fn()`` (CUDA work included)."""
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start


def benchmark(experiment: int, scene: exp.Scene, steps: int, loop_models: int, bandwidth: float) -> dict:
    """One row of the table for ``experiment`` on ``scene``."""
    e = exp.EXPERIMENTS[experiment]
    config = exp.ae_config(experiment, scene)
    batch = e["batch_size"]
    X = scene.X[: steps * batch]
    chunk = exp._chunk(config, scene, experiment, PAPER_MODELS, None)
    weights = net.stack_initial_weights(config, "glorot_uniform", range(chunk))
    seeds = torch.arange(chunk)
    common = dict(loss=e["loss"], batch_size=batch, lr=e["lr"])
    ensemble.train_ensemble(X[: 2 * batch], config, {k: v[:2] for k, v in weights.items()}, seeds[:2],
                            epochs=1, **common)  # first-call costs
    t_engine = timed(lambda: ensemble.train_ensemble(X, config, weights, seeds, epochs=1, **common))
    small = min(chunk, exp.CPU_CHUNK)
    t_small = timed(lambda: ensemble.train_ensemble(X, config, {k: v[:small] for k, v in weights.items()},
                                                    seeds[:small], epochs=1, **common))

    def loop():
        for m in range(loop_models):
            model = net.UnmixingAE(config, {k: v[m] for k, v in weights.items()}).to(X.device)
            net.train_single(model, X, epochs=1, run_seed=m, **common)

    t_loop = timed(loop)
    n_params = parameters_per_model(config)
    engine, per_model_loop = chunk * steps / t_engine, loop_models * steps / t_loop
    bound_here = bandwidth / (BYTES_PER_PARAMETER_STEP * n_params)
    bound_h100 = H100_BYTES_PER_S / (BYTES_PER_PARAMETER_STEP * n_params)
    study_steps = PAPER_MODELS * PAPER_EPOCHS * math.ceil(scene.X.shape[0] / batch)
    return {"experiment": experiment, "scene": scene.name, "arch": e["arch"], "batch": batch,
            "parameters": n_params, "chunk": chunk, "engine": engine,
            f"engine, {exp.CPU_CHUNK} models": small * steps / t_small, "loop": per_model_loop,
            "engine/loop": engine / per_model_loop, "bound here": bound_here,
            "engine/bound": engine / bound_here, "H100 bound": bound_h100, "study model-steps": study_steps,
            "study here (h)": study_steps / engine / 3600,
            "study H100 bound (min)": study_steps / bound_h100 / 60}


def markdown(rows: list[dict]) -> str:
    """The rows as a Markdown table (rates in model-steps/s)."""
    def cell(value):
        if isinstance(value, float):
            return f"{value:,.2f}" if value < 100 else f"{value:,.0f}"
        return f"{value:,}" if isinstance(value, int) else str(value)

    head = list(rows[0])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(cell(r[k]) for k in head) + " |" for r in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40, help="optimisation steps timed per experiment")
    parser.add_argument("--loop-models", type=int, default=3, help="models trained by the per-model loop")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--experiments", type=int, nargs="+", default=list(exp.EXPERIMENTS))
    args = parser.parse_args()
    device = torch.device(args.device)
    bandwidth = streaming_bandwidth(device)
    from companion.runtime import device_name

    print(f"torch {torch.__version__} on {device_name(device)}; streaming bandwidth "
          f"{bandwidth / 1e9:.1f} GB/s; {args.steps} steps per experiment, loop of {args.loop_models} models",
          flush=True)
    scenes, rows = {}, []
    started = time.perf_counter()
    for e in args.experiments:
        name = exp.EXPERIMENTS[e]["dataset"]
        if name not in scenes:
            scenes[name] = exp.load_scene(name, device)
        rows.append(benchmark(e, scenes[name], args.steps, args.loop_models, bandwidth))
        print(f"experiment {e} done ({time.perf_counter() - started:.0f} s)", flush=True)
    print(markdown(rows))
    total_here = sum(r["study here (h)"] for r in rows)
    total_h100 = sum(r["study H100 bound (min)"] for r in rows)
    steps = sum(r["study model-steps"] for r in rows)
    print(f"\nTable 1 experiments {args.experiments}: {steps:,} model-steps at the paper's scale; "
          f"projected {total_here:.1f} h here at the engine's rate (one process), {total_h100:.1f} min at "
          f"the H100 bandwidth bound. Benchmark wall time {time.perf_counter() - started:.0f} s.")


if __name__ == "__main__":
    main()
