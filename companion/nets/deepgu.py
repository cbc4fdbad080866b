"""DeepGU (Borsoi, Imbiriba, Bermudez, IEEE TCI 2019): the unmixing algorithm.

Algorithm 1: one bundle of the ``bundle_size`` pixels closest in spectral angle to each VCA
reference of ``M0``, one VAE per bundle (trained together, :mod:`companion.nets.vae`), then
alternate the latent step (eq. 12, batched BFGS over all pixels, :func:`latent_step`) and the
abundance step (eq. 13, ADMM with the '1,1' TV penalty the reference code uses for eq. 8,
:func:`companion.classic.unmix_tv`) until A and Z change by less than ``tol`` or ``outer`` steps.
Scenes, baselines, scoring and the chapter's studies are in :mod:`companion.experiments.deepgu`.

Pixels are in row-major image order throughout; per-pixel endmembers are ``(N, L, P)``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from ..classic import unmix_tv
from ..runtime import Timer, resolve_device
from .vae import train_vaes

__all__ = ["OFFICIAL", "bundles", "deepgu", "latent_objective", "latent_step"]


# Parameters of the reference code's examples 1 (DC1) and 2 (DC2), for every method (code).
OFFICIAL = {
    "dc1": {"deepgu_lambda_a": 0.05, "elmm": {"lam_s": 5.0, "lam_a": 0.05, "lam_psi": 1.0},
            "glmm": {"lam_m": 1.0, "lam_a": 0.05, "lam_psi": 1e3},
            "plmm": {"alpha": 0.01, "beta": 1e-9, "gamma": 0.01}},
    "dc2": {"deepgu_lambda_a": 0.01, "elmm": {"lam_s": 1.0, "lam_a": 0.05, "lam_psi": 1e3},
            "glmm": {"lam_m": 1.0, "lam_a": 0.01, "lam_psi": 1e3},
            "plmm": {"alpha": 0.1, "beta": 1e-5, "gamma": 10.0}},
}


def bundles(Y: np.ndarray, M0: np.ndarray, size: int) -> np.ndarray:
    """The ``size`` pixels of ``Y (L, N)`` closest in spectral angle to each column of ``M0``:
    ``(P, size, L)``."""
    Yn = Y / np.linalg.norm(Y, axis=0, keepdims=True)
    Mn = M0 / np.linalg.norm(M0, axis=0, keepdims=True)
    closest = np.argsort(-(Mn.T @ Yn), axis=1)[:, :size]                  # (P, size)
    return Y.T[closest]


def latent_objective(decode: Callable, Y: torch.Tensor, A: torch.Tensor, z: torch.Tensor,
                     Z0: torch.Tensor, lam_z: float) -> torch.Tensor:
    """Eq. 12 per pixel (without the 1/2): ``||y_n - G(Z_n) a_n||^2 + lam_z ||Z_n - Z0||_F^2``.

    ``Y (n, L)``, ``A (n, P)``, ``z (n, P*K)``, ``Z0 (P, K)``, ``decode: (P, n, K) -> (P, n, L)``.
    Returns ``(n,)``.
    """
    n, P = A.shape
    Z = z.reshape(n, P, -1)
    spectra = decode(Z.transpose(0, 1))                                   # (P, n, L)
    residual = Y - torch.einsum("pnl,np->nl", spectra, A)
    return (residual**2).sum(1) + lam_z * ((Z - Z0) ** 2).sum((1, 2))


def _value_and_grad(fun, z):
    z = z.detach().requires_grad_(True)
    value = fun(z)
    (grad,) = torch.autograd.grad(value.sum(), z)
    return value.detach(), grad


def latent_step(decode: Callable, Y: torch.Tensor, A: torch.Tensor, Z_init: torch.Tensor,
                Z0: torch.Tensor, lam_z: float, max_iter: int = 50, tol: float = 1e-3,
                ftol: float = 1e-6, gtol: float = 1e-6, max_halvings: int = 20) -> tuple[torch.Tensor, dict]:
    """Minimise eq. 12 for every pixel at once by BFGS (Algorithm 2) with autograd gradients.

    ``Y (N, L)``, ``A (N, P)``, ``Z_init (N, P, K)``. Each pixel keeps its own inverse-Hessian
    estimate ``(D, D)``, ``D = P K``, and its own backtracking (Armijo) line search; a pixel stops
    when its full quasi-Newton step would change z by less than ``tol`` relative to ``max(||z||, 1)``,
    when a step lowers its objective by less than ``ftol`` relative (the decoders' ReLU kinks
    leave minima with non-zero gradient, where steps shrink without end), when its gradient
    norm is below ``gtol``, or when even a steepest-descent step finds no
    decrease (a failed quasi-Newton step first resets its estimate to the identity); only
    unfinished pixels are evaluated. Returns ``(Z (N, P, K), info)``
    with ``info`` the iterations run and the number of objective evaluations (pixel-batches).

    Everything stays on the device of ``Y``. The per-pixel stopping needs values: each iteration
    synchronises once per line-search halving (the pixels whose Armijo test failed) and once for
    the pixels still active, at most ``max_halvings + 1`` times; the descent resets and failed
    steps are selected without a sync.
    """
    N, P, K = Z_init.shape
    D = P * K
    z = Z_init.reshape(N, D).clone()
    eye = torch.eye(D, dtype=z.dtype, device=z.device)
    H = eye.expand(N, D, D).clone()
    reset = torch.zeros(N, dtype=torch.bool, device=z.device)     # last step failed, H = I
    active = torch.arange(N, device=z.device)

    def fun_on(idx):
        return lambda x: latent_objective(decode, Y[idx], A[idx], x, Z0, lam_z)

    f, g = _value_and_grad(fun_on(active), z)
    evaluations, it = 1, 0
    for it in range(1, max_iter + 1):
        if active.numel() == 0:
            break
        za, fa, ga, Ha = z[active], f, g, H[active]
        direction = -(Ha @ ga.unsqueeze(-1)).squeeze(-1)
        slope = (direction * ga).sum(1)
        bad = slope >= 0                                  # not a descent direction: reset to -g
        direction = torch.where(bad[:, None], -ga, direction)
        slope = torch.where(bad, -(ga**2).sum(1), slope)
        Ha = torch.where(bad[:, None, None], eye, Ha)
        step = torch.ones(len(active), dtype=z.dtype, device=z.device)
        pending = torch.arange(len(active), device=z.device)
        for _ in range(max_halvings):                      # per-pixel Armijo backtracking
            x = za[pending] + step[pending, None] * direction[pending]
            value = latent_objective(decode, Y[active[pending]], A[active[pending]], x, Z0,
                                     lam_z).detach()
            evaluations += 1
            ok = value <= fa[pending] + 1e-4 * step[pending] * slope[pending]
            pending = pending[~ok]                         # the one sync of a halving
            if pending.numel() == 0:
                break
            step[pending] /= 2
        failed = torch.zeros(len(active), dtype=torch.bool, device=z.device)
        failed[pending] = True                             # no decrease found: stay put
        step = torch.where(failed, 0.0, step)
        s = step[:, None] * direction
        z_new = za + s
        f_new, g_new = _value_and_grad(fun_on(active), z_new)
        evaluations += 1
        u = g_new - ga
        su = (s * u).sum(1)
        update = su > 1e-12
        if it == 1:                                        # scale the initial inverse Hessian
            gamma = torch.where(update, su / (u * u).sum(1).clamp(min=1e-30), torch.ones_like(su))
            Ha = Ha * gamma[:, None, None]
        r = torch.where(update, 1 / su.clamp(min=1e-30), torch.zeros_like(su))[:, None, None]
        V = eye - r * s.unsqueeze(2) * u.unsqueeze(1)
        updated = V @ Ha @ V.transpose(1, 2) + r * s.unsqueeze(2) * s.unsqueeze(1)
        Ha = torch.where(update[:, None, None], updated, Ha)
        Ha = torch.where(failed[:, None, None], eye, Ha)   # retry once along -gradient
        gave_up = failed & (reset[active] | bad)
        z[active], H[active], reset[active] = z_new, Ha, failed
        small = direction.norm(dim=1) <= tol * z_new.norm(dim=1).clamp(min=1.0)
        stalled = ~failed & (fa - f_new <= ftol * fa.abs())
        done = small | stalled | (g_new.norm(dim=1) <= gtol) | gave_up
        keep = (~done).nonzero().squeeze(1)                # the one sync of the active set
        active, f, g = active[keep], f_new[keep], g_new[keep]
    return z.reshape(N, P, K), {"iterations": it, "evaluations": evaluations}


def deepgu(Y: np.ndarray, rows: int, cols: int, M0: np.ndarray, A0: np.ndarray, lam_a: float,
           lam_z: float, seed: int, epochs: int = 50, bundle_size: int = 100, outer: int = 8,
           tol: float = 1e-3, latent_iter: int = 50, admm_iter: int = 100, final_admm_iter: int = 300,
           norm: str = "1,1", device="cpu", vae=None) -> dict:
    """Algorithm 1 from ``M0 (L, P)`` and ``A0 (P, N)``; ``vae`` reuses trained VAEs.

    As the reference code (``DeepGenU_als_vae.m``): latent codes start at 0 and are pulled towards
    ``Z0``, the encodings of ``M0``; at most ``outer`` (8) latent/abundance alternations, stopped
    when A and Z both change by less than ``tol`` relative; then one more abundance solve with the
    final endmembers at a tighter ADMM budget (``final_admm_iter``); '1,1' TV.

    Returns abundances ``(P, N)``, per-pixel endmembers ``(N, L, P)``, the trained ``vae``, the
    outer iterations run, the time of each phase (s) and whether the final abundance solve met its
    stopping rule within ``final_admm_iter`` (the reference code runs fixed budgets: no warning).

    ``device``: where the VAEs train, the latent step runs and :func:`unmix_tv` solves. Host
    traffic per outer iteration: the endmembers cross to the host once (the TV solver takes and
    the result returns arrays) and the convergence test reads one value; the VCA bundles are
    chosen on the host (numpy), before training.
    """
    device = resolve_device(device)
    timings = {}
    with Timer() as t:
        if vae is None:
            data = torch.as_tensor(np.clip(bundles(Y, M0, bundle_size), 0, 1), dtype=torch.float32,
                                   device=device)
            vae, _ = train_vaes(data, [seed + p for p in range(M0.shape[1])], epochs=epochs)
    timings["vae"] = t.seconds
    dtype = next(vae.parameters()).dtype
    with Timer() as t, torch.no_grad():
        Z0 = vae.encode(torch.as_tensor(M0.T[:, None, :], dtype=dtype, device=device))[0][:, 0]
        Yt = torch.as_tensor(Y.T, dtype=dtype, device=device)
        Z = torch.zeros(Yt.shape[0], *Z0.shape, dtype=dtype, device=device)
        A = A0
        for it in range(1, outer + 1):
            run = it
            with torch.enable_grad():
                At = torch.as_tensor(A.T, dtype=dtype, device=device)
                Z_new, _ = latent_step(vae.decode, Yt, At, Z, Z0, lam_z, max_iter=latent_iter)
            M = vae.decode(Z_new.transpose(0, 1)).permute(1, 2, 0).double().cpu().numpy()
            # the reference code's fixed inner budget: the outer loop, not the ADMM, decides convergence
            A_new, _ = unmix_tv(Y, M, rows, cols, lam_a, A0=A, iterations=admm_iter, device=device, norm=norm,
                                return_convergence=True)
            change_z = float((Z_new - Z).norm() / Z.norm().clamp(min=1e-12))
            change_a = np.linalg.norm(A_new - A) / np.linalg.norm(A)
            A, Z = A_new, Z_new
            if max(change_a, change_z) < tol:
                break
        A, final = unmix_tv(Y, M, rows, cols, lam_a, A0=A, iterations=final_admm_iter, device=device, norm=norm,
                            return_convergence=True)
    timings["unmixing"] = t.seconds
    return {"abundances": A, "endmembers": M, "vae": vae, "outer_iterations": run, "timings": timings,
            "final_admm_converged": final.converged}
