"""iRprop+ follows Igel & Hüsken's published rules, including the reversal when the error rises."""

import math

import pytest
import torch

from companion.optim import IRpropPlus


def reference_irprop_plus(grad_and_error, w, lr, steps, eta_minus=0.5, eta_plus=1.2, d_min=0.0, d_max=50.0):
    """Plain transcription of iRprop+ (Igel & Hüsken 2000, Fig. 3), one weight at a time.

    Returns the weights after each step and the number of reversals."""
    n = len(w)
    d, g_prev, dw = [lr] * n, [0.0] * n, [0.0] * n
    e_prev, trajectory, reversals = math.inf, [], 0
    for _ in range(steps):
        g, e = grad_and_error(w)
        w = list(w)
        for i in range(n):
            if g_prev[i] * g[i] > 0:
                d[i] = min(d[i] * eta_plus, d_max)
                dw[i] = -math.copysign(d[i], g[i]) if g[i] else 0.0
                w[i] += dw[i]
                g_prev[i] = g[i]
            elif g_prev[i] * g[i] < 0:
                d[i] = max(d[i] * eta_minus, d_min)
                if e > e_prev:
                    w[i] -= dw[i]
                    reversals += 1
                g_prev[i] = 0.0
            else:
                dw[i] = -math.copysign(d[i], g[i]) if g[i] else 0.0
                w[i] += dw[i]
                g_prev[i] = g[i]
        e_prev = e
        trajectory.append(w)
    return trajectory, reversals


M = [[3.0, 1.0], [1.0, 2.0]]


def quadratic(w):
    """Gradient and value of 0.5 w^T M w."""
    g = [M[0][0] * w[0] + M[0][1] * w[1], M[1][0] * w[0] + M[1][1] * w[1]]
    return g, 0.5 * (w[0] * g[0] + w[1] * g[1])


def run_torch(optimiser_class, w0, steps, **kwargs):
    Mt = torch.tensor(M, dtype=torch.float64)
    w = torch.tensor(w0, dtype=torch.float64, requires_grad=True)
    opt = optimiser_class([w], **kwargs)

    def closure():
        opt.zero_grad()
        loss = 0.5 * w @ Mt @ w
        loss.backward()
        return loss

    out = []
    for _ in range(steps):
        opt.step(closure)
        out.append(w.detach().tolist())
    return out


def test_matches_published_rules_and_differs_from_torch_rprop():
    reference, reversals = reference_irprop_plus(quadratic, [2.0, -2.0], lr=0.5, steps=40)
    ours = run_torch(IRpropPlus, [2.0, -2.0], 40, lr=0.5)
    assert reversals > 0                                    # the problem exercises the reversal
    for a, b in zip(ours, reference, strict=True):
        assert a == pytest.approx(b, abs=1e-12)
    rprop = run_torch(torch.optim.Rprop, [2.0, -2.0], 40, lr=0.5, step_sizes=(0.0, 50.0))
    assert max(abs(a[0] - b[0]) + abs(a[1] - b[1]) for a, b in zip(rprop, ours, strict=True)) > 1e-3


def test_reverts_the_previous_step_when_the_error_rises():
    """w^2 from w = 1 with step 2.5: the first step overshoots to -1.5 (error 1 -> 2.25); the
    sign flips and the error rose, so w returns to 1 and the step halves to 1.25; the next
    step (gradient memory cleared) moves by 1.25 to -0.25. Rprop without reversal stays at -1.5."""
    w = torch.tensor([1.0], dtype=torch.float64, requires_grad=True)
    opt = IRpropPlus([w], lr=2.5)

    def closure():
        opt.zero_grad()
        loss = (w**2).sum()
        loss.backward()
        return loss

    values = []
    for _ in range(3):
        opt.step(closure)
        values.append(w.item())
    assert values == [-1.5, 1.0, -0.25]
    assert opt.state[w]["step"].item() == 1.25
    assert run_torch(torch.optim.Rprop, [1.0, 0.0], 2, lr=2.5, step_sizes=(0.0, 50.0))[1][0] != 1.0


def test_no_reversal_when_the_error_falls():
    """Sign flip without an error increase: no update, step shrinks (same as iRprop-)."""
    w = torch.tensor([1.0], dtype=torch.float64, requires_grad=True)
    opt = IRpropPlus([w], lr=1.5)

    def closure():
        opt.zero_grad()
        loss = (w**2).sum()
        loss.backward()
        return loss

    opt.step(closure)           # 1 -> -0.5, error 1 -> 0.25
    opt.step(closure)           # flip, error fell: stay
    assert w.item() == -0.5
    assert opt.state[w]["step"].item() == 0.75


def test_runs_axis_tests_the_error_per_run():
    """Two runs trained together (loss per run) follow exactly their trajectories alone."""
    starts = [[2.0, -2.0], [-1.0, 3.0]]
    together = torch.tensor(starts, dtype=torch.float64, requires_grad=True)
    Mt = torch.tensor(M, dtype=torch.float64)
    opt = IRpropPlus([together], lr=0.5)

    def closure():
        opt.zero_grad()
        loss = 0.5 * torch.einsum("ri,ij,rj->r", together, Mt, together)
        loss.sum().backward()
        return loss

    for _ in range(30):
        opt.step(closure)
    for r, start in enumerate(starts):
        alone = run_torch(IRpropPlus, start, 30, lr=0.5)[-1]
        assert together[r].tolist() == pytest.approx(alone, abs=1e-12)


def test_needs_a_closure_and_valid_settings():
    w = torch.zeros(1, requires_grad=True)
    with pytest.raises(ValueError, match="closure"):
        IRpropPlus([w]).step(None)
    with pytest.raises(ValueError, match="eta"):
        IRpropPlus([w], etas=(1.2, 0.5))
