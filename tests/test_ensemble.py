"""The batched ensemble engine trains every model exactly as it would train alone."""

import math

import numpy as np
import pytest
import torch

from companion.experiments import stability as exp
from companion.nets import ensemble
from companion.nets import unmixing_ae as net


def _toy_data(pixels=120, bands=12, R=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    E = torch.rand(bands, R, generator=g, dtype=torch.float64)
    A = torch.distributions.Dirichlet(torch.ones(R)).sample((pixels,)).double()
    X = A @ E.T + 0.01 * torch.rand(pixels, bands, generator=g, dtype=torch.float64)
    return X / X.max(), E, A


@pytest.mark.parametrize("architecture,dropout,loss,batch", [("original", 0.1, "mse", 10),
                                                             ("original", 0.0, "sad", 20),
                                                             ("basic", 0.0, "mse", 4)])
def test_ensemble_equals_each_model_trained_alone(architecture, dropout, loss, batch):
    # float64; the tolerance allows for round-off only: Adam turns a gradient that is pure
    # round-off (a saturated unit) into a step, so rare entries differ by ~1e-8, far below
    # one Adam step (lr = 1e-2)
    X, _, _ = _toy_data()
    config = net.AEConfig(architecture, X.shape[1], 3, n1=5, dropout=dropout)
    init = net.stack_initial_weights(config, "glorot_uniform", [3, 4, 5])
    seeds = torch.tensor([10, 11, 12])
    joint = ensemble.train_ensemble(X, config, init, seeds, loss=loss, batch_size=batch, lr=0.01, epochs=2)
    for m in range(3):
        model = net.UnmixingAE(config, {k: v[m] for k, v in init.items()}, dtype=torch.float64)
        losses = net.train_single(model, X, loss=loss, batch_size=batch, lr=0.01, epochs=2,
                                  run_seed=int(seeds[m]))
        steps = X.shape[0] // batch
        assert joint["final_loss"][m] == pytest.approx(sum(losses[-steps:]) / steps, rel=1e-7)
        n_layers = len(config.linear_layers())
        for i in range(n_layers - 1):
            layer = model.encoder[i]
            torch.testing.assert_close(joint["params"][f"W{i}"][m], layer.weight.detach(), rtol=1e-6, atol=1e-6)
            torch.testing.assert_close(joint["params"][f"b{i}"][m], layer.bias.detach(), rtol=1e-6, atol=1e-6)
        torch.testing.assert_close(joint["params"][f"W{n_layers - 1}"][m], model.endmembers(), rtol=1e-6, atol=1e-6)
        if architecture == "original":                     # per-model BatchNorm statistics
            torch.testing.assert_close(joint["running"]["mean"][m], model.batch_norm.running_mean)
            torch.testing.assert_close(joint["running"]["var"][m], model.batch_norm.running_var)
            torch.testing.assert_close(joint["params"]["alpha"][m], model.threshold.alpha.detach())
    # the models really differ: different seeds give different trajectories
    assert not torch.allclose(joint["params"]["W0"][0], joint["params"]["W0"][1])


def test_same_weights_different_run_seeds_differ_only_by_order_and_noise():
    X, _, _ = _toy_data()
    config = net.AEConfig("original", X.shape[1], 3, dropout=0.1)
    init = net.stack_initial_weights(config, "he_normal", [7, 7, 7])
    out = ensemble.train_ensemble(X, config, init, torch.tensor([1, 1, 2]), loss="mse", batch_size=10,
                                  lr=0.01, epochs=1)
    torch.testing.assert_close(out["params"]["W0"][0], out["params"]["W0"][1], rtol=0, atol=0)
    assert not torch.allclose(out["params"]["W0"][0], out["params"]["W0"][2])


def test_chunked_training_gives_identical_results():
    X, E, A = _toy_data(pixels=100, bands=10)
    scene = exp.Scene("toy", X, E, A)                       # float64: only summation-order round-off
    whole = exp.train_initialisations(scene, 1, ["he_uniform", "glorot_normal"], [0, 1], runs=3, epochs=1)
    chunked = exp.train_initialisations(scene, 1, ["he_uniform", "glorot_normal"], [0, 1], runs=3, epochs=1,
                                        max_chunk=5)
    for scheme in whole:
        for metric, values in whole[scheme].items():
            np.testing.assert_allclose(chunked[scheme][metric], values, rtol=1e-10, atol=1e-12)


def test_nan_in_one_model_leaves_the_others_untouched():
    X, _, _ = _toy_data()
    config = net.AEConfig("basic", X.shape[1], 3, n1=5)
    init = net.stack_initial_weights(config, "he_normal", [1, 2, 3])
    poisoned = {k: v.clone() for k, v in init.items()}
    poisoned["W0"][1, 0, 0] = math.nan
    seeds = torch.tensor([4, 5, 6])
    clean = ensemble.train_ensemble(X, config, init, seeds, loss="mse", batch_size=8, lr=0.01, epochs=1)
    dirty = ensemble.train_ensemble(X, config, poisoned, seeds, loss="mse", batch_size=8, lr=0.01, epochs=1)
    assert torch.isnan(dirty["final_loss"][1])
    for m in (0, 2):
        for k in init:
            torch.testing.assert_close(dirty["params"][k][m], clean["params"][k][m], rtol=0, atol=0)


def test_models_per_chunk_grows_with_the_budget_and_is_at_least_one():
    config = net.AEConfig("original", 156, 3)
    small = ensemble.models_per_chunk(config, 9025, 100, torch.device("cpu"), budget_bytes=10**6)
    large = ensemble.models_per_chunk(config, 9025, 100, torch.device("cpu"), budget_bytes=10**9)
    assert small >= 1 and large > 100 * small
