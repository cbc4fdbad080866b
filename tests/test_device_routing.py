"""Every chapter's hot loop runs on the requested device, without a GPU (issue 24, items 1-2).

The loops are driven with their data on torch's ``meta`` device: it follows CUDA's cross-device
rules (a CPU tensor with dimensions beside a device tensor raises) and holds no values. The guard
:class:`Traffic` counts, while it is active,

- ``uploads``: host-to-device constructions (``torch.tensor``/``torch.as_tensor`` of host data, or
  ``.to``/``.copy_`` of a CPU tensor, onto another device; a CPU tensor with dimensions used by an
  operation on a device tensor, e.g. a CPU index into a device tensor, which CUDA copies);
- ``reads``: host reads (``.item()``, ``float()``, ``bool()``, ``.tolist()``:
  ``aten._local_scalar_dense``; ``.cpu()`` of a device tensor; boolean-mask indexing and
  ``nonzero``, whose output size the host must wait for);

and answers a read of a meta tensor with zeros (and a ``nonzero`` with "all non-zero"), so a loop
that reads runs to its end and the count says how often it read. A loop is measured at two
lengths: the difference of the counts divided by the difference of the iterations is the count
per iteration, free of the setup and the final copy of the result to the host.

Loops that need values (DeepGU's BFGS line search and active set, the outer convergence test)
are checked two ways: on ``meta`` (every tensor they build is on the data's device, else they
raise), and on the CPU with real values, where the guard counts their synchronising reads per
iteration against a stated bound.
"""

from __future__ import annotations

import contextlib
import math
from collections import Counter

import numpy as np
import pytest
import torch
import torch.fx.experimental._config as fx_config
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

aten = torch.ops.aten
META = torch.device("meta")

_COPIES = {aten._to_copy.default, aten.copy_.default, aten.lift_fresh.default, aten.lift_fresh_copy.default}
_SYNC_SHAPE = {aten.nonzero.default, aten.masked_select.default, aten.unique_consecutive.default,
               aten._unique2.default}
_MATMULS = {aten.mm.default, aten.bmm.default, aten.addmm.default, aten.baddbmm.default, aten.matmul.default,
            aten.linalg_solve_ex.default, aten.linalg_inv_ex.default, aten._fft_c2c.default,
            aten._fft_r2c.default}


def _off_host(t: torch.Tensor) -> bool:
    return t.device.type != "cpu"


class _Functions(TorchFunctionMode):
    """Explicit constructions of device tensors from host data."""

    def __init__(self, traffic: Traffic):
        super().__init__()
        self.traffic = traffic

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if func in (torch.tensor, torch.as_tensor):
            data = args[0] if args else kwargs.get("data")
            if isinstance(out, torch.Tensor) and _off_host(out) and not (
                    isinstance(data, torch.Tensor) and _off_host(data)):
                self.traffic.uploads += 1
        elif func in (torch.Tensor.to, torch.Tensor.cuda, torch.Tensor.copy_):
            source = args[1] if func is torch.Tensor.copy_ else args[0]
            target = args[0] if func is torch.Tensor.copy_ else out
            if (isinstance(source, torch.Tensor) and isinstance(target, torch.Tensor)
                    and not _off_host(source) and _off_host(target)):
                self.traffic.uploads += 1
        return out


class _Dispatch(TorchDispatchMode):
    """Implicit uploads (CPU tensors beside device tensors) and host reads."""

    def __init__(self, traffic: Traffic):
        super().__init__()
        self.traffic = traffic

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        t = self.traffic
        counts = lambda x: t.cpu_reads or _off_host(x)  # noqa: E731
        tensors = [a for a in tree_leaves((args, kwargs)) if isinstance(a, torch.Tensor)]
        if func is aten._local_scalar_dense.default:
            t.reads += counts(args[0])
            if args[0].is_meta:                                  # no value: answer zero
                return False if args[0].dtype == torch.bool else 0 if not args[0].is_floating_point() else 0.0
        elif (func is aten._to_copy.default and _off_host(args[0])
              and kwargs.get("device") == torch.device("cpu")):
            t.reads += 1
            if args[0].is_meta:
                return torch.zeros(args[0].shape, dtype=kwargs.get("dtype") or args[0].dtype)
        elif func in _SYNC_SHAPE:
            t.reads += counts(args[0])
        elif func in (aten.index.Tensor, aten.index_put_.default, aten.index_put.default) and any(
                i is not None and i.dtype == torch.bool for i in args[1]):
            t.reads += counts(args[0])
        elif func not in _COPIES and any(map(_off_host, tensors)) and any(
                not _off_host(a) and a.dim() > 0 for a in tensors):
            t.uploads += 1
        if func in _MATMULS and tensors:
            t.compute[tensors[0].device.type] += 1
        return func(*args, **kwargs)


