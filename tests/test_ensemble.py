"""The ensemble engine trains each model exactly as the plain single-model loop would."""

import math

import numpy as np
import pytest
import torch

from companion.nets import ensemble
from companion.nets.unmixing_ae import (
    AEConfig,
    UnmixingAE,
    counter_uniform,
    initial_weights,
    pixel_order,
    stack_initial_weights,
    train_single,
)

X = torch.rand(163, 12, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


@pytest.mark.parametrize("architecture, dropout, loss", [("basic", 0.0, "mse"), ("basic", 0.0, "sad"),
                                                         ("original", 0.1, "mse"), ("original", 0.0, "sad")])
def test_ensemble_equals_each_model_trained_alone(architecture, dropout, loss):
    config = AEConfig(architecture, 12, 3, n1=4, dropout=dropout)
    init_seeds, run_seeds = [3, 4, 5], [40, 41, 42]
    stacked = stack_initial_weights(config, "he_uniform", init_seeds)
    trained = ensemble.train_ensemble(X, config, stacked, torch.tensor(run_seeds), loss=loss,
                                      batch_size=8, lr=5e-3, epochs=2)
    decoder = f"W{len(config.linear_layers()) - 1}"
    for m, (i, r) in enumerate(zip(init_seeds, run_seeds, strict=True)):
        alone = UnmixingAE(config, initial_weights(config, "he_uniform", i), dtype=torch.float64)
        losses = train_single(alone, X, loss=loss, batch_size=8, lr=5e-3, epochs=2, run_seed=r)
        assert torch.allclose(alone.decoder.weight, trained["params"][decoder][m], atol=1e-9)
        assert torch.allclose(alone.encoder[0].weight, trained["params"]["W0"][m], atol=1e-9)
        steps = X.shape[0] // 8
        assert math.isclose(np.mean(losses[-steps:]), float(trained["final_loss"][m]), rel_tol=1e-9)
        if architecture == "original":
            alone.eval()
            a_alone = alone(X)[0]
            a_ens, _, _ = ensemble.unmix(trained["params"], trained["running"], X, config)
            assert torch.allclose(a_alone, a_ens[m], atol=1e-9)   # BatchNorm running statistics too


def test_chunking_and_company_do_not_change_a_model():
    config = AEConfig("basic", 12, 3, n1=4)
    stacked = stack_initial_weights(config, "glorot_normal", [1, 2, 3, 4])
    run = dict(loss="mse", batch_size=8, lr=1e-2, epochs=1)
    together = ensemble.train_ensemble(X, config, stacked, torch.tensor([9, 8, 7, 6]), **run)
    last_two = ensemble.train_ensemble(X, config, {k: v[2:] for k, v in stacked.items()},
                                       torch.tensor([7, 6]), **run)
    for k in together["params"]:
        assert torch.allclose(together["params"][k][2:], last_two["params"][k], atol=1e-12)


@pytest.mark.parametrize("architecture, dropout, loss", [("basic", 0.0, "mse"), ("original", 0.1, "sad")])
def test_a_diverging_model_does_not_disturb_the_others(architecture, dropout, loss):
    config = AEConfig(architecture, 12, 3, n1=4, dropout=dropout)
    stacked = stack_initial_weights(config, "he_normal", [1, 2])
    broken = {k: v.clone() for k, v in stacked.items()}
    broken["W0"][0, 0, 0] = float("nan")
    run = dict(loss=loss, batch_size=8, lr=1e-2, epochs=1)
    clean = ensemble.train_ensemble(X, config, stacked, torch.tensor([5, 6]), **run)
    mixed = ensemble.train_ensemble(X, config, broken, torch.tensor([5, 6]), **run)
    assert not torch.isfinite(mixed["final_loss"][0])
    assert torch.allclose(mixed["params"]["W1"][1], clean["params"]["W1"][1], atol=1e-12)


def test_counter_random_numbers_are_uniform_and_per_model():
    u = counter_uniform(torch.arange(200), stream=0, epoch=3, step=1, shape=(500,))
    assert u.shape == (200, 500) and 0 < u.min() and u.max() <= 1
    assert abs(u.mean().item() - 0.5) < 0.01 and abs(u.var().item() - 1 / 12) < 0.002
    alone = counter_uniform(torch.tensor([17]), 0, 3, 1, (500,))
    assert torch.equal(alone[0], u[17])
    order = pixel_order(torch.tensor([1, 2]), epoch=0, n_pixels=10, batch_size=3)
    assert order.shape == (2, 3, 3) and len(set(order[0].flatten().tolist())) == 9
    assert not torch.equal(order[0], order[1])


def test_dead_coefficients_count_zero_activations():
    activations = torch.tensor([[[0.0, 1.0], [0.0, 0.0], [2.0, 0.0], [0.0, 3.0]]])   # (1, batch 4, 2 units)
    layer, neuron = ensemble.dead_coefficients(activations)
    assert layer.tolist() == [5 / 8]
    assert neuron.tolist() == [[3 / 4, 2 / 4]]


def _dead_model_weights(config):
    weights = stack_initial_weights(config, "he_normal", [0, 1])
    weights["b1"][0] = -100.0                       # model 0: every bottleneck unit is dead
    return weights


@pytest.mark.parametrize("method", ["whole", "layer", "partial"])
def test_reinitialisation_replaces_only_what_its_rule_says(method):
    config = AEConfig("basic", 12, 3, n1=4)
    weights = _dead_model_weights(config)
    rule = ensemble.Reinitialisation((method, None), (0.5, 0.5), ("he_normal", "he_normal"))
    out = ensemble.train_ensemble(X, config, weights, torch.tensor([1, 2]), loss="mse", batch_size=8,
                                  lr=1e-12, epochs=1, reinit=rule)   # lr ~ 0: changes are reinitialisations
    p = out["params"]
    assert out["reinitialised"][0] >= 1 and out["reinitialised"][1] == 0
    assert (p["b1"][0] > -50).all()                                   # the dead layer was redrawn
    assert torch.allclose(p["W1"][1], weights["W1"][1].to(p["W1"]), atol=1e-9)   # baseline untouched
    first_layer_changed = not torch.allclose(p["W0"][0], weights["W0"][0].to(p["W0"]), atol=1e-9)
    assert first_layer_changed == (method == "whole")


def test_partial_reinitialisation_touches_only_dead_neurons():
    config = AEConfig("basic", 12, 3, n1=4)
    weights = stack_initial_weights(config, "he_normal", [0])
    weights["b1"][0] = torch.tensor([100.0, -100.0, 100.0])   # only neuron 1 is dead
    rule = ensemble.Reinitialisation(("partial",), (0.9,), ("he_normal",))
    out = ensemble.train_ensemble(X, config, weights, torch.tensor([1]), loss="mse", batch_size=8,
                                  lr=1e-12, epochs=1, reinit=rule)
    W1, W1_0 = out["params"]["W1"][0], weights["W1"][0].to(out["params"]["W1"])
    assert not torch.allclose(W1[1], W1_0[1])
    assert torch.allclose(W1[[0, 2]], W1_0[[0, 2]], atol=1e-9)


def test_redrawn_weights_use_the_configs_gain():
    """Whole reinitialisation redraws every layer with the config's gain: at half the default
    gain the redrawn Glorot weights are exactly half those drawn at the default."""
    weights = _dead_model_weights(AEConfig("basic", 12, 3, n1=4))
    redrawn = {}
    for gain in (None, math.sqrt(2.0) / 2):
        config = AEConfig("basic", 12, 3, n1=4, gain=gain)
        rule = ensemble.Reinitialisation(("whole", None), (0.5, 0.5), ("glorot_normal", "glorot_normal"))
        out = ensemble.train_ensemble(X, config, {k: v.clone() for k, v in weights.items()},
                                      torch.tensor([1, 2]), loss="mse", batch_size=8, lr=0.0, epochs=1,
                                      reinit=rule)
        assert out["reinitialised"][0] >= 1
        redrawn[gain] = out["params"]["W0"][0].double()
    half = redrawn[math.sqrt(2.0) / 2]
    assert torch.allclose(half, redrawn[None] / 2, rtol=1e-6, atol=0) and half.abs().max() > 0


def test_bad_reinitialisation_rules_fail_fast():
    with pytest.raises(ValueError, match="methods must be in"):
        ensemble.Reinitialisation(("sometimes",), (0.5,), ("he_normal",))
    with pytest.raises(ValueError, match="one entry per model"):
        ensemble.Reinitialisation(("whole", None), (0.5,), ("he_normal",))


def test_reinitialisation_draws_do_not_depend_on_the_chunk():
    """Table-3 records of a model are identical alone and among others (counter-based draws)."""
    config = AEConfig("basic", 12, 3, n1=4)
    schemes = ("he_normal", "glorot_uniform", "he_uniform", "glorot_normal")
    weights = stack_initial_weights(config, "he_normal", [0, 1, 2, 3])
    weights["b1"][:, 0] = -100.0                                   # one dead unit: partial fires
    weights["b1"][1] = -100.0                                      # model 1 fully dead: whole/layer fire
    rule = ensemble.Reinitialisation(("whole", "layer", "partial", "whole"), (0.3, 0.3, 0.3, 0.3), schemes)
    run = dict(loss="mse", batch_size=8, lr=1e-2, epochs=2)
    seeds = torch.tensor([11, 12, 13, 14])
    together = ensemble.train_ensemble(X, config, weights, seeds, reinit=rule, **run)
    assert (together["reinitialised"] > 0).all()
    for m in range(4):
        one = {k: v[m:m + 1] for k, v in weights.items()}
        alone = ensemble.train_ensemble(X, config, one, seeds[m:m + 1], reinit=rule[m:m + 1], **run)
        assert alone["reinitialised"][0] == together["reinitialised"][m]
        for k in together["params"]:
            assert torch.allclose(alone["params"][k][0], together["params"][k][m], atol=1e-12, rtol=0)


@pytest.mark.parametrize("entrywise_steps", [False, True])
@pytest.mark.parametrize("weight_decay", [0.0, 1e-2])
def test_ensemble_adam_is_torch_adam_until_a_reset(weight_decay, entrywise_steps):
    g = torch.Generator().manual_seed(0)
    p0 = {"a": torch.randn(3, 4, 5, generator=g, dtype=torch.float64),
          "b": torch.randn(3, 2, generator=g, dtype=torch.float64)}
    ours = {k: v.clone() for k, v in p0.items()}
    grads = {k: torch.empty_like(v) for k, v in p0.items()}
    ref = [v.clone().requires_grad_(True) for v in p0.values()]
    mine = ensemble.EnsembleAdam(ours, grads, lr=1e-2, weight_decay=weight_decay,
                                 entrywise_steps=entrywise_steps)
    torch_adam = torch.optim.Adam(ref, lr=1e-2, weight_decay=weight_decay)

    def gradient(p):                                     # of (p ** 3).sum() + p.sum()
        return 3 * p ** 2 + 1

    for _ in range(5):
        for k in ours:
            grads[k].copy_(gradient(ours[k]))
        mine.step()
        torch_adam.zero_grad()
        sum(((p ** 3).sum() + p.sum()) for p in ref).backward()
        torch_adam.step()
    for k, r in zip(ours, ref, strict=True):
        assert torch.allclose(ours[k], r, atol=1e-12)
    if not entrywise_steps:
        assert mine.state["a"]["step"].shape == () and float(mine.state["a"]["step"]) == 5
        return
    state = mine.state["a"]
    for key in ("step", "exp_avg", "exp_avg_sq"):        # a reset entry restarts its bias correction:
        state[key][0] = 0                                # its next update is lr * sign(gradient)
    before = ours["a"].clone()
    for k in ours:
        grads[k].copy_(gradient(ours[k]))
    grad = grads["a"][0] + weight_decay * before[0]
    mine.step()
    assert torch.allclose(before[0] - ours["a"][0], 1e-2 * grad / (grad.abs() + 1e-8), atol=1e-9)


def test_adam_step_reset_changes_only_reinitialised_models():
    config = AEConfig("basic", 12, 3, n1=4)
    weights = _dead_model_weights(config)
    run = dict(loss="mse", batch_size=8, lr=1e-2, epochs=1)
    out = {}
    for choice in ensemble.ADAM_STEP_CHOICES:
        rule = ensemble.Reinitialisation(("whole", None), (0.5, 0.5), ("he_normal", "he_normal"), choice)
        out[choice] = ensemble.train_ensemble(X, config, weights, torch.tensor([1, 2]), reinit=rule, **run)
    assert not torch.allclose(out["keep"]["params"]["W0"][0], out["reset"]["params"]["W0"][0])
    assert torch.allclose(out["keep"]["params"]["W0"][1], out["reset"]["params"]["W0"][1], atol=1e-6)


def test_evaluation_memory_does_not_grow_with_the_chunk():
    config = AEConfig("basic", 156, 3, n1=10)
    assert ensemble.eval_block(10, config, 9025) == 9025
    big = ensemble.eval_block(10_000, config, 9025)
    per_pixel = 10_000 * (30 + 3 + 156 + 2 * 156 + 2 * 3) * 4      # activations of 10k models, bytes
    assert big * per_pixel <= 512 * 1024**2 < (big + 1) * per_pixel


def test_an_80_gb_gpu_takes_10000_models_of_every_experiment():
    from companion.experiments.stability import EXPERIMENTS
    for e in EXPERIMENTS.values():
        L, R, pixels = (156, 3, 9025) if e["dataset"] == "samson" else (198, 4, 10000)
        config = AEConfig(e["arch"], L, R, n1=e["n1"] or 10)
        fits = ensemble.models_per_chunk(config, pixels, e["batch_size"], torch.device("cpu"),
                                         budget_bytes=40 * 1024**3)          # half of 80 GB
        assert fits >= 10_000


def test_chunk_size_follows_the_memory_budget():
    config = AEConfig("basic", 156, 3, n1=10)
    cpu = torch.device("cpu")
    small = ensemble.models_per_chunk(config, 9025, 4, cpu, budget_bytes=100 * 1024**2)
    large = ensemble.models_per_chunk(config, 9025, 4, cpu, budget_bytes=1000 * 1024**2)
    assert 1 <= small < large and 9 <= large / small <= 11


def test_cpu_chunks_are_sized_for_the_caches_not_the_memory():
    config = AEConfig("basic", 156, 3, n1=10)
    # parameters 156*30 + 30 + 30*3 + 3 + 3*156 + 3*3 = 5280; widths 30 + 3 + 156 + 156 = 345
    assert ensemble.step_bytes(config, 4) == (4 * 5280 + 4 * 4 * 345) * 4
    cpu = torch.device("cpu")
    chunk = ensemble.models_per_chunk(config, 9025, 4, cpu)
    assert chunk == ensemble.CPU_STEP_BYTES // ensemble.step_bytes(config, 4)
    assert chunk < ensemble.models_per_chunk(config, 9025, 4, cpu, budget_bytes=2 * 1024**3) / 10
