"""DeepGU's latent step (eq. 12): batched BFGS over all pixels against a per-pixel SciPy loop.

Usage: ``HU_DATA_DIR=../shared/data OMP_NUM_THREADS=1 python benchmarks/deepgu_latent_step.py``.
On DC1 (4900 pixels, P = 3, K = 2) with VAEs trained as in the chapter, from the FCLS abundances
and ``Z_n = Z0``:

* batched: ``nets.deepgu.latent_step`` on every pixel at once (tolerance 1e-3, Sec. VII),
  in float32 as in the chapter;
* reference: ``scipy.optimize.minimize(method="L-BFGS-B")`` called once per pixel with the same
  objective and its autograd gradient, the way the reference code calls its L-BFGS per pixel.
  The loop is timed on a random subset of ``SUBSET`` pixels and its time *extrapolated* linearly
  to all pixels (it is an independent problem per pixel). It runs in float64 (SciPy's precision).

Prints both times, the speed ratio, and the objective values both reach on the subset, both
evaluated in float64 with the same decoders.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from scipy.optimize import minimize

from companion.data.scenes import variability_scene
from companion.experiments import deepgu as exp
from companion.nets import deepgu as net
from companion.nets.vae import train_vaes

SUBSET = 200
LAM_Z = 0.1


def main() -> None:
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    hsi = variability_scene("dc1", seed=0).hsi
    M0, A0 = exp._reference(hsi, seed=0)
    data = torch.as_tensor(np.clip(net.bundles(hsi.Y, M0, 100), 0, 1), dtype=torch.float32)
    vae32 = train_vaes(data, [0, 1, 2])[0]
    with torch.no_grad():
        Z0_32 = vae32.encode(torch.as_tensor(M0.T[:, None, :], dtype=torch.float32))[0][:, 0]
    Y32, A32 = torch.as_tensor(hsi.Y.T, dtype=torch.float32), torch.as_tensor(A0.T, dtype=torch.float32)
    N, (P, K) = Y32.shape[0], Z0_32.shape

    start = time.perf_counter()
    Z, info = net.latent_step(vae32.decode, Y32, A32, Z0_32.expand(N, P, K).clone(), Z0_32, LAM_Z,
                              max_iter=50, tol=1e-3)
    t_batched = time.perf_counter() - start

    vae, Z0 = vae32.double(), Z0_32.double()
    Y, A = torch.as_tensor(hsi.Y.T), torch.as_tensor(A0.T)
    Z_init = Z0.expand(N, P, K).clone()
    with torch.no_grad():
        f_batched = net.latent_objective(vae.decode, Y, A, Z.double().reshape(N, -1), Z0, LAM_Z).numpy()
    start = time.perf_counter()
    Z64, info64 = net.latent_step(vae.decode, Y, A, Z_init, Z0, LAM_Z, max_iter=50, tol=1e-3)
    t_batched64 = time.perf_counter() - start
    with torch.no_grad():
        f_batched64 = net.latent_objective(vae.decode, Y, A, Z64.reshape(N, -1), Z0, LAM_Z).numpy()

    subset = np.sort(np.random.default_rng(0).choice(N, SUBSET, replace=False))
    f_scipy = np.empty(SUBSET)
    start = time.perf_counter()
    for j, n in enumerate(subset):
        def fun(z, n=n):
            zt = torch.as_tensor(z).reshape(1, -1).requires_grad_(True)
            value = net.latent_objective(vae.decode, Y[n:n + 1], A[n:n + 1], zt, Z0, LAM_Z).sum()
            value.backward()
            return value.item(), zt.grad.numpy().ravel()
        f_scipy[j] = minimize(fun, Z0.numpy().ravel(), jac=True, method="L-BFGS-B").fun
    t_loop = (time.perf_counter() - start) * N / SUBSET

    f_start = net.latent_objective(vae.decode, Y[subset], A[subset], Z_init[subset].reshape(SUBSET, -1),
                                   Z0, LAM_Z).detach().numpy()
    fb = f_batched[subset]
    print(f"DC1: {N} pixels, D = P*K = {P * K} unknowns per pixel, lambda_Z = {LAM_Z}")
    print(f"batched BFGS (float32):        {t_batched:8.2f} s ({info['iterations']} iterations, "
          f"{info['evaluations']} batched evaluations)")
    print(f"SciPy L-BFGS-B loop (float64): {t_loop:8.2f} s (timed on {SUBSET} pixels, extrapolated to {N})")
    print(f"batched BFGS (float64):        {t_batched64:8.2f} s ({info64['iterations']} iterations)")
    print(f"speed ratio:                   {t_loop / t_batched:8.1f}x (float32), "
          f"{t_loop / t_batched64:.1f}x (float64)")
    print(f"objective on the {SUBSET} pixels: start {f_start.mean():.6f}, batched {fb.mean():.6f}, "
          f"batched float64 {f_batched64[subset].mean():.6f}, scipy {f_scipy.mean():.6f}")
    print(f"relative gap (batched - scipy) / scipy: median {np.median((fb - f_scipy) / f_scipy):.2e}, "
          f"max {np.max((fb - f_scipy) / f_scipy):.2e}")


if __name__ == "__main__":
    main()