class Traffic:
    """Counts uploads and host reads while active (module docstring); ``compute`` counts the
    matrix products and FFTs by the device they ran on. A read of a CPU tensor (e.g. Adam's step
    counter, kept on the host) is no device sync and is not counted unless ``cpu_reads``: then
    every read counts, as it would if the data were on a device (for loops measured on the CPU)."""

    def __init__(self, cpu_reads: bool = False):
        self.cpu_reads = cpu_reads
        self.uploads = 0
        self.reads = 0
        self.compute = Counter()

    @contextlib.contextmanager
    def __call__(self):
        before = fx_config.meta_nonzero_assume_all_nonzero
        fx_config.meta_nonzero_assume_all_nonzero = True
        try:
            with _Functions(self), _Dispatch(self):
                yield self
        finally:
            fx_config.meta_nonzero_assume_all_nonzero = before


def measure(run, sizes: tuple[int, int]) -> tuple[float, float]:
    """``(uploads, reads)`` per unit of ``size``: ``run(size)`` at both sizes, difference of the
    counts over the difference of the sizes."""
    counts = []
    for size in sizes:
        traffic = Traffic()
        with traffic():
            run(size)
        counts.append((traffic.uploads, traffic.reads))
    span = sizes[1] - sizes[0]
    return (counts[1][0] - counts[0][0]) / span, (counts[1][1] - counts[0][1]) / span


def test_the_guard_counts_what_it_claims():
    x = torch.ones(4, 3, device=META)
    traffic = Traffic()
    with traffic():
        torch.tensor([1.0, 2.0], device=META)                # upload
        torch.as_tensor(np.ones(3), device=META)             # upload
        torch.ones(3).to(META)                               # upload
        x[torch.tensor([0, 1])]                              # implicit upload of the index
        x * 2.0                                              # no traffic: a Python scalar
        x * torch.tensor(2.0)                                # no traffic: a CPU 0-dim scalar
        x.sum().item()                                       # read
        bool(x.sum() > 0)                                    # read
        x.cpu()                                              # read
        x[x[:, 0] > 0]                                       # read (boolean mask)
        x @ x.T                                              # compute on meta
    assert (traffic.uploads, traffic.reads) == (4, 4)
    assert traffic.compute == {"meta": 1}


# ----------------------------------------------------------------------------- stability
def _meta_ae(dropout: float):
    from companion.nets.unmixing_ae import AEConfig, UnmixingAE, initial_weights

    config = AEConfig("original", 6, 3, dropout=dropout)
    return UnmixingAE(config, initial_weights(config, "he_uniform", 0)).to(META)


def test_train_single_runs_on_the_device_with_no_traffic_per_step():
    """Seeds, pixel order and dropout noise on the data's device; losses read once at the end."""
    from companion.nets.unmixing_ae import train_single

    X = torch.rand(40, 6).to(META)

    def run(epochs):
        losses = train_single(_meta_ae(0.1), X, loss="mse", batch_size=8, lr=1e-3, epochs=epochs, run_seed=3)
        assert len(losses) == 5 * epochs and all(isinstance(v, float) for v in losses)

    assert measure(run, (1, 3)) == (0.0, 0.0)


def test_counter_draws_build_nothing_on_the_host():
    """The counter-based draws of the ensemble (pixel order, dropout noise, Table 3 redraws)."""
    from companion.nets.unmixing_ae import counter_linear, dropout_noise, pixel_order

    seeds = torch.arange(4, device=META)
    schemes = torch.tensor([0, 1, 2, 3]).to(META)
    traffic = Traffic()
    with traffic():
        w, b = counter_linear(seeds, schemes, 1, 2, 3, 7, 5, math.sqrt(2.0), META)
        noise = dropout_noise(seeds, 2, 3, 8, 3, 0.1, META)
        order = pixel_order(seeds, 2, 40, 8, META)
    assert (traffic.uploads, traffic.reads) == (0, 0)
    assert (w.device, b.device, noise.device, order.device) == (META,) * 4
    assert (w.shape, b.shape, order.shape) == ((4, 5, 7), (4, 5), (4, 5, 8))


