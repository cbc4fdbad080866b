"""Ensemble engine against the plain per-model PyTorch training loop, in one run.

Usage: ``HU_DATA_DIR=../shared/data OMP_NUM_THREADS=1 python benchmarks/ensemble_vs_loop.py``.
The work is Experiment 4 of Książek et al. (``basic``, n1 = 10, Samson, MSE, batch 4, Adam lr 1e-4)
for 1000 models on CPU, over the first ``pixels`` pixels (one epoch of ``pixels / 4`` steps).
The ensemble trains all 1000 models at once; the loop (``nn.Module`` + ``torch.optim.Adam``, one
model after another) is timed on ``loop_models`` of them and extrapolated per model-step, which is
exact for a loop whose models are independent and identical in cost. Prints model-steps per
second of both and their ratio.
"""

from __future__ import annotations

import argparse
import time

import torch

from companion.experiments.stability import load_scene
from companion.nets import ensemble
from companion.nets import unmixing_ae as net


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--loop-models", type=int, default=10)
    parser.add_argument("--pixels", type=int, default=800)
    args = parser.parse_args()
    scene = load_scene("samson", torch.device("cpu"))
    X = scene.X[: args.pixels]
    config = net.AEConfig("basic", X.shape[1], scene.E_true.shape[1], n1=10)
    batch, steps = 4, args.pixels // 4
    weights = net.stack_initial_weights(config, "glorot_uniform", range(args.models))
    seeds = torch.arange(args.models)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); basic AE, Samson "
          f"(L={X.shape[1]}, R={config.endmembers}), batch {batch}, {steps} steps per model")

    warm = {k: v[:2] for k, v in weights.items()}                   # first-call costs (imports, kernels)
    ensemble.train_ensemble(X[:40], config, warm, seeds[:2], loss="mse", batch_size=batch, lr=1e-4, epochs=1)
    net.train_single(net.UnmixingAE(config, {k: v[0] for k, v in weights.items()}), X[:40], loss="mse",
                     batch_size=batch, lr=1e-4, epochs=1, run_seed=0)

    start = time.perf_counter()
    out = ensemble.train_ensemble(X, config, weights, seeds, loss="mse", batch_size=batch, lr=1e-4, epochs=1)
    t_ensemble = time.perf_counter() - start
    rate_ensemble = args.models * steps / t_ensemble

    start = time.perf_counter()
    for m in range(args.loop_models):
        model = net.UnmixingAE(config, {k: v[m] for k, v in weights.items()})
        net.train_single(model, X, loss="mse", batch_size=batch, lr=1e-4, epochs=1, run_seed=m)
    t_loop = time.perf_counter() - start
    rate_loop = args.loop_models * steps / t_loop
    gap = float((model.endmembers() - out["params"]["W2"][args.loop_models - 1]).abs().max())

    print(f"ensemble: {args.models} models in {t_ensemble:.1f} s -> {rate_ensemble:,.0f} model-steps/s")
    print(f"loop:     {args.loop_models} models in {t_loop:.1f} s -> {rate_loop:,.0f} model-steps/s "
          f"(extrapolated to {args.models} models: {args.models * steps / rate_loop:.0f} s)")
    print(f"ratio (ensemble / loop): {rate_ensemble / rate_loop:.0f}x; "
          f"max |endmember difference| of model {args.loop_models - 1}: {gap:.1e}")


if __name__ == "__main__":
    main()
