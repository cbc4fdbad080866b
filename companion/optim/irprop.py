"""iRprop+ (Igel & Hüsken 2000, "Improving the Rprop learning algorithm", Fig. 3).

Every weight ``w`` has its own step ``d``; only the sign of the gradient ``g`` is used. With
``g_prev`` the gradient remembered from the previous iteration and ``dw_prev`` the previous
update of ``w``::

    g_prev * g > 0:  d = min(eta_plus * d, step_max);  dw = -sign(g) d;  w += dw;  g_prev = g
    g_prev * g < 0:  d = max(eta_minus * d, step_min); if E(t) > E(t-1): w -= dw_prev
                     g_prev = 0   (the next iteration takes the third branch)
    g_prev * g = 0:  dw = -sign(g) d;  w += dw;  g_prev = g

The reversal of the previous update when the sign flips *and* the error rose is what makes it
iRprop+; ``torch.optim.Rprop`` is iRprop- (it never reverts). The error comparison needs the
loss, so :meth:`IRpropPlus.step` requires a closure.

Runs axis: the closure may return a loss of shape ``(runs,)`` instead of a scalar. Every
parameter must then have ``runs`` as its first dimension and the error test is made per run, so
independent runs trained together follow exactly the trajectories they would follow alone.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["IRpropPlus"]


class IRpropPlus(torch.optim.Optimizer):
    """iRprop+ with initial step ``lr``, factors ``etas = (eta_minus, eta_plus)`` and step bounds
    ``step_sizes = (step_min, step_max)`` (defaults as in Igel & Hüsken: 0.5, 1.2, 0, 50)."""

    def __init__(self, params, lr: float = 0.0125, etas: tuple[float, float] = (0.5, 1.2),
                 step_sizes: tuple[float, float] = (0.0, 50.0)):
        eta_minus, eta_plus = etas
        if not 0.0 < eta_minus < 1.0 < eta_plus:
            raise ValueError(f"need 0 < eta_minus < 1 < eta_plus, got etas={etas}")
        if not 0.0 <= step_sizes[0] <= lr <= step_sizes[1]:
            raise ValueError(f"need step_min <= lr <= step_max, got lr={lr}, step_sizes={step_sizes}")
        super().__init__(params, {"lr": lr, "etas": etas, "step_sizes": step_sizes})
        self._previous_loss: torch.Tensor | None = None

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor]) -> torch.Tensor:
        """One iteration. ``closure`` zeroes the gradients, computes the loss (scalar or
        ``(runs,)``), calls ``backward`` on its sum and returns it."""
        if closure is None:
            raise ValueError("iRprop+ compares the error with the previous one: pass a closure")
        with torch.enable_grad():
            loss = closure().detach()
        rose = (loss > self._previous_loss) if self._previous_loss is not None else torch.zeros_like(
            loss, dtype=torch.bool)
        self._previous_loss = loss.clone()
        for group in self.param_groups:
            eta_minus, eta_plus = group["etas"]
            step_min, step_max = group["step_sizes"]
            for w in group["params"]:
                if w.grad is None:
                    continue
                state = self.state[w]
                if not state:
                    state["step"] = torch.full_like(w, group["lr"])
                    state["prev_grad"] = torch.zeros_like(w)
                    state["prev_update"] = torch.zeros_like(w)
                g, d = w.grad, state["step"]
                product = state["prev_grad"] * g
                flip = product < 0
                d.copy_(torch.where(product > 0, (d * eta_plus).clamp(max=step_max),
                                    torch.where(flip, (d * eta_minus).clamp(min=step_min), d)))
                rose_here = rose.reshape(rose.shape + (1,) * (w.ndim - rose.ndim)) if rose.ndim else rose
                revert = flip & rose_here
                update = torch.where(flip, torch.where(revert, -state["prev_update"], 0.0),
                                     -torch.sign(g) * d)
                w.add_(update)
                state["prev_update"].copy_(torch.where(flip, state["prev_update"], update))
                state["prev_grad"].copy_(torch.where(flip, 0.0, g))
        return loss