def test_counter_draws_are_the_same_numbers_as_before():
    """Planted values of the CPU streams (computed at the commit before the device fixes): the
    device-side constants leave every CPU draw bit-identical."""
    from companion.nets.unmixing_ae import counter_linear, counter_uniform

    u = counter_uniform(torch.tensor([0, 12345]), 1, 2, 3, (3,))
    assert u.flatten().tolist() == [0.2606631481691153, 0.1687056577112911, 0.06833857279512423,
                                    0.06680683545008881, 0.1165786106661032, 0.14892063704673797]
    w, b = counter_linear(torch.tensor([5, 6]), torch.tensor([1, 2]), 1, 2, 3, 2, 2, math.sqrt(2.0))
    assert w.flatten().tolist() + b.flatten().tolist() == [
        -0.34673458885249525, -0.36027206317277555, 0.2924070755658696, 0.19069573064503603,
        1.2348711603276632, 0.8232567723022433, 0.8541229480919965, -0.554168123171354,
        0.31368711441311115, 0.6902823218762628, 0.0, 0.0]


# ----------------------------------------------------------------------------- U-ADMM
@pytest.mark.parametrize("keep_best", [False, True])
def test_unfolded_training_uploads_and_reads_once_per_epoch_at_most(keep_best):
    """The minibatch order crosses once per epoch (numpy streams, one array for all runs) and
    the epoch's mean loss is read once per epoch (history, best-epoch checkpoint; the runs that
    improved cross back as one mask): with 5 steps an epoch, at most 2 uploads and 1 read an
    epoch (it was one upload and one read a step)."""
    from companion.nets.admm_unfolding import BlindNet, LinearDecoder, UnfoldedADMM, train_blind

    rng = np.random.default_rng(0)
    E0 = rng.uniform(0.1, 0.9, size=(2, 6, 3))
    Y = torch.as_tensor(rng.uniform(size=(40, 6)), dtype=torch.float32).to(META)

    def run(epochs):
        model = BlindNet(UnfoldedADMM(E0, K=2), LinearDecoder(E0)).to(META)
        log = train_blind(model, Y, epochs=epochs, batch=8, seeds=[0, 1], keep_best=keep_best)
        assert log.loss.shape == (epochs, 2)

    uploads, reads = measure(run, (1, 3))                # per epoch of 5 steps
    assert uploads <= 2 and reads <= 1


# ----------------------------------------------------------------------------- NMF-SAE, MTL, NLAEU
def test_nmf_sae_training_reads_nothing_per_iteration():
    from companion.nets.nmf_sae import NMFSAE, train

    rng = np.random.default_rng(0)
    as_meta = lambda a: torch.as_tensor(a, dtype=torch.float32).to(META)  # noqa: E731
    X, A0, S0 = as_meta(rng.uniform(size=(6, 20))), as_meta(rng.uniform(size=(2, 6, 3))), as_meta(
        rng.dirichlet(np.ones(3), size=(2, 20)).transpose(0, 2, 1))

    def run(iterations):
        history = train(NMFSAE(X, A0, S0, K=2), iterations, 1e-3, 1e-3, progress=False)
        assert history.shape == (iterations, 2)

    assert measure(run, (2, 5)) == (0.0, 0.0)


def _image(L=6, N=30, p=3, seed=0):
    rng = np.random.default_rng(seed)
    E = rng.uniform(0.1, 0.9, size=(L, p))
    A = rng.dirichlet(np.ones(p), size=N).T
    return E, A, E @ A


def test_mtl_fit_reads_nothing_per_iteration():
    """The five loss terms of every iteration stay on the device until the end (was 5 reads)."""
    from companion.nets import mtl

    E, A, Y = _image()

    def run(iterations):
        fit = mtl.fit(Y, 3, [0], iterations, alpha=1.0, beta=1e-3, hidden_rows=[8], hidden_cols=[4],
                      device="meta", start=(E[None], A[None]))
        assert fit.history["total"].shape == (iterations, 1)

    assert measure(run, (2, 4)) == (0.0, 0.0)


def test_nlaeu_fit_reads_nothing_per_iteration():
    from companion.nets import nlaeu

    _, _, Y = _image()

    def run(iterations):
        fit = nlaeu.fit(Y, 3, [0], iterations, hidden=8, hidden_nl=4, device="meta")
        assert fit.loss.shape == (iterations, 1)

    assert measure(run, (2, 4)) == (0.0, 0.0)


# ----------------------------------------------------------------------------- DeepGU
def test_vae_training_draws_once_and_reads_nothing_per_epoch():
    """The per-VAE generators (CPU streams, kept for identical numbers) are drawn for the whole
    training before it starts and cross once; the loss history is read at the end."""
    from companion.nets.vae import train_vaes

    bundles = torch.rand(3, 12, 6).to(META)

    def run(epochs):
        model, history = train_vaes(bundles, [0, 1, 2], epochs=epochs)
        assert len(history) == epochs and next(model.parameters()).device == META

    assert measure(run, (1, 3)) == (0.0, 0.0)


