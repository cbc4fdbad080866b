"""How the iterative classical solvers say whether they converged.

Every iterative solver of :mod:`companion.classic` stops on a tolerance stated in its docstring
and tests it once every :data:`CHECK_EVERY` iterations: the test reads one value from the device
(a host synchronisation), so it is not done at every iteration. ``tol = 0`` switches the test off:
the solver runs exactly its iteration budget without reading anything back.

Solvers that return a result object carry ``converged`` and ``iterations`` fields; solvers that
return an array take ``return_convergence=True`` to get a :class:`Convergence` beside it, and
otherwise emit a :class:`ConvergenceWarning` when they stop on their budget.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch

__all__ = ["CHECK_EVERY", "Convergence", "ConvergenceWarning", "descend", "noted", "report"]

CHECK_EVERY = 10   # iterations between two convergence tests (one host read each)


@dataclass(frozen=True)
class Convergence:
    """``converged``: the stopping rule held (always False when it was off, ``tol = 0``);
    ``iterations``: iterations run; ``criterion``: the rule, in words, with its tolerance."""

    converged: bool
    iterations: int
    criterion: str


class ConvergenceWarning(UserWarning):
    """A solver stopped on its iteration budget before its stopping rule held; ``solver`` and
    ``convergence`` say which and how far it ran."""

    def __init__(self, solver: str, convergence: Convergence):
        super().__init__(f"{solver} stopped after {convergence.iterations} iterations without meeting "
                         f"its stopping rule ({convergence.criterion}); raise its iteration budget")
        self.solver = solver
        self.convergence = convergence


def report(solver: str, convergence: Convergence, tol: float) -> None:
    """Warn (:class:`ConvergenceWarning`) when a stopping rule was on (``tol > 0``) and did not
    hold."""
    if tol > 0 and not convergence.converged:
        warnings.warn(ConvergenceWarning(solver, convergence), stacklevel=3)


@contextmanager
def noted() -> Iterator[dict[str, int]]:
    """Collect the :class:`ConvergenceWarning` raised inside as notes instead of output: yields a
    dict, filled on exit with each message and how often it was raised, for a compute function to
    store in its record (a solver that ran out of budget is recorded, not printed in a chapter).
    Other warnings pass through unchanged."""
    notes: dict[str, int] = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield notes
    counts = Counter(str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning))
    notes.update(sorted(counts.items()))
    for w in caught:
        if not issubclass(w.category, ConvergenceWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def descend(step, state: tuple[torch.Tensor, ...], objective, n_iter: int, tol: float):
    """Run ``state = step(state)`` (a tuple of 2-D, or 3-D runs-first, tensors) up to ``n_iter``
    times, each run until its ``objective(state)`` (``(runs,)`` or ``()``) fell by less than
    ``tol`` (relative: ``f_{k-10} - f_k <= tol |f_k|``) over the last CHECK_EVERY iterations; a
    stopped run is frozen, so a run's result does not depend on the runs beside it. Returns
    ``(state, history (iterations run[, runs]), iterations, converged)``, the last two tensors
    ``([runs])``. One host read every CHECK_EVERY iterations, none when ``tol = 0``."""
    f = objective(state)
    history = torch.empty((n_iter, *f.shape), dtype=f.dtype, device=f.device)
    active = torch.ones(f.shape, dtype=torch.bool, device=f.device)
    iterations = torch.zeros(f.shape, dtype=torch.long, device=f.device)
    previous = f
    for k in range(n_iter):
        new = step(state)
        if tol > 0:                                               # freeze the runs that stopped
            frozen = ~active.reshape(*active.shape, 1, 1)
            new = tuple(torch.where(frozen, s, n) for n, s in zip(new, state, strict=True))
        state = new
        iterations = iterations + active
        history[k] = objective(state)
        if tol > 0 and (k + 1) % CHECK_EVERY == 0:
            active = active & (previous - history[k] > tol * history[k].abs())
            previous = history[k]
            if not bool(active.any()):                                # one host read per CHECK_EVERY
                return state, history[: k + 1], iterations, ~active
    return state, history, iterations, ~active if tol > 0 else torch.zeros_like(active)
