"""Full ELMM (Drumetz et al.) and GLMM (Imbiriba et al.): planted scenes are recovered and the
alternating solver lowers its objective at every outer step."""

import numpy as np
import pytest

from companion.classic import elmm, fcls, glmm, scaled_mixing_objective


def _planted(per_band, rows=8, cols=9, L=30, P=3, noise=1e-3, seed=0):
    """Smooth abundances and spatially smooth scalings (per material, or per band and material)."""
    rng = np.random.default_rng(seed)
    N = rows * cols
    M0 = rng.uniform(0.2, 1.0, size=(L, P))
    r, c = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    logits = np.stack([np.sin(r / 3 + p) + np.cos(c / 4 - p) for p in range(P)]).reshape(P, N)
    A = np.exp(2 * logits) / np.exp(2 * logits).sum(0)
    B = L if per_band else 1
    phase = rng.uniform(0, 2 * np.pi, size=(B, P))
    Psi = 1 + 0.15 * np.sin(r.reshape(N, 1, 1) / 4 + c.reshape(N, 1, 1) / 5 + phase[None])   # (N, B, P)
    S = M0[None] * Psi
    Y = np.einsum("nlp,pn->ln", S, A) + noise * rng.normal(size=(L, N))
    return Y, M0, A, S, rows, cols


# ELMM's scalings are identifiable from the planted scene (one per material): its abundances must
# halve FCLS's error. GLMM's per-band scalings can absorb part of the abundances (a per-band,
# per-material factor times an abundance is not unique), so it must only not lose to FCLS.
@pytest.mark.parametrize("method, per_band, gain", [(elmm, False, 0.5), (glmm, True, 1.05)])
def test_planted_scaled_endmembers_are_recovered_better_than_fcls(method, per_band, gain):
    Y, M0, A, S, rows, cols = _planted(per_band)
    res = method(Y, M0, rows, cols, 1.0, 1e-3, 1e-2, iterations=60, tol=1e-6, admm_iterations=300)
    assert res.abundances.min() >= 0 and np.allclose(res.abundances.sum(0), 1)
    A_fcls = fcls(Y, M0, device="cpu")
    err, err_fcls = np.abs(res.abundances - A).mean(), np.abs(A_fcls - A).mean()
    assert err < gain * err_fcls
    # endmembers and scalings: closer to the planted per-pixel ones than the references are
    assert np.linalg.norm(res.endmembers - S) < 0.8 * np.linalg.norm(M0[None] - S)
    Psi = S / M0[None] if per_band else (S / M0[None])[:, :1]
    assert np.linalg.norm(res.scalings - Psi) < 0.8 * np.linalg.norm(1 - Psi)
    recon = np.einsum("nlp,pn->ln", res.endmembers, res.abundances)
    assert np.sqrt(np.mean((Y - recon) ** 2)) < 3e-3


@pytest.mark.parametrize("method, per_band", [(elmm, False), (glmm, True)])
def test_objective_decreases_at_every_outer_step(method, per_band):
    Y, M0, A, S, rows, cols = _planted(per_band, noise=1e-2, seed=1)
    A0 = fcls(Y, M0, device="cpu")
    B = Y.shape[0] if per_band else 1
    N = S.shape[0]
    start = scaled_mixing_objective(Y, M0, A0, np.repeat(M0[None], N, axis=0), np.ones((N, B, 3)),
                                    rows, cols, 5.0, 0.05, 1.0)
    res = method(Y, M0, rows, cols, 5.0, 0.05, 1.0, A0=A0, iterations=15, tol=0.0, admm_iterations=400)
    history = [start, *res.objective]
    assert all(b <= a * (1 + 1e-6) for a, b in zip(history, history[1:], strict=False))
    assert history[-1] < 0.9 * history[0]


def test_glmm_scalings_are_band_dependent_and_elmm_scalings_are_not():
    Y, M0, A, S, rows, cols = _planted(True)
    g = glmm(Y, M0, rows, cols, iterations=3)
    e = elmm(Y, M0, rows, cols, iterations=3)
    assert g.scalings.shape == (rows * cols, 30, 3) and e.scalings.shape == (rows * cols, 1, 3)
    assert g.scalings.std(axis=1).max() > 1e-3