def test_latent_step_builds_every_tensor_on_the_data_device():
    """On meta (no values: the guard answers every mask with 'all true', so the line search runs
    its full ``max_halvings``) nothing is built on the host."""
    from companion.nets.deepgu import latent_step
    from companion.nets.vae import EndmemberVAE

    vae = EndmemberVAE(6, 2, [torch.Generator().manual_seed(s) for s in range(3)]).to(META)
    Y, A = torch.rand(10, 6).to(META), torch.rand(10, 3).to(META)
    traffic = Traffic()
    with traffic():
        Z, info = latent_step(vae.decode, Y, A, torch.zeros(10, 3, 2, device=META),
                              torch.zeros(3, 2, device=META), 0.1, max_iter=2, max_halvings=3)
    assert Z.device == META and traffic.uploads == 0


def test_latent_step_synchronises_a_bounded_number_of_times_per_iteration():
    """The BFGS of eq. 12 needs values: each pixel's line search stops when its Armijo test
    passes and finished pixels leave the active set, so every halving and every iteration shrinks
    an index set (one sync each). Bound, measured on the CPU with real values: at most
    ``max_halvings + 1`` syncs per BFGS iteration, one per halving (the pixels whose Armijo test
    failed) and one for the pixels still active; the descent resets and failed steps are
    selected without a sync (there were 10 more: one per boolean-mask assignment)."""
    from companion.nets.deepgu import latent_step
    from companion.nets.vae import EndmemberVAE

    g = torch.Generator().manual_seed(0)
    vae = EndmemberVAE(6, 2, [torch.Generator().manual_seed(s) for s in range(3)])
    Y, A = torch.rand(30, 6, generator=g), torch.softmax(torch.randn(30, 3, generator=g), dim=1)
    Z, Z0 = torch.randn(30, 3, 2, generator=g), torch.randn(3, 2, generator=g)
    counts = []
    for max_iter in (1, 4):
        traffic = Traffic(cpu_reads=True)
        with traffic():
            _, info = latent_step(vae.decode, Y, A, Z, Z0, 0.1,
                                  max_iter=max_iter, tol=0.0, ftol=0.0, gtol=0.0, max_halvings=5)
        counts.append((traffic.reads, info["iterations"]))
    assert counts[1][1] - counts[0][1] == 3                      # the loop did run 3 more iterations
    assert 0 < (counts[1][0] - counts[0][0]) / 3 <= 5 + 1


def _problem(device: str):
    from companion.methods import Problem, Start

    E, A, Y = _image(L=8, N=36, p=3)
    start = Start("vca", 0, E, A, 0.0)
    budget = {"deepgu_epochs": 1, "deepgu_outer": 1, "elmm_iterations": 2, "ae_epochs": 1}
    return Problem(Y, 6, 6, 3, start, 0, budget, device=device)


def test_benchmark_deepgu_adapter_runs_its_networks_on_the_requested_device(monkeypatch):
    """VAE training, the latent BFGS and the TV-ADMM abundance solve of the benchmark's DeepGU
    run where the problem says (the adapter passed ``device="cpu"``). On meta no convergence test
    passes, so the iteration budgets are cut to keep the test short (the device is what counts)."""
    from companion import methods
    from companion.methods import METHODS
    from companion.nets import deepgu

    monkeypatch.setitem(methods.DEEPGU, "latent_iter", 2)
    unmix_tv = deepgu.unmix_tv
    monkeypatch.setattr(deepgu, "unmix_tv",
                        lambda *args, **kwargs: unmix_tv(*args, **(kwargs | {"iterations": 2})))
    traffic = Traffic()
    with traffic():
        estimate = METHODS["deepgu"].run(_problem("meta"))
    assert estimate.abundances.shape == (3, 36)
    assert traffic.compute["meta"] > 0 and traffic.compute["cpu"] == 0


def test_benchmark_start_runs_its_fcls_on_the_requested_device():
    from companion.methods import make_start

    _, _, Y = _image(L=8, N=36, p=3)
    traffic = Traffic()
    with traffic():
        start = make_start("vca", Y, 3, 0, device="meta")
    assert start.abundances.shape == (3, 36)
    assert traffic.compute["meta"] > 0 and traffic.compute["cpu"] == 0


