"""The engine's hand-written backward gives autograd's gradients (an independent reference: one
``nn.Module`` per model, :class:`~companion.nets.unmixing_ae.UnmixingAE`)."""

import pytest
import torch

from companion.nets import ensemble_backprop as bp
from companion.nets.unmixing_ae import AEConfig, UnmixingAE, reconstruction_loss, stack_initial_weights


@pytest.mark.parametrize("architecture, dropout, loss, batch", [
    ("basic", 0.0, "mse", 4), ("basic", 0.0, "sad", 20), ("original", 0.0, "mse", 100),
    ("original", 0.0, "sad", 5), ("original", 0.1, "mse", 20), ("original", 0.1, "sad", 5)])
def test_gradients_equal_autograd_of_each_model(architecture, dropout, loss, batch):
    config = AEConfig(architecture, 12, 3, n1=4, dropout=dropout)
    g = torch.Generator().manual_seed(1)
    M = 3
    weights = stack_initial_weights(config, "he_uniform", range(M))
    x = torch.rand(M, batch, 12, generator=g, dtype=torch.float64)
    noise = 1 + dropout * torch.randn(M, batch, 3, generator=g, dtype=torch.float64) if dropout else None
    decoder = f"W{len(config.linear_layers()) - 1}"
    params = {k: (v.transpose(1, 2) if k == decoder else v).contiguous() for k, v in weights.items()}
    if architecture == "original":                                   # a BatchNorm scale other than 1
        params["gamma"] = params["gamma"] * 1.5
    grads = {k: torch.full_like(v, float("nan")) for k, v in params.items()}   # every entry must be written
    running = {"mean": torch.zeros(M, 3, dtype=torch.float64), "var": torch.ones(M, 3, dtype=torch.float64)}
    _, code, _, saved = bp.encode(params, x, config, running=running, training=True, noise=noise)
    value, d_code = bp.decoder_backward(x, x.norm(dim=-1), code, params[decoder], loss, grads[decoder])
    bp.encoder_backward(params, grads, saved, d_code, config)
    for m in range(M):
        one = {k: v[m] for k, v in weights.items()}
        model = UnmixingAE(config, one, dtype=torch.float64).train()
        if architecture == "original":
            with torch.no_grad():
                model.batch_norm.weight.copy_(params["gamma"][m])
        _, x_hat, _ = model(x[m], None if noise is None else noise[m])
        reference = reconstruction_loss(x[m], x_hat, loss)
        reference.backward()
        assert torch.allclose(value[m], reference.detach(), rtol=1e-10, atol=1e-12)
        expected = {decoder: model.decoder.weight.grad.T}
        for i, layer in enumerate(model.encoder):
            expected |= {f"W{i}": layer.weight.grad, f"b{i}": layer.bias.grad}
        if architecture == "original":
            expected |= {"gamma": model.batch_norm.weight.grad, "beta": model.batch_norm.bias.grad,
                         "alpha": model.threshold.alpha.grad}
            assert torch.allclose(running["mean"][m], model.batch_norm.running_mean, atol=1e-12)
            assert torch.allclose(running["var"][m], model.batch_norm.running_var, atol=1e-12)
        assert expected.keys() == grads.keys()
        for k, reference_grad in expected.items():
            assert torch.allclose(grads[k][m], reference_grad, rtol=1e-8, atol=1e-12), k


@pytest.mark.parametrize("n, k, p", [(4, 3, 30), (4, 30, 3), (3, 4, 3), (100, 27, 18), (5, 3, 156),
                                     (8, 4, 12)])
def test_contract_is_the_batched_matrix_product(n, k, p):
    g = torch.Generator().manual_seed(0)
    a = torch.randn(7, k, n, generator=g, dtype=torch.float64).transpose(1, 2)   # strided, as in the engine
    b = torch.randn(7, k, p, generator=g, dtype=torch.float64)
    out = torch.full((7, n, p), float("nan"), dtype=torch.float64)
    bias = torch.randn(7, 1, p, generator=g, dtype=torch.float64)
    assert torch.allclose(bp.contract(a, b), torch.bmm(a, b), atol=1e-12)
    assert torch.allclose(bp.contract(a, b, bias=bias), torch.bmm(a, b) + bias, atol=1e-12)
    bp.contract(a, b, out=out)
    assert torch.allclose(out, torch.bmm(a, b), atol=1e-12)


@pytest.mark.parametrize("loss", ["mse", "sad"])
def test_float32_decoder_step_is_as_accurate_as_autograd(loss):
    """In float32, at a reconstruction within 1 % of the data (where SAD's gradient is
    ill-conditioned: ``1 / sqrt(1 - cos^2)``), the decoder's loss and gradients are no further
    from float64 than autograd's own float32 values are (the SAD step's Gram form, module
    docstring)."""
    g = torch.Generator().manual_seed(2)
    E = torch.rand(8, 3, 156, generator=g, dtype=torch.float64)                        # D^T per model
    code = torch.distributions.Dirichlet(torch.ones(3)).sample((8, 4)).double()       # (8, 4, 3)
    x = torch.bmm(code, E)
    x = x + 0.01 * x.abs().mean() * torch.randn(x.shape, generator=g, dtype=torch.float64)

    def autograd(dtype):
        c, d = code.to(dtype).clone().requires_grad_(True), E.to(dtype).clone().requires_grad_(True)
        value = reconstruction_loss(x.to(dtype), torch.bmm(c, d), loss)
        value.sum().backward()
        return value.detach(), c.grad, d.grad

    def ours(dtype):
        d_decoder = torch.empty(8, 3, 156, dtype=dtype)
        xd = x.to(dtype)
        value, d_code = bp.decoder_backward(xd, xd.norm(dim=-1), code.to(dtype), E.to(dtype), loss, d_decoder)
        return value, d_code, d_decoder

    exact = autograd(torch.float64)
    for r64, a32, o32 in zip(ours(torch.float64), autograd(torch.float32), ours(torch.float32), strict=True):
        reference, scale = r64, r64.abs().max()
        autograd_error = (a32.double() - reference).abs().max()
        assert (o32.double() - reference).abs().max() <= 4 * autograd_error + 1e-6 * scale
    for r64, e64 in zip(ours(torch.float64), exact, strict=True):
        assert torch.allclose(r64, e64, rtol=1e-9, atol=1e-10 * e64.abs().max())
