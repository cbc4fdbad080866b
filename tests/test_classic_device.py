"""Device routing of the iterative classical solvers, without a GPU (issue 24).

Two checks per solver at smoke size:

* on torch's ``meta`` device (it keeps CUDA's rule that tensors of two devices do not mix and it
  refuses every host read), with the stopping tests off (``tol = 0``): the solver must run to the
  end with every tensor on the requested device, and a dispatch-mode counter must see the same
  number of cross-device copies at K and 2K iterations (none per iteration);
* on the CPU with the stopping tests on: at most one host read (``aten._local_scalar_dense``) per
  ``CHECK_EVERY`` iterations (the convergence test needs values; it reads one boolean).

The numpy conversion at the very end is replaced by a recorder that notes each returned tensor's
device and dtype. On main these checks fail for the loops of nmf.py and rnmf.py (the objective
history is written to a CPU tensor at every iteration), sunsal.py and tv_unmixing.py (a host read
per iteration) and elmm.py / plmm.py (no device argument).
"""

import importlib

import numpy as np
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from companion.classic import elmm, glmm, nmf_l1, plmm, rnmf, sunsal, unmix_tv
from companion.classic.convergence import CHECK_EVERY


class Traffic(TorchDispatchMode):
    """Counts host reads and operations whose tensors span more than one device."""

    def __init__(self):
        super().__init__()
        self.reads = 0
        self.cross_device = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func is torch.ops.aten._local_scalar_dense.default:
            self.reads += 1
        out = func(*args, **(kwargs or {}))
        devices = {t.device for t in tree_leaves((args, kwargs, out)) if isinstance(t, torch.Tensor)}
        self.cross_device += len(devices) > 1
        return out


def _problem(seed=0, L=12, P=3, rows=4, cols=5):
    rng = np.random.default_rng(seed)
    N = rows * cols
    M = rng.uniform(0.2, 1.0, (L, P))
    A = rng.dirichlet(np.ones(P), N).T
    S = M[None] * rng.uniform(0.9, 1.1, (N, L, P))
    Y = np.einsum("nlp,pn->ln", S, A) + 1e-2 * rng.uniform(size=(L, N))
    return Y, M, A, S, rows, cols


# name: (module whose final conversion is recorded, call(iterations, tol, device))
def _cases():
    Y, M, A, S, rows, cols = _problem()
    runs_M, runs_A = np.stack([M, 1.1 * M]), np.stack([A, A])
    return {
        "sunsal": ("sunsal", lambda k, tol, dev: sunsal(Y, M, lam=1e-3, max_iter=k, tol=tol, device=dev,
                                                       return_convergence=True)),
        "sunsal_sum_to_one": ("sunsal", lambda k, tol, dev: sunsal(Y, M, sum_to_one=True, max_iter=k, tol=tol,
                                                                   device=dev, return_convergence=True)),
        "nmf_l1": ("nmf", lambda k, tol, dev: nmf_l1(Y, lam=0.01, A0=runs_M, X0=runs_A, n_iter=k, tol=tol,
                                                     device=dev)),
        "rnmf": ("rnmf", lambda k, tol, dev: rnmf(Y, runs_M, runs_A, lam=0.1, n_iter=k, tol=tol, device=dev)),
        "unmix_tv": ("tv_unmixing",
                     lambda k, tol, dev: unmix_tv(Y, S, rows, cols, 0.05, iterations=k, tol=tol,
                                                  device=dev, return_convergence=True)),
        "elmm": ("elmm", lambda k, tol, dev: elmm(Y, M, rows, cols, A0=A, iterations=2, admm_iterations=k,
                                                  tol=tol, admm_tol=tol, device=dev)),
        "glmm": ("elmm", lambda k, tol, dev: glmm(Y, M, rows, cols, A0=A, iterations=2, admm_iterations=k,
                                                  tol=tol, admm_tol=tol, device=dev)),
        "plmm": ("plmm", lambda k, tol, dev: plmm(Y, M, rows, cols, A0=A, iterations=2, inner=k, tol=tol,
                                                  device=dev)),
    }


CASES = _cases()


@pytest.fixture
def recorded(monkeypatch):
    """Replace each solver module's final numpy conversion by a recorder."""
    seen = []

    def record(tensor):
        seen.append((tensor.device.type, tensor.dtype))
        return np.zeros(tensor.shape)

    for name in {module for module, _ in CASES.values()}:
        module = importlib.import_module(f"companion.classic.{name}")
        monkeypatch.setattr(module, "to_numpy", record, raising=False)
    return seen


@pytest.mark.parametrize("name", CASES)
def test_runs_on_the_requested_device_without_per_iteration_traffic(name, recorded):
    _, call = CASES[name]
    counts = []
    for k in (CHECK_EVERY, 2 * CHECK_EVERY):
        with Traffic() as traffic:
            call(k, 0.0, "meta")
        counts.append(traffic.cross_device)
    assert recorded and {device for device, _ in recorded} == {"meta"}
    assert counts[0] == counts[1], f"cross-device operations grow with the iterations: {counts}"


@pytest.mark.parametrize("name", CASES)
def test_at_most_one_host_read_per_check(name, recorded):
    _, call = CASES[name]
    reads = []
    for k in (4 * CHECK_EVERY, 8 * CHECK_EVERY):
        with Traffic() as traffic:
            call(k, 1e-300, "cpu")          # a rule that never holds: every check is made
        reads.append(traffic.reads)
    outer = 2 if name in ("elmm", "glmm", "plmm") else 1   # outer steps, each repeating the inner loop
    assert reads[1] - reads[0] <= outer * 4, f"host reads at 40 and 80 iterations: {reads}"
    assert {dtype for _, dtype in recorded if dtype.is_floating_point} == {torch.float64}   # on the CPU