def test_deepgu_chapter_passes_its_device_to_every_torch_part(monkeypatch):
    """The chapter's compute functions take the chapter's ``device`` and hand it to FCLS and to
    DeepGU (they took none, so the chapter ran on the CPU whatever it was asked)."""
    from companion.chapters import resolve_parameters
    from companion.experiments import deepgu as experiment

    seen = []

    def fake_fcls(Y, M, device="auto"):
        seen.append(("fcls", str(device)))
        return np.full((M.shape[1], Y.shape[1]), 1.0 / M.shape[1])

    def fake_deepgu(Y, rows, cols, M0, A0, *args, device="cpu", **kwargs):
        seen.append(("deepgu", str(device)))
        return {"abundances": A0, "endmembers": np.broadcast_to(M0, (Y.shape[1], *M0.shape)), "vae": object(),
                "outer_iterations": 1, "timings": {"vae": 0.0, "unmixing": 0.0}}

    monkeypatch.setattr(experiment, "fcls", fake_fcls)
    monkeypatch.setattr(experiment, "deepgu", fake_deepgu)
    P = {**resolve_parameters("deepgu", "smoke", baselines=[]), "device": "meta"}   # meta: tests only
    study = experiment.plan(P)["synthetic"]
    study.compute(next(iter(study.configs.values())))
    assert seen and all(device == "meta" for _, device in seen)
    assert {part for part, _ in seen} == {"fcls", "deepgu"}


# ----------------------------------------------------------------------------- validation, provenance
@pytest.mark.parametrize("device", ["mps", "mps:0"])
def test_devices_without_float64_are_refused_at_validation(device):
    from companion.chapters import available, get_chapter, resolve_parameters
    from companion.runtime import resolve_device

    with pytest.raises(ValueError, match="float64") as err:
        resolve_device(device)
    assert "\n" not in str(err.value)
    for chapter in available():
        if "device" in get_chapter(chapter).PARAMETERS:
            with pytest.raises(ValueError, match="float64") as err:
                resolve_parameters(chapter, "smoke", device=device)
            assert "\n" not in str(err.value)


def test_provenance_says_where_each_part_of_deepgu_ran():
    from companion.chapters import resolve_parameters
    from companion.pipeline import placement

    parts = placement("deepgu", {**resolve_parameters("deepgu", "smoke"), "device": "meta"})
    assert parts["VAE training"].startswith("meta") and parts["latent step (BFGS)"].startswith("meta")
    assert parts["ELMM, GLMM, PLMM baselines"].startswith("meta")


def test_a_computing_summary_records_where_each_part_ran(tmp_path, monkeypatch):
    """``write_summary`` fills the provenance's ``parts`` (the box redrawn after it shows them);
    a report-only summary claims none."""
    from companion import pipeline
    from companion.chapters import resolve_parameters
    from companion.results import Provenance, read_result

    monkeypatch.setenv("HU_RESULTS_DIR", str(tmp_path))
    P = resolve_parameters("deepgu", "smoke")
    prov = Provenance.start("deepgu", P, "CPU, one torch thread")
    pipeline.write_summary("deepgu", P, pipeline.Report([], {}), prov.finish(), root=tmp_path)
    stored = read_result("deepgu", "smoke", "summary", tmp_path)["provenance"]["parts"]
    assert stored == pipeline.placement("deepgu", P) and stored["VAE training"] == "CPU"
    assert "Where each part ran" in prov.to_html() and "VAE training: CPU" in prov.to_html()
    report_only = Provenance.start("deepgu", P, pipeline.REPORT_ONLY)
    pipeline.write_summary("deepgu", P, pipeline.Report([], {}), report_only.finish(), root=tmp_path)
    assert report_only.parts == {}


@pytest.mark.parametrize("chapter", ["stability", "mtl", "admm_unfolding", "deepgu", "nmf_sae"])
def test_every_chapter_says_which_parts_follow_the_device_and_which_stay_on_the_cpu(chapter):
    from companion.chapters import resolve_parameters
    from companion.pipeline import placement

    P = resolve_parameters(chapter, "smoke")
    on_cpu, on_meta = placement(chapter, {**P, "device": "cpu"}), placement(chapter, {**P, "device": "meta"})
    assert on_cpu and all(where.startswith("CPU") for where in on_cpu.values())
    followed = {part for part, where in on_meta.items() if where.startswith("meta")}
    host = {part for part, where in on_meta.items() if where.startswith("CPU")}
    assert followed and followed | host == set(on_meta)


def test_benchmark_methods_say_where_they_run():
    from companion.methods import METHODS, placement

    parts = placement("meta")
    assert parts["elmm"] == parts["deepgu"] == parts["starts (FCLS)"] == "meta"
    assert set(METHODS) - {"vca_fcls"} <= set(parts)
