"""Inference time of a trained U-ADMM-AENet-II against SUnSAL run to the same RMSE, in one run.

Usage: ``HU_DATA_DIR=../shared/data python benchmarks/admm_inference.py [--snr 25] [--epochs 100]
[--threads 1]``. On the paper's synthetic scene (100 x 100 pixels, 6 USGS endmembers, a = 10),
AENet-II (2 blocks, ADMM start from the true endmembers) is trained on 1000 random pixels, then
unmixes the full image; its RMSE is the target. SUnSAL (``companion.classic.sunsal``, lambda 0
as its reference default, non-negative, true endmembers) is run with 1, 2, 4, ... iterations
until its RMSE reaches the target; both are timed (best of several calls) and the wall-time
ratio is printed. When SUnSAL never reaches the network's RMSE, the ratio is taken against
SUnSAL run to its own convergence and says so.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from companion import metrics
from companion.classic import sunsal
from companion.data.scenes import uadmm_scene
from companion.experiments.admm_unfolding import SUNSAL_LAMBDA
from companion.experiments.unrolled import train_indices
from companion.nets.admm_unfolding import UnfoldedADMM, train_supervised


def best_of(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def normalise(X: np.ndarray) -> np.ndarray:
    X = X + 1e-8
    return X / X.sum(axis=0, keepdims=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--snr", type=float, default=25.0)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: leave default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU")
    hsi = uadmm_scene(args.snr, scene_seed=0, endmember_seed=0)
    idx = train_indices(hsi.n_pixels, 1000, [0])[0]
    model = UnfoldedADMM(hsi.endmembers[None], K=2, tied=False)
    Y_train = torch.as_tensor(hsi.Y[:, idx].T, dtype=torch.float32)
    X_train = torch.as_tensor(hsi.abundances[:, idx].T, dtype=torch.float32)
    start = time.perf_counter()
    train_supervised(model, Y_train, X_train, epochs=args.epochs, seeds=[0])
    train_time = time.perf_counter() - start
    Y_all = torch.as_tensor(hsi.Y.T, dtype=torch.float32)

    def network():
        with torch.no_grad():
            return model(Y_all)[0].numpy().T

    t_net, X_net = best_of(network, 20)
    target = metrics.rmse_per_pixel_mean(hsi.abundances, X_net)
    print(f"scene: {hsi.n_pixels} pixels, {hsi.Y.shape[0]} bands, p = {hsi.p}, SNR {args.snr:g} dB")
    print(f"AENet-II: trained {args.epochs} epochs on 1000 pixels in {train_time:.1f} s; "
          f"inference {1e3 * t_net:.2f} ms, RMSE {target:.4f}")

    reached = None
    for iterations in 2 ** np.arange(0, 12):
        X = normalise(sunsal(hsi.Y, hsi.endmembers, lam=SUNSAL_LAMBDA, max_iter=int(iterations), tol=0.0,
                             device="cpu"))
        rmse = metrics.rmse_per_pixel_mean(hsi.abundances, X)
        if rmse <= target:
            reached = (int(iterations), rmse)
            break
    if reached:
        iterations, rmse = reached
        t_sun, _ = best_of(lambda: sunsal(hsi.Y, hsi.endmembers, lam=SUNSAL_LAMBDA, max_iter=iterations,
                                          tol=0.0, device="cpu"), 5)
        print(f"SUnSAL: reaches RMSE {rmse:.4f} <= {target:.4f} after {iterations} iterations, "
              f"{1e3 * t_sun:.2f} ms")
    else:
        t_sun, X = best_of(lambda: sunsal(hsi.Y, hsi.endmembers, lam=SUNSAL_LAMBDA, device="cpu"), 3)
        rmse = metrics.rmse_per_pixel_mean(hsi.abundances, normalise(X))
        print(f"SUnSAL: never reaches RMSE {target:.4f} (up to 2048 iterations); run to its own "
              f"convergence (tol 1e-4) it gives RMSE {rmse:.4f} in {1e3 * t_sun:.2f} ms")
    print(f"wall-time ratio SUnSAL / AENet-II inference: {t_sun / t_net:.1f}x")


if __name__ == "__main__":
    main()
