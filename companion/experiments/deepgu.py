"""DeepGU (Borsoi, Imbiriba, Bermudez, IEEE TCI 2019): data, the unmixing algorithm and scoring.

Algorithm 1: reference endmembers ``M0`` by VCA, abundances by FCLS, one bundle of the 100 pixels
closest in spectral angle to each reference, one VAE per bundle (trained together), then
alternate the latent step (eq. 12, batched BFGS over all pixels) and the abundance step (eq. 13,
ADMM with the '1,1' TV penalty the reference code uses for eq. 8) until A and Z change by less
than ``tol`` or ``outer`` steps. The synthetic cubes DC1 and DC2, the baselines' reference-code
settings and the seed statistics of Table III are here too.

Pixels are in row-major image order throughout; per-pixel endmembers are ``(N, L, P)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import torch

from .. import metrics
from ..classic import elmm, fcls, glmm, plmm, unmix_tv, vca
from ..data import load
from ..data.hsi import HSI
from ..data.scenes import variability_scene
from ..nets.vae import train_vaes
from ..runtime import Timer

__all__ = ["OFFICIAL", "METHODS", "bundles",
           "latent_objective", "latent_step", "deepgu", "score", "calibration_point", "method_point",
           "real_point", "deepgu_key", "seed_statistics", "spread_verdicts", "ranking_row"]

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
        direction[bad], slope[bad] = -ga[bad], -(ga[bad] ** 2).sum(1)
        Ha[bad] = eye
        step = torch.ones(len(active), dtype=z.dtype, device=z.device)
        pending = torch.arange(len(active), device=z.device)
        for _ in range(max_halvings):                      # per-pixel Armijo backtracking
            x = za[pending] + step[pending, None] * direction[pending]
            value = latent_objective(decode, Y[active[pending]], A[active[pending]], x, Z0,
                                     lam_z).detach()
            evaluations += 1
            ok = value <= fa[pending] + 1e-4 * step[pending] * slope[pending]
            pending = pending[~ok]
            if pending.numel() == 0:
                break
            step[pending] /= 2
        failed = torch.zeros(len(active), dtype=torch.bool, device=z.device)
        failed[pending] = True                             # no decrease found: stay put
        step[failed] = 0.0
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
        Ha[failed] = eye                                   # retry once along -gradient
        gave_up = failed & (reset[active] | bad)
        z[active], H[active], reset[active] = z_new, Ha, failed
        small = direction.norm(dim=1) <= tol * z_new.norm(dim=1).clamp(min=1.0)
        stalled = ~failed & (fa - f_new <= ftol * fa.abs())
        done = small | stalled | (g_new.norm(dim=1) <= gtol) | gave_up
        active, f, g = active[~done], f_new[~done], g_new[~done]
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
    outer iterations run and the time of each phase (s).
    """
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
            A_new = unmix_tv(Y, M, rows, cols, lam_a, A0=A, iterations=admm_iter, device=device, norm=norm)
            change_z = float((Z_new - Z).norm() / Z.norm().clamp(min=1e-12))
            change_a = np.linalg.norm(A_new - A) / np.linalg.norm(A)
            A, Z = A_new, Z_new
            if max(change_a, change_z) < tol:
                break
        A = unmix_tv(Y, M, rows, cols, lam_a, A0=A, iterations=final_admm_iter, device=device, norm=norm)
    timings["unmixing"] = t.seconds
    return {"abundances": A, "endmembers": M, "vae": vae, "outer_iterations": run, "timings": timings}


def score(Y: np.ndarray, A_true: np.ndarray, A: np.ndarray, M_true: np.ndarray | None,
          M: np.ndarray) -> dict:
    """Table III metrics, eq. 14-15 (``rmse_global``, ``sam_pixelwise``) and the relative variants
    the reference code prints (``relative_frobenius_error``, ``sam_pixelwise_mean``).
    ``M (N, L, P)`` per pixel or ``(L, P)`` shared; ``A_true`` may be None (no ground truth)."""
    M = M if M.ndim == 3 else np.broadcast_to(M, (Y.shape[1], *M.shape))
    recon = np.einsum("nlp,pn->ln", M, A)
    out = {"rmse_y": metrics.rmse_global(Y, recon),
           "rel_y": metrics.relative_frobenius_error(Y, recon)}
    if A_true is not None:
        out |= {"rmse_a": metrics.rmse_global(A_true, A),
                "rel_a": metrics.relative_frobenius_error(A_true, A)}
    if M_true is not None:
        out |= {"rmse_m": metrics.rmse_global(M_true, M),
                "rel_m": metrics.relative_frobenius_error(M_true, M),
                "sam_m": metrics.sam_pixelwise(M_true, M),
                "sam_m_mean": metrics.sam_pixelwise_mean(M_true, M)}
    return out


