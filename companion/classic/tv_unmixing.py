"""Abundances under pixel-dependent endmembers with a spatial total-variation penalty, by ADMM.

Solves DeepGU's eq. 13 with the regulariser of eq. 8 (Borsoi et al.; the ADMM of Drumetz et al.'s
ELMM abundance step)::

    min_A  1/2 sum_n ||y_n - M_n a_n||^2 + lam (||H_h A||_{2,1} + ||H_v A||_{2,1})
    s.t.   a_n >= 0, 1^T a_n = 1,

where ``H_h``, ``H_v`` are horizontal and vertical first differences of each abundance map
(periodic boundary, so their normal equations diagonalise in 2-D Fourier) and ``||.||_{2,1}`` sums
over pixels the Euclidean norm over materials (``norm="2,1"``, eq. 8 as printed); ``norm="1,1"``
sums absolute values instead, as the reference code of DeepGU and ELMM runs it. Splitting
``X = A`` (data, per-pixel P x P solves), ``V1 = A`` (simplex projection), ``V2 = H_h A``,
``V3 = H_v A`` (group or entrywise soft thresholds) leaves an A-update that is one FFT solve.
Every step is batched over pixels.

Stopping rule (C: the ADMM of ``ELMM_ADMM.m``): the primal residual of the four splittings and
the dual residual ``rho ||V1 - V1_prev||`` (root mean square per entry) both below ``tol``,
tested every 10 iterations (one host read each; ``tol = 0``: exactly ``iterations`` steps, no
read). Runs on the device of the request, float64 on the CPU (``runtime.classic_dtype``).

Pixels are in row-major image order: ``A.reshape(P, rows, cols)`` is the map.
"""

from __future__ import annotations

import numpy as np
import torch

from ._tensors import as_tensors, to_numpy
from .convergence import CHECK_EVERY, Convergence, report
from .simplex import project_simplex

__all__ = ["NORMS", "tv_norm", "tv_objective", "unmix_tv"]

NORMS = ("2,1", "1,1")


def _diff_h(A: torch.Tensor) -> torch.Tensor:
    return torch.roll(A, -1, dims=-1) - A


def _diff_v(A: torch.Tensor) -> torch.Tensor:
    return torch.roll(A, -1, dims=-2) - A


def _diff_h_adjoint(V: torch.Tensor) -> torch.Tensor:
    return torch.roll(V, 1, dims=-1) - V


def _diff_v_adjoint(V: torch.Tensor) -> torch.Tensor:
    return torch.roll(V, 1, dims=-2) - V


def _group_shrink(V: torch.Tensor, threshold: float) -> torch.Tensor:
    """Proximal map of ``threshold * sum_pixels ||v_pixel||_2`` for ``V (P, rows, cols)``."""
    norm = V.norm(dim=0, keepdim=True)
    return V * (1 - threshold / norm.clamp(min=1e-30)).clamp(min=0.0)


def _soft(V: torch.Tensor, threshold: float) -> torch.Tensor:
    """Proximal map of ``threshold * sum |v|`` (entrywise)."""
    return torch.sign(V) * (V.abs() - threshold).clamp(min=0.0)


def _check_norm(norm: str) -> None:
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")


def tv_norm(img: torch.Tensor, norm: str = "2,1") -> torch.Tensor:
    """``||H_h A|| + ||H_v A||`` of abundance maps ``img (P, rows, cols)`` in the mixed norm
    ``norm`` ("2,1": Euclidean over materials, summed over pixels; "1,1": all absolute values)."""
    _check_norm(norm)
    if norm == "2,1":
        return _diff_h(img).norm(dim=0).sum() + _diff_v(img).norm(dim=0).sum()
    return _diff_h(img).abs().sum() + _diff_v(img).abs().sum()


def tv_objective(Y, M, A, rows: int, cols: int, lam: float, norm: str = "2,1") -> float:
    """The objective of eq. 13/8 at a simplex-feasible ``A (P, N)``; ``Y (L, N)``, ``M (N, L, P)``
    per pixel or ``(L, P)`` shared."""
    Y, M, A = (torch.as_tensor(np.asarray(x), dtype=torch.float64) for x in (Y, M, A))
    M = M if M.ndim == 3 else M.expand(Y.shape[1], *M.shape)
    residual = Y.T - torch.einsum("nlp,pn->nl", M, A)
    return float(0.5 * (residual**2).sum() + lam * tv_norm(A.reshape(A.shape[0], rows, cols), norm))


