"""DeepGU's latent step (eq. 12): batched BFGS over all pixels against a per-pixel SciPy loop.

Usage: ``HU_DATA_DIR=../shared/data OMP_NUM_THREADS=1 python benchmarks/deepgu_latent_step.py``.
On DC1 (4900 pixels, P = 3, K = 2) with VAEs trained as in the chapter (then cast to float64 so
both solvers see the same objective), from the FCLS abundances and ``Z_n = Z0``:

* batched: ``experiments.deepgu.latent_step`` on every pixel at once (tolerance 1e-3, Sec. VII);
* reference: ``scipy.optimize.minimize(method="L-BFGS-B")`` called once per pixel with the same
  objective and its autograd gradient, the way the reference code calls its L-BFGS per pixel.
  The loop is timed on a random subset of ``SUBSET`` pixels and its time *extrapolated* linearly
  to all pixels (it is an independent problem per pixel).

Prints both times, the speed ratio, and the objective values both reach on the subset.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from scipy.optimize import minimize

from companion.experiments import deepgu as exp
from companion.nets.vae import train_vaes

SUBSET = 200
LAM_Z = 0.1


def main() -> None:
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    hsi = exp.synthetic_scene("dc1", seed=0).hsi
    M0, A0 = exp._reference(hsi, seed=0)
    data = torch.as_tensor(np.clip(exp.bundles(hsi.Y, M0, 100), 0, 1), dtype=torch.float32)
    vae = train_vaes(data, [0, 1, 2])[0].double()
    with torch.no_grad():
        Z0 = vae.encode(torch.as_tensor(M0.T[:, None, :]))[0][:, 0]
    Y, A = torch.as_tensor(hsi.Y.T), torch.as_tensor(A0.T)
    N, (P, K) = Y.shape[0], Z0.shape
    Z_init = Z0.expand(N, P, K).clone()

    start = time.perf_counter()
    Z, info = exp.latent_step(vae.decode, Y, A, Z_init, Z0, LAM_Z, max_iter=50, tol=1e-3)
    t_batched = time.perf_counter() - start
    with torch.no_grad():
        f_batched = exp.latent_objective(vae.decode, Y, A, Z.reshape(N, -1), Z0, LAM_Z).numpy()

    subset = np.sort(np.random.default_rng(0).choice(N, SUBSET, replace=False))
    f_scipy = np.empty(SUBSET)
    start = time.perf_counter()
    for j, n in enumerate(subset):
        def fun(z, n=n):
            zt = torch.as_tensor(z).reshape(1, -1).requires_grad_(True)
            value = exp.latent_objective(vae.decode, Y[n:n + 1], A[n:n + 1], zt, Z0, LAM_Z).sum()
            value.backward()
            return value.item(), zt.grad.numpy().ravel()
        f_scipy[j] = minimize(fun, Z0.numpy().ravel(), jac=True, method="L-BFGS-B").fun
    t_loop = (time.perf_counter() - start) * N / SUBSET

    f_start = exp.latent_objective(vae.decode, Y[subset], A[subset], Z_init[subset].reshape(SUBSET, -1),
                                   Z0, LAM_Z).detach().numpy()
    fb = f_batched[subset]
    print(f"DC1: {N} pixels, D = P*K = {P * K} unknowns per pixel, lambda_Z = {LAM_Z}")
    print(f"batched BFGS, all pixels:      {t_batched:8.2f} s ({info['iterations']} iterations, "
          f"{info['evaluations']} batched evaluations)")
    print(f"SciPy L-BFGS-B loop:           {t_loop:8.2f} s (timed on {SUBSET} pixels, extrapolated to {N})")
    print(f"speed ratio:                   {t_loop / t_batched:8.1f}x")
    print(f"objective on the {SUBSET} pixels: start {f_start.mean():.6f}, batched {fb.mean():.6f}, "
          f"scipy {f_scipy.mean():.6f}")
    print(f"relative gap (batched - scipy) / scipy: median {np.median((fb - f_scipy) / f_scipy):.2e}, "
          f"max {np.max((fb - f_scipy) / f_scipy):.2e}")


if __name__ == "__main__":
    main()