# Parameters of the reference code's examples 1 (DC1) and 2 (DC2), every method (code).
OFFICIAL = {
    "dc1": {"deepgu_lambda_a": 0.05, "elmm": {"lam_s": 5.0, "lam_a": 0.05, "lam_psi": 1.0},
            "glmm": {"lam_m": 1.0, "lam_a": 0.05, "lam_psi": 1e3},
            "plmm": {"alpha": 0.01, "beta": 1e-9, "gamma": 0.01}},
    "dc2": {"deepgu_lambda_a": 0.01, "elmm": {"lam_s": 1.0, "lam_a": 0.05, "lam_psi": 1e3},
            "glmm": {"lam_m": 1.0, "lam_a": 0.01, "lam_psi": 1e3},
            "plmm": {"alpha": 0.1, "beta": 1e-5, "gamma": 10.0}},
}
BASELINES = {"elmm": elmm, "glmm": glmm, "plmm": plmm}
METHODS = ("fcls", "plmm", "elmm", "glmm", "deepgu")


def _reference(hsi: HSI, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """VCA endmembers, ordered like the ground truth (Hungarian on SAD, as the reference code
    orders them) when there is one, and their FCLS abundances."""
    M0, _ = vca(hsi.Y, hsi.p, seed=seed)
    if hsi.endmembers is not None:
        M0 = M0[:, metrics.match_endmembers(hsi.endmembers, M0)]
    return M0, fcls(hsi.Y, M0, device="cpu")


def calibration_point(config: Mapping, protocol: Mapping) -> dict:
    """FCLS (VCA references) on ``config['scene']`` at variability ``config['amplitude']`` and
    scene seed ``config['seed']``: the baseline statistics the amplitudes are calibrated on."""
    scene = variability_scene(config["scene"], config["seed"], protocol["snr_db"], config["amplitude"])
    M0, A0 = _reference(scene.hsi, config["seed"])
    return score(scene.hsi.Y, scene.hsi.abundances, A0, scene.M_true, M0)


def _unmix_all(hsi: HSI, M_true, protocol: Mapping, seed: int, settings: Mapping, lam_as: list[float],
               keep_maps: bool) -> dict:
    """FCLS, the baselines of ``protocol['baselines']`` at ``settings`` (reference-code values) and
    DeepGU (one trained VAE set, one run per lambda_A) on ``hsi``, all from the same VCA
    references and FCLS start. FCLS's endmember scores are those of ``M0`` used at every pixel;
    its time includes VCA."""
    with Timer() as t:
        M0, A0 = _reference(hsi, seed)
    records = {"fcls": {**score(hsi.Y, hsi.abundances, A0, M_true, M0), "time": t.seconds}}
    maps = {"fcls": A0}
    for name in protocol["baselines"]:
        with Timer() as t:
            res = BASELINES[name](hsi.Y, M0, hsi.rows, hsi.cols, **settings[name], A0=A0)
        records[name] = {**score(hsi.Y, hsi.abundances, res.abundances, M_true, res.endmembers),
                         "time": t.seconds, "iterations": res.iterations}
        maps[name] = res.abundances
    vae = None
    for lam_a in lam_as:
        out = deepgu(hsi.Y, hsi.rows, hsi.cols, M0, A0, lam_a, protocol["lambda_z"], seed,
                     epochs=protocol["epochs"], bundle_size=protocol["bundle_size"],
                     outer=protocol["outer"], latent_iter=protocol["latent_iter"], vae=vae)
        if vae is None:
            vae_time = out["timings"]["vae"]
        vae = out["vae"]
        records[f"deepgu_{lam_a:g}"] = {
            **score(hsi.Y, hsi.abundances, out["abundances"], M_true, out["endmembers"]),
            "time": vae_time + out["timings"]["unmixing"], "time_vae": vae_time,
            "outer_iterations": out["outer_iterations"], "lambda_a": lam_a}
        maps[f"deepgu_{lam_a:g}"] = out["abundances"]
    if keep_maps:
        records["maps"] = {k: np.round(v, 4).tolist() for k, v in maps.items()}   # for figures only
    return records


def method_point(config: Mapping, protocol: Mapping) -> dict:
    """Table III: every method on DC1 or DC2 (``config['scene']``) at scene seed ``config['seed']``;
    DeepGU at the reference code's lambda_A, and on the whole ``lambda_a_grid`` when
    ``config['grid']``. Abundance maps are kept for the first seed only (Fig. 2)."""
    name, seed = config["scene"], config["seed"]
    scene = variability_scene(name, seed, protocol["snr_db"])
    official = OFFICIAL[name]["deepgu_lambda_a"]
    lam_as = sorted({official, *protocol["lambda_a_grid"]}) if config["grid"] else [official]
    return _unmix_all(scene.hsi, scene.M_true, protocol, seed, OFFICIAL[name], lam_as,
                      keep_maps=config["grid"])


def real_point(config: Mapping, protocol: Mapping) -> dict:
    """Table IV-style: FCLS, the baselines (example-1 settings) and DeepGU on Samson or Jasper
    Ridge (``config['scene']``) at ``config['lambda_a']`` and seed ``config['seed']`` (VCA, VAEs),
    RMSE_A against the published maps."""
    hsi = load(config["scene"])
    return _unmix_all(hsi, None, protocol, config["seed"], OFFICIAL["dc1"], [config["lambda_a"]],
                      keep_maps=False)


def deepgu_key(scene: str) -> str:
    """Record key of DeepGU at the reference code's lambda_A for ``scene``."""
    return f"deepgu_{OFFICIAL[scene]['deepgu_lambda_a']:g}"


def seed_statistics(records: list[Mapping], scene: str, metric: str) -> dict[str, tuple[float, float]]:
    """Mean and standard deviation (ddof 1; 0 for one seed) over scene seeds of ``metric`` for
    every method present, DeepGU at the reference lambda_A."""
    keys = {m: (deepgu_key(scene) if m == "deepgu" else m) for m in METHODS}
    out = {}
    for method, key in keys.items():
        values = [r[key][metric] for r in records if key in r and metric in r[key]]
        if values:
            out[method] = (float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0)
    return out


MIN_SEEDS_FOR_SPREAD = 5


def spread_verdicts(rows: list[dict], stds: Mapping[str, float], n_seeds: int) -> list[dict]:
    """Comparison rows with the seed spread: ``stds`` maps target keys to the std over ``n_seeds``
    scene seeds, added to every reason. With at least MIN_SEEDS_FOR_SPREAD seeds, a "not
    reproduced" row whose paper value lies within our mean +- 2 std becomes "partly" (the paper
    reports one scene draw, which our draws could have produced; the means still differ), saying so."""
    out = []
    for row in rows:
        std = stds.get(row["key"])
        if std is not None and row["ours"] is not None:
            row = {**row, "reason": f"{row['reason']}; ours mean ± std {row['ours']:.4f} ± {std:.4f} "
                                    f"over {n_seeds} seeds"}
            inside = abs(row["difference"]) <= 2 * std
            if row["verdict"] == "not reproduced" and inside and n_seeds >= MIN_SEEDS_FOR_SPREAD:
                row["verdict"] = "partly"
                row["reason"] += " (paper inside mean ± 2 std)"
        out.append(row)
    return out


def ranking_row(records: list[Mapping], scene: str) -> dict:
    """Paper-vs-ours row for the claim "DeepGU has the lowest RMSE_A" (Table III) on ``scene``:
    held when DeepGU's mean relative RMSE_A plus one std is below every baseline's mean minus one
    std; "not reproduced" when some baseline's mean is below DeepGU's; else "within spread"."""
    stats = seed_statistics(records, scene, "rel_a")
    dg_mean, dg_std = stats.pop("deepgu")
    clear = all(dg_mean + dg_std < m - s for m, s in stats.values())
    beaten = any(m < dg_mean for m, _ in stats.values())
    verdict = "reproduced" if clear else ("not reproduced" if beaten else "within seed spread")
    return {"key": f"{scene}_ranking",
            "quantity": f"{scene.upper()}: DeepGU has the lowest RMSE_A (relative)",
            "source": "Table III", "unit": "", "paper": "yes", "ours": "no" if beaten else "yes",
            "difference": None, "verdict": verdict,
            "reason": f"mean ± std over {len(records)} scene seeds: DeepGU {dg_mean:.4f} ± {dg_std:.4f}; "
                      + ", ".join(f"{k.upper()} {m:.4f} ± {s:.4f}" for k, (m, s) in stats.items())}