def unmix_tv(Y, M, rows: int, cols: int, lam: float, A0=None, rho: float = 1.0, iterations: int = 200,
             tol: float = 1e-5, device="auto", norm: str = "2,1", return_convergence: bool = False):
    """Abundances ``(P, N)`` on the simplex. ``Y (L, N)``, ``M (N, L, P)`` per-pixel endmembers
    (or ``(L, P)`` shared), ``A0 (P, N)`` warm start (default: uniform).

    ADMM with penalty ``rho`` for at most ``iterations`` steps, stopping on the rule of the module
    docstring. The returned abundances are the simplex-projected split variable, hence exactly
    feasible. With ``return_convergence`` returns ``(A, Convergence)``; otherwise a run that stops
    on its budget emits a :class:`~companion.classic.convergence.ConvergenceWarning`.
    """
    if lam < 0 or rho <= 0 or tol < 0:
        raise ValueError(f"need lam >= 0, rho > 0 and tol >= 0, got lam={lam}, rho={rho}, tol={tol}")
    _check_norm(norm)
    _, (Y, M) = as_tensors(Y, M, device=device)
    A0 = None if A0 is None else as_tensors(A0, device=Y.device)[1][0]
    A, convergence = tv_admm(Y, M, rows, cols, lam, A0, rho, iterations, tol, norm)
    if return_convergence:
        return to_numpy(A), convergence
    report("unmix_tv", convergence, tol)
    return to_numpy(A)


def tv_admm(Y: torch.Tensor, M: torch.Tensor, rows: int, cols: int, lam: float, A0: torch.Tensor | None,
            rho: float, iterations: int, tol: float, norm: str) -> tuple[torch.Tensor, Convergence]:
    """The ADMM of :func:`unmix_tv` on tensors of one device (``Y``'s): ``A (P, N)`` and its
    :class:`Convergence`."""
    shrink = _group_shrink if norm == "2,1" else _soft
    dtype, device = Y.dtype, Y.device
    L, N = Y.shape
    P = M.shape[-1]
    if M.shape[:-1] != ((N, L) if M.ndim == 3 else (L,)) or rows * cols != N:
        raise ValueError(f"shapes disagree: Y {tuple(Y.shape)}, M {tuple(M.shape)}, image {rows}x{cols}")
    eye = torch.eye(P, dtype=dtype, device=device)
    if M.ndim == 3:                       # per-pixel endmembers: one P x P inverse per pixel
        gram_inv = torch.linalg.inv(M.transpose(1, 2) @ M + rho * eye)   # (N, P, P)
        MtY = torch.einsum("nlp,ln->pn", M, Y)                            # (P, N)

        def data_step(rhs: torch.Tensor) -> torch.Tensor:
            return torch.einsum("npq,qn->pn", gram_inv, rhs)
    else:                                 # shared endmembers (L, P): one inverse for all pixels
        shared_inv = torch.linalg.inv(M.T @ M + rho * eye)               # (P, P)
        MtY = M.T @ Y                                                     # (P, N)

        def data_step(rhs: torch.Tensor) -> torch.Tensor:
            return shared_inv @ rhs
    # eigenvalues of 2 I + H_h^T H_h + H_v^T H_v under periodic boundaries
    wr = 2 - 2 * torch.cos(2 * torch.pi * torch.arange(rows, dtype=dtype, device=device) / rows)
    wc = 2 - 2 * torch.cos(2 * torch.pi * torch.arange(cols, dtype=dtype, device=device) / cols)
    spectrum = 2 + wr[:, None] + wc[None, :]
    A = torch.full((P, N), 1.0 / P, dtype=dtype, device=device) if A0 is None else A0.to(dtype).clone()
    img = A.reshape(P, rows, cols)
    X, V1, V2, V3 = img.clone(), img.clone(), _diff_h(img), _diff_v(img)
    D0, D1, D2, D3 = (torch.zeros_like(v) for v in (X, V1, V2, V3))
    criterion = f"primal and dual residuals (RMS per entry) < {tol:g}"
    for it in range(1, iterations + 1):
        rhs = (X - D0) + (V1 - D1) + _diff_h_adjoint(V2 - D2) + _diff_v_adjoint(V3 - D3)
        img = torch.fft.ifft2(torch.fft.fft2(rhs) / spectrum).real
        target = (img + D0).reshape(P, N)
        X = data_step(MtY + rho * target).reshape(P, rows, cols)
        V1_old = V1
        V1 = project_simplex((img + D1).reshape(P, N)).reshape(P, rows, cols)
        Hh, Hv = _diff_h(img), _diff_v(img)
        V2, V3 = shrink(Hh + D2, lam / rho), shrink(Hv + D3, lam / rho)
        r = (img - X, img - V1, Hh - V2, Hv - V3)
        D0, D1, D2, D3 = D0 + r[0], D1 + r[1], D2 + r[2], D3 + r[3]
        if tol > 0 and it % CHECK_EVERY == 0:
            primal = torch.sqrt(sum((ri**2).sum() for ri in r) / (4 * P * N))
            dual = rho * torch.sqrt(((V1 - V1_old) ** 2).mean())
            if bool((primal < tol) & (dual < tol)):              # one host read per CHECK_EVERY
                return V1.reshape(P, N), Convergence(True, it, criterion)
    return V1.reshape(P, N), Convergence(False, iterations, criterion)
