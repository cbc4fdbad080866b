"""The ensemble engine's training step never waits for the host on an accelerator.

Driven on torch's ``meta`` device (it follows CUDA's cross-device rules and refuses host reads:
``.item()``, ``bool(t)`` and data-dependent shapes raise there), with a counter of host-to-device
traffic: scalar reads (``aten._local_scalar_dense``), copies of CPU tensors to the device, and
tensors built on the device from host data (``torch.tensor`` / ``torch.as_tensor``, which torch
dispatch does not show). Each event is attributed to the package module that caused it. Per-step
counts come from two runs that differ only in their number of steps. On CUDA every such event is
a stream synchronisation, and inside CUDA-graph capture an error.
"""

import traceback
from collections import Counter
from pathlib import Path

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from companion.nets import ensemble
from companion.nets.unmixing_ae import AEConfig, stack_initial_weights

PACKAGE = Path(ensemble.__file__).resolve().parents[1]


def _caller() -> str:
    """The innermost package module on the stack (``nets/ensemble.py``, ...), or ``outside``."""
    for frame in reversed(traceback.extract_stack()):
        path = Path(frame.filename).resolve()
        if PACKAGE in path.parents:
            return str(path.relative_to(PACKAGE))
    return "outside"


class HostTraffic(TorchDispatchMode):
    """Counts host reads and host-to-device transfers by package module while active;
    ``monkeypatch`` (a context, undone after each use) wraps ``torch.tensor`` and ``torch.as_tensor``."""

    def __init__(self, monkeypatch):
        super().__init__()
        self.events = Counter()
        for name in ("tensor", "as_tensor"):
            original = getattr(torch, name)

            def construct(data, *args, _original=original, **kwargs):
                out = _original(data, *args, **kwargs)
                host_data = not isinstance(data, torch.Tensor) or data.device.type == "cpu"
                if host_data and out.device.type != "cpu":
                    self.events[("construct", _caller())] += 1
                return out

            monkeypatch.setattr(torch, name, construct)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is torch.ops.aten._local_scalar_dense.default:
            self.events[("read", _caller())] += 1
        if func in (torch.ops.aten._to_copy.default, torch.ops.aten.copy_.default):
            source = args[1] if func is torch.ops.aten.copy_.default else args[0]
            target = args[0].device if func is torch.ops.aten.copy_.default else kwargs.get("device")
            if source.device.type == "cpu" and target is not None and torch.device(target).type != "cpu":
                self.events[("copy", _caller())] += 1
        return func(*args, **kwargs)


def _train(monkeypatch, steps: int, config: AEConfig, reinit, batch: int = 4):
    M, L = 3, config.bands
    X = torch.empty(steps * batch, L, device="meta")
    weights = stack_initial_weights(config, "he_normal", range(M))
    rule = None if reinit is None else ensemble.Reinitialisation((reinit, None, "partial"), (0.5, 0.5, 0.5),
                                                               ("he_normal",) * 3, "reset")
    with monkeypatch.context() as patch, HostTraffic(patch) as traffic:
        out = ensemble.train_ensemble(X, config, weights, torch.arange(M), loss="sad", batch_size=batch,
                                      lr=1e-3, epochs=1, reinit=rule)
    assert out["params"]["W0"].device.type == "meta"
    return traffic.events


CASES = [("basic", 0.0, None), ("original", 0.0, None), ("original", 0.1, None), ("basic", 0.0, "whole"),
         ("basic", 0.0, "layer")]


def _per_step(monkeypatch, architecture, dropout, reinit) -> Counter:
    config = AEConfig(architecture, 12, 3, n1=4, dropout=dropout)
    short, long = _train(monkeypatch, 3, config, reinit), _train(monkeypatch, 6, config, reinit)
    return Counter({k: (long[k] - short[k]) / 3 for k in long | short if long[k] != short[k]})


@pytest.mark.parametrize("architecture, dropout, reinit", CASES)
def test_the_engines_own_code_does_not_touch_the_host_per_step(monkeypatch, architecture, dropout, reinit):
    per_step = _per_step(monkeypatch, architecture, dropout, reinit)
    own = {k: v for k, v in per_step.items() if k[1].startswith("nets/ensemble")}
    assert own == {}


