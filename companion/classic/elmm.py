"""Extended linear mixing model (ELMM, Drumetz et al., IEEE TIP 2016), full model, and the
alternating solver it shares with the generalised model (GLMM, :mod:`companion.classic.glmm`).

Each pixel has its own endmember matrix ``S_n (L, P)``, tied softly to scaled references::

    min_{A, S, Psi}  1/2 sum_n ||y_n - S_n a_n||^2 + lam_s/2 sum_n ||S_n - M0 * Psi_n||_F^2
                     + lam_a TV(A) + lam_psi/2 (||H_h Psi||^2 + ||H_v Psi||^2),
    s.t. a_n on the simplex,

with ``Psi_n (1, P)`` one scaling per material (ELMM: ``M0 * Psi_n = M0 diag(psi_n)``) or
``Psi_n (L, P)`` one per band and material (GLMM), ``H_h``, ``H_v`` first differences of each
scaling map (periodic) and ``TV`` the '1,1' or '2,1' anisotropic total variation of
:func:`~companion.classic.tv_unmixing.tv_norm`. Alternating (ANLS) updates, each batched over
pixels, as the reference code (``ELMM_ADMM.m``, ``GLMM_ADMM.m``) orders them:

* ``S_n = (y_n a_n^T + lam_s M0 * Psi_n)(a_n a_n^T + lam_s I)^-1``, floored at 1e-6 (as the
  reference code): one batched P x P solve;
* ``A``: the TV-ADMM of :func:`~companion.classic.tv_unmixing.unmix_tv`, warm-started;
* ``Psi``: a quadratic problem whose normal equations are diagonal in 2-D Fourier: one FFT solve
  per scaling map.

Stops (C) when the relative changes of S (mean over pixels), A and Psi are all below ``tol``,
tested after every outer step (one host read per outer step, each of which runs up to
``admm_iterations`` ADMM steps; the ADMM tests its own rule every 10 of them). Runs on the
requested device, float64 on the CPU (``runtime.classic_dtype``). Pixels are in row-major image
order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ._tensors import as_tensors, to_numpy
from .fcls import fcls
from .tv_unmixing import tv_admm, tv_norm

__all__ = ["ELMMResult", "elmm", "scaled_mixing", "scaled_mixing_objective"]

_FLOOR = 1e-6     # the reference code's lower bound on the entries of S_n


@dataclass
class ELMMResult:
    """``abundances (P, N)``, ``scalings (N, 1, P)`` (ELMM) or ``(N, L, P)`` (GLMM), per-pixel
    ``endmembers (N, L, P)``, outer ``iterations`` run, the ``objective`` after each and whether
    the stopping rule held (``converged``)."""

    abundances: np.ndarray
    scalings: np.ndarray
    endmembers: np.ndarray
    iterations: int
    objective: list[float]
    converged: bool


def _laplacian_spectrum(rows: int, cols: int, like: torch.Tensor) -> torch.Tensor:
    """Eigenvalues ``(rows, cols)`` of ``H_h^T H_h + H_v^T H_v`` under periodic boundaries, in
    the dtype and on the device of ``like``."""
    def ramp(n):
        return 2 - 2 * torch.cos(2 * torch.pi * torch.arange(n, dtype=like.dtype, device=like.device) / n)
    return ramp(rows)[:, None] + ramp(cols)[None, :]


def _smoothness(Psi: torch.Tensor, rows: int, cols: int) -> torch.Tensor:
    """``||H_h Psi||^2 + ||H_v Psi||^2`` for ``Psi (N, B, P)`` (periodic differences)."""
    img = Psi.permute(1, 2, 0).reshape(*Psi.shape[1:], rows, cols)
    return (((torch.roll(img, -1, -1) - img) ** 2).sum() + ((torch.roll(img, -1, -2) - img) ** 2).sum())


def scaled_mixing_objective(Y, M0, A, S, Psi, rows: int, cols: int, lam_s: float, lam_a: float,
                            lam_psi: float, norm: str = "1,1") -> float:
    """The objective above. ``Y (L, N)``, ``M0 (L, P)``, ``A (P, N)``, ``S (N, L, P)``,
    ``Psi (N, B, P)`` with ``B`` 1 (ELMM) or L (GLMM)."""
    Y, M0, A, S, Psi = (torch.as_tensor(np.asarray(x), dtype=torch.float64) for x in (Y, M0, A, S, Psi))
    return float(_objective(Y, M0, A, S, Psi, rows, cols, lam_s, lam_a, lam_psi, norm))


def _objective(Y, M0, A, S, Psi, rows, cols, lam_s, lam_a, lam_psi, norm) -> torch.Tensor:
    """:func:`scaled_mixing_objective` on tensors of one device, as a 0-dim tensor."""
    fit = ((Y.T - torch.einsum("nlp,pn->nl", S, A)) ** 2).sum()
    tie = ((S - M0[None] * Psi) ** 2).sum()
    tv = tv_norm(A.reshape(A.shape[0], rows, cols), norm)
    return 0.5 * fit + 0.5 * lam_s * tie + lam_a * tv + 0.5 * lam_psi * _smoothness(Psi, rows, cols)


def _update_S(Y: torch.Tensor, A: torch.Tensor, target: torch.Tensor, lam_s: float) -> torch.Tensor:
    """``S_n`` for every pixel: ``Y (L, N)``, ``A (P, N)``, ``target (N, L, P)`` -> ``(N, L, P)``."""
    P = A.shape[0]
    gram = A.T[:, :, None] * A.T[:, None, :] + lam_s * torch.eye(P, dtype=A.dtype, device=A.device)      # (N, P, P)
    rhs = Y.T[:, :, None] * A.T[:, None, :] + lam_s * target                           # (N, L, P)
    return torch.linalg.solve(gram, rhs.transpose(1, 2)).transpose(1, 2).clamp(min=_FLOOR)


def _update_Psi(S: torch.Tensor, M0: torch.Tensor, rows: int, cols: int, lam_s: float, lam_psi: float,
                per_band: bool) -> torch.Tensor:
    """Minimiser over ``Psi`` of ``lam_s/2 ||S - M0 * Psi||^2 + lam_psi/2 ||H Psi||^2``, exact, by
    one FFT solve per map. Returns ``(N, L, P)`` if ``per_band`` else ``(N, 1, P)``."""
    if per_band:
        numerator, energy = lam_s * S * M0[None], lam_s * M0**2                          # (N,L,P), (L,P)
    else:
        numerator = lam_s * (S * M0[None]).sum(1, keepdim=True)                          # (N, 1, P)
        energy = lam_s * (M0**2).sum(0, keepdim=True)                                    # (1, P)
    B, P = energy.shape
    img = numerator.permute(1, 2, 0).reshape(B, P, rows, cols)
    denominator = lam_psi * _laplacian_spectrum(rows, cols, S) + energy[:, :, None, None]
    Psi = torch.fft.ifft2(torch.fft.fft2(img) / denominator).real
    return Psi.reshape(B, P, rows * cols).permute(2, 0, 1)


def scaled_mixing(Y, M0, rows: int, cols: int, lam_s: float, lam_a: float, lam_psi: float, per_band: bool,
                  A0=None, iterations: int = 20, tol: float = 1e-3, admm_iterations: int = 100,
                  norm: str = "1,1", device="auto", admm_tol: float = 1e-5) -> ELMMResult:
    """The alternating solver of ELMM (``per_band=False``) and GLMM (``per_band=True``) from
    ``A0 (P, N)`` (default FCLS), ``Psi = 1`` and ``S_n = M0``. ``Y (L, N)``, ``M0 (L, P)``;
    ``admm_tol`` is the abundance ADMM's tolerance (:func:`unmix_tv`'s default). ``tol = 0`` and
    ``admm_tol = 0`` run every step and read nothing back from the device."""
    if A0 is None:
        A0 = fcls(Y, M0, device=device)
    _, (Y, M0, A) = as_tensors(Y, M0, A0, device=device)
    L, N = Y.shape
    P = M0.shape[1]
    Psi = torch.ones(N, L if per_band else 1, P, dtype=Y.dtype, device=Y.device)
    S = M0.expand(N, L, P).clone()
    history, converged, run = [], False, 0
    for it in range(1, iterations + 1):
        run = it
        S_new = _update_S(Y, A, M0[None] * Psi, lam_s)
        A_new, _ = tv_admm(Y, S_new, rows, cols, lam_a, A, 1.0, admm_iterations, admm_tol, norm)
        Psi_new = _update_Psi(S_new, M0, rows, cols, lam_s, lam_psi, per_band)
        change_S = ((S_new - S).flatten(1).norm(dim=1) / S.flatten(1).norm(dim=1)).mean()
        change_A = (A_new - A).norm() / A.norm()
        change_Psi = (Psi_new - Psi).norm() / Psi.norm()
        S, A, Psi = S_new, A_new, Psi_new
        history.append(_objective(Y, M0, A, S, Psi, rows, cols, lam_s, lam_a, lam_psi, norm))
        if tol > 0 and bool(torch.maximum(torch.maximum(change_S, change_A), change_Psi) < tol):   # 1 read
            converged = True
            break
    objective = to_numpy(torch.stack(history)).tolist() if history else []
    return ELMMResult(to_numpy(A), to_numpy(Psi), to_numpy(S), run, objective, converged)


def elmm(Y, M0, rows: int, cols: int, lam_s: float = 5.0, lam_a: float = 0.05, lam_psi: float = 1.0,
         A0=None, iterations: int = 20, tol: float = 1e-3, admm_iterations: int = 100,
         norm: str = "1,1", device="auto", admm_tol: float = 1e-5) -> ELMMResult:
    """Full ELMM: one scaling per pixel and material, smooth in space. Defaults are the reference
    code's example 1 (``lambda_s`` 5, ``lambda_a`` 0.05, ``lambda_psi`` 1, 20 ANLS steps, 100 ADMM
    steps, '1,1' TV, tolerance 1e-3)."""
    return scaled_mixing(Y, M0, rows, cols, lam_s, lam_a, lam_psi, False, A0=A0, iterations=iterations,
                         tol=tol, admm_iterations=admm_iterations, norm=norm, device=device,
                         admm_tol=admm_tol)