@pytest.mark.parametrize("architecture, dropout, reinit", CASES)
def test_a_training_step_does_not_touch_the_host(monkeypatch, architecture, dropout, reinit):
    assert _per_step(monkeypatch, architecture, dropout, reinit) == Counter()


def test_the_captured_step_touches_nothing_on_the_host(monkeypatch):
    """What a CUDA graph captures (:func:`ensemble._train_step`): no host read, transfer or
    construction at all, for the heaviest configuration (BatchNorm, dropout, per-entry Adam)."""
    config = AEConfig("original", 12, 3, dropout=0.1)
    M, B, meta = 3, 5, torch.device("meta")
    initial = stack_initial_weights(config, "he_normal", range(M))
    params = {k: torch.empty(v.shape, device=meta) for k, v in initial.items()}
    params["W4"] = params["W4"].transpose(1, 2).contiguous()
    grads = {k: torch.empty_like(v) for k, v in params.items()}
    optimiser = ensemble.EnsembleAdam(params, grads, lr=1e-3, entrywise_steps=True)
    running = {"mean": torch.zeros(M, 3, device=meta), "var": torch.ones(M, 3, device=meta)}
    xb, x_norm, noise = (torch.empty(M, B, 12, device=meta), torch.empty(M, B, device=meta),
                         torch.empty(M, B, 3, device=meta))
    sums = torch.zeros(M, device=meta), torch.zeros(M, device=meta)
    for loss in ("mse", "sad"):
        with monkeypatch.context() as patch, HostTraffic(patch) as traffic:
            ensemble._train_step(params, grads, optimiser, xb, x_norm, noise, running, config, loss, *sums)
        assert traffic.events == Counter()


def test_reinitialisation_of_the_original_architecture_is_refused():
    config = AEConfig("original", 12, 3)
    rule = ensemble.Reinitialisation(("layer",), (0.5,), ("he_normal",))
    with pytest.raises(ValueError, match="only the 'basic' architecture"):
        ensemble.train_ensemble(torch.rand(40, 12), config, stack_initial_weights(config, "he_normal", [0]),
                                torch.arange(1), loss="mse", batch_size=4, lr=1e-3, epochs=1, reinit=rule)


def test_cuda_graph_is_refused_off_cuda():
    config = AEConfig("basic", 12, 3, n1=4)
    with pytest.raises(ValueError, match="cuda_graph needs a CUDA device"):
        ensemble.train_ensemble(torch.rand(40, 12), config, stack_initial_weights(config, "he_normal", [0]),
                                torch.arange(1), loss="mse", batch_size=4, lr=1e-3, epochs=1, cuda_graph=True)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (the lent-GPU device script)")
@pytest.mark.parametrize("architecture, dropout, reinit", CASES)
def test_cuda_graph_replay_equals_eager_on_cuda(architecture, dropout, reinit):
    config = AEConfig(architecture, 12, 3, n1=4, dropout=dropout)
    X = torch.rand(163, 12, generator=torch.Generator().manual_seed(0)).cuda()
    weights = stack_initial_weights(config, "he_normal", range(3))
    rule = None if reinit is None else ensemble.Reinitialisation((reinit, None, "partial"), (0.3, 0.3, 0.3),
                                                               ("he_normal",) * 3)
    run = dict(loss="sad", batch_size=8, lr=1e-2, epochs=2, reinit=rule)
    graph = ensemble.train_ensemble(X, config, weights, torch.arange(3), cuda_graph=True, **run)
    eager = ensemble.train_ensemble(X, config, weights, torch.arange(3), cuda_graph=False, **run)
    for k in eager["params"]:                       # the same kernels, replayed: equal up to rounding
        assert torch.allclose(graph["params"][k], eager["params"][k], rtol=1e-5, atol=1e-6), k
    assert torch.allclose(graph["final_loss"], eager["final_loss"], rtol=1e-5)
    assert torch.equal(graph["reinitialised"], eager["reinitialised"])
