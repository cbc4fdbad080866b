"""Every blind unmixing method of the book behind one interface (the benchmark chapter).

Each method is a small adapter around the package's own implementation: it receives a
:class:`Problem` (the image, its size, the number of endmembers ``p``, the shared
:class:`Start`, the run's seed and the iteration budget) and returns an :class:`Estimate`.
Scoring is not the adapters' business: :mod:`companion.experiments.benchmark` scores every
estimate with the same matching and metric functions.

Shapes: ``Y: (bands, pixels)`` row-major pixels; endmembers ``(bands, p)``; abundances
``(p, pixels)``; per-pixel endmembers ``(pixels, bands, p)``.

==================  ==============================  ===================================================
key                 chapter (paper)                 uses the shared start
==================  ==============================  ===================================================
``vca_fcls``        all (the start itself)          is the start: E0 and its FCLS abundances A0
``l1_nmf``          NMF-SAE, MTL (baseline)         E0, A0 (multiplicative updates from them)
``rnmf``            MTL (baseline)                  E0, A0
``ae_basic``        stability (Ksiazek et al.)      no: random weights (He uniform), run seed
``ae_original``     stability (Ksiazek et al.)      no: random weights (He uniform), run seed
``mnn_bu_2``        U-ADMM (Zhou et al., baseline)  |E0| in encoder and decoder
``uadmm_bunet_ii``  U-ADMM (Zhou et al.)            |E0| in encoder and decoder
``nmf_sae``         NMF-SAE (Xiong et al.)          E0 (its FCLS start is A0 again)
``mtl``             MTL (Mehrdad & Janani)          E0, A0
``nlaeu``           MTL (baseline)                  E0 only when the start is VCA (its ``fit`` draws
                                                    VCA from the seed itself; checked equal)
``elmm``            DeepGU (baseline)               E0 as reference, A0
``deepgu``          DeepGU (Borsoi et al.)          E0 as reference (bundles, VAEs), A0
``aa``              benchmark (HySUPP's AA)         no: SPAMS's start, the first ``p`` pixels (C)
``edaa``            benchmark (HySUPP's EDAA)       no: 50 random restarts from the run seed, one kept
                                                    by the method's own rule, no ground truth (C)
``sisal``           benchmark (HySUPP's SISAL)      E0 (P: the paper starts from VCA); abundances by
                                                    exact FCLS on its endmembers (C: HySUPP)
==================  ==============================  ===================================================

The *start-free* methods (``Method.start_free``: ``ae_basic``, ``ae_original``, ``aa``, ``edaa``)
use no start at all; the others repair the shared start, so a ranking of them alone answers
"which method best repairs a VCA start".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import torch

from .classic import archetypal_analysis, edaa, elmm, fcls, nmf_l1, rnmf, sisal, vca
from .initialisation import initial_endmembers
from .nets import mtl, nlaeu, nmf_sae
from .nets.admm_unfolding import BU_METHODS, BlindNet, LinearDecoder, UnfoldedADMM, train_blind
from .nets.deepgu import OFFICIAL, deepgu
from .nets.ensemble import train_ensemble, unmix
from .nets.unmixing_ae import AEConfig, stack_initial_weights
from .runtime import Timer, placed

__all__ = ["BUDGET_KEYS", "METHODS", "Estimate", "Method", "Problem", "Start", "budget_of", "make_start",
           "placement"]


@dataclass(frozen=True, eq=False)
class Start:
    """The initialisation every method that takes one receives: ``name`` (a key of
    :data:`companion.initialisation.INITIALISATIONS`), its ``seed``, ``endmembers (bands, p)``,
    their FCLS ``abundances (p, pixels)`` and the ``seconds`` both took."""

    name: str
    seed: int
    endmembers: np.ndarray
    abundances: np.ndarray
    seconds: float


def make_start(name: str, Y: np.ndarray, p: int, seed: int, truth: np.ndarray | None = None,
               device="cpu") -> Start:
    """The start ``name`` on ``Y (bands, pixels)`` with ``seed``: endmembers (on the host) then
    FCLS on ``device``."""
    with Timer() as t:
        E0 = initial_endmembers(name, Y, p, seed=seed, truth=truth)
        A0 = fcls(Y, E0, device=device)
    return Start(name, seed, E0, A0, t.seconds)


@dataclass(frozen=True, eq=False)
class Problem:
    """What a method is given: ``Y (bands, pixels)``, the image size ``rows x cols``, ``p``, the
    shared ``start``, the run ``seed`` (network weights, minibatch order ...), the iteration
    ``budget`` (keys: see :data:`BUDGET_KEYS`) and the torch ``device``."""

    Y: np.ndarray
    rows: int
    cols: int
    p: int
    start: Start
    seed: int
    budget: Mapping[str, int]
    device: str = "cpu"


@dataclass
class Estimate:
    """A method's output: ``endmembers (bands, p)`` (for per-pixel models, their pixel mean),
    ``abundances (p, pixels)`` and the model's ``reconstruction (bands, pixels)``."""

    endmembers: np.ndarray
    abundances: np.ndarray
    reconstruction: np.ndarray


@dataclass(frozen=True)
class Method:
    """One method: ``key``, display ``label``, the ``chapter`` it comes from, how it uses the
    start (``start_use``), its stated ``settings`` (for the protocol table), the adapter ``run``,
    ``refuse(problem) -> reason | None`` for problems it cannot take, ``charged_start``:
    whether the start's time counts in the method's wall time (it does when the method needs it),
    and ``start_free``: whether the method takes no start at all (neither the shared one nor
    its own VCA)."""

    key: str
    label: str
    chapter: str
    start_use: str
    settings: str
    run: Callable[[Problem], Estimate]
    refuse: Callable[[Problem], str | None] = lambda problem: None
    charged_start: bool = True
    start_free: bool = False


BUDGET_KEYS = ("nmf_iterations", "ae_epochs", "unrolled_epochs", "nmf_sae_iterations",
               "mtl_iterations", "nlaeu_iterations", "elmm_iterations", "deepgu_epochs", "deepgu_outer",
               "aa_iterations", "edaa_outer", "sisal_iterations")


def budget_of(P: Mapping, values: Mapping[str, int] | None = None) -> dict[str, int]:
    """The iteration budget of chapter parameters ``P``: ``values`` (default ``P`` itself) at every
    key of :data:`BUDGET_KEYS` that ``P`` holds. Runs made before ``aa``, ``edaa`` and ``sisal``
    lack their keys, so their configurations (and fingerprints) stay as stored."""
    values = P if values is None else values
    return {k: values[k] for k in BUDGET_KEYS if k in P}


def _linear(E: np.ndarray, A: np.ndarray) -> Estimate:
    return Estimate(E, A, E @ A)


def _per_pixel(M: np.ndarray, A: np.ndarray) -> Estimate:
    """Per-pixel endmembers ``M (pixels, bands, p)``: the estimate's endmembers are their mean."""
    return Estimate(M.mean(axis=0), A, np.einsum("nlp,pn->ln", M, A))


def _vca_fcls(pb: Problem) -> Estimate:
    return _linear(pb.start.endmembers, pb.start.abundances)


# Settings of the baselines: the MTL chapter's (l1nmf_lambda 0.01, rnmf_lambda 0.1).
L1NMF_LAMBDA = 0.01
RNMF_LAMBDA = 0.1


def _l1_nmf(pb: Problem) -> Estimate:
    r = nmf_l1(np.clip(pb.Y, 0.0, None), lam=L1NMF_LAMBDA, A0=pb.start.endmembers, X0=pb.start.abundances,
               n_iter=pb.budget["nmf_iterations"], tol=0.0, device=pb.device)   # the budget, exactly
    A = r.abundances / np.maximum(r.abundances.sum(0, keepdims=True), 1e-12)
    return Estimate(r.endmembers, A, r.endmembers @ r.abundances)


def _rnmf(pb: Problem) -> Estimate:
    r = rnmf(np.clip(pb.Y, 0.0, None), pb.start.endmembers, pb.start.abundances, lam=RNMF_LAMBDA,
             n_iter=pb.budget["nmf_iterations"], tol=0.0, device=pb.device)   # the budget, exactly
    return _linear(r.endmembers, r.abundances)   # reconstruction: the linear part M A, without R


# The stability chapter's Table 1 configurations used here: Experiment 10 (basic, n1 = 10, MSE,
# batch 20, lr 1e-3) and Experiment 1 (original, MSE, batch 100, lr 1e-2); PyTorch's default
# (He uniform) weights, the paper's footnote 1.
AE_SETTINGS = {"basic": {"n1": 10, "loss": "mse", "batch_size": 20, "lr": 1e-3},
               "original": {"n1": 10, "loss": "mse", "batch_size": 100, "lr": 1e-2}}
AE_SCHEME = "he_uniform"


def _autoencoder(architecture: str) -> Callable[[Problem], Estimate]:
    s = AE_SETTINGS[architecture]

    def run(pb: Problem) -> Estimate:
        scale = float(pb.Y.max())                    # data scaled by the global maximum, as ATE
        X = torch.as_tensor(pb.Y.T / scale, dtype=torch.float32, device=pb.device)
        config = AEConfig(architecture, pb.Y.shape[0], pb.p, n1=s["n1"])
        weights = stack_initial_weights(config, AE_SCHEME, [pb.seed])
        out = train_ensemble(X, config, weights, torch.tensor([pb.seed]), loss=s["loss"],
                             batch_size=s["batch_size"], lr=s["lr"], epochs=pb.budget["ae_epochs"])
        A, E, _ = unmix(out["params"], out["running"], X, config)
        return _linear(E[0].double().cpu().numpy() * scale, A[0].T.double().cpu().numpy())

    return run


# The U-ADMM paper's blind protocol (as the NMF-SAE chapter runs these baselines): Adam 1e-4,
# batch 64, one block, the official depth and best-loss checkpoint; trained on all pixels.
UNROLLED = {"batch": 64, "lr": 1e-4, "K": 1}


def _unrolled(name: str) -> Callable[[Problem], Estimate]:
    cls, tied = BU_METHODS[name]

    def run(pb: Problem) -> Estimate:
        E0 = np.abs(pb.start.endmembers)[None]      # the official code starts from |VCA|
        depth = {"official_depth": True} if cls is UnfoldedADMM else {}
        model = BlindNet(cls(E0, K=UNROLLED["K"], tied=tied, **depth), LinearDecoder(E0)).to(pb.device)
        Y = torch.as_tensor(np.ascontiguousarray(pb.Y.T), dtype=torch.float32, device=pb.device)
        train_blind(model, Y[None], epochs=pb.budget["unrolled_epochs"], batch=UNROLLED["batch"],
                    lr=UNROLLED["lr"], seeds=[pb.seed], keep_best=True)
        with torch.no_grad():
            A = model.encoder(Y[None])[0].double().cpu().numpy().T
            E = model.decoder.E[0].double().cpu().numpy()
        return _linear(E, A)

    return run


# NMF-SAE's synthetic-data settings (Sec. 3): K = 2, Adam 1e-4 (encoder), 5e-4 (decoder), on every
# scene (the paper's 1e-6 on Jasper is not used: one configuration for all scenes); all pixels.
NMF_SAE = {"K": 2, "lr_encoder": 1e-4, "lr_decoder": 5e-4}


def _nmf_sae(pb: Problem) -> Estimate:
    r = nmf_sae.fit(pb.Y, np.arange(pb.Y.shape[1]), pb.start.endmembers[None], K=NMF_SAE["K"],
                    iterations=pb.budget["nmf_sae_iterations"], lr_encoder=NMF_SAE["lr_encoder"],
                    lr_decoder=NMF_SAE["lr_decoder"], device=pb.device, progress=False)
    return _linear(r.endmembers[0], r.abundances[0])


# The MTL chapter's settings (alpha 1, beta 1e-3, hidden layers, iRprop+ step 0.01).
MTL = {"alpha": 1.0, "beta": 1e-3, "hidden_rows": [100, 250], "hidden_cols": [25, 50], "lr": 0.01}


def _mtl(pb: Problem) -> Estimate:
    r = mtl.fit(pb.Y, pb.p, [pb.seed], pb.budget["mtl_iterations"], device=pb.device,
                start=(pb.start.endmembers[None], pb.start.abundances[None]), **MTL)
    return _linear(r.endmembers[0], r.abundances[0])


def _nlaeu_refuses(pb: Problem) -> str | None:
    if pb.start.name != "vca":
        return (f"its fit() draws its own VCA start from the seed and takes no start object, so it "
                f"cannot start from {pb.start.name!r}")
    return None


def _nlaeu(pb: Problem) -> Estimate:
    own = vca(pb.Y, pb.p, seed=pb.start.seed)[0]
    if not np.array_equal(own, pb.start.endmembers):
        raise RuntimeError("NLAEU's own VCA start differs from the shared start")
    r = nlaeu.fit(pb.Y, pb.p, [pb.start.seed], pb.budget["nlaeu_iterations"], device=pb.device)
    return _linear(r.endmembers[0], r.abundances[0])


def _elmm(pb: Problem) -> Estimate:
    r = elmm(pb.Y, pb.start.endmembers, pb.rows, pb.cols, **OFFICIAL["dc1"]["elmm"],
             A0=pb.start.abundances, iterations=pb.budget["elmm_iterations"], device=pb.device)
    return _per_pixel(r.endmembers, r.abundances)


# DeepGU's reference-code example 1: lambda_A 0.05, lambda_Z 0.1, bundles of 100 pixels, 50 latent
# BFGS iterations; VAE epochs and outer alternations from the budget.
DEEPGU = {"lam_a": OFFICIAL["dc1"]["deepgu_lambda_a"], "lam_z": 0.1, "bundle_size": 100, "latent_iter": 50}


def _deepgu(pb: Problem) -> Estimate:
    out = deepgu(pb.Y, pb.rows, pb.cols, np.array(pb.start.endmembers), np.array(pb.start.abundances),
                 DEEPGU["lam_a"], DEEPGU["lam_z"], pb.seed, epochs=pb.budget["deepgu_epochs"],
                 bundle_size=DEEPGU["bundle_size"], outer=pb.budget["deepgu_outer"],
                 latent_iter=DEEPGU["latent_iter"], device=pb.device)
    return _per_pixel(out["endmembers"], out["abundances"])


def _aa(pb: Problem) -> Estimate:
    r = archetypal_analysis(pb.Y, pb.p, max_iter=pb.budget["aa_iterations"], device=pb.device)
    return _linear(r.endmembers, r.abundances)


# EDAA: HySUPP's configuration (C, config/model/EDAA.yaml): 50 restarts, k_a = k_b = 5 steps per
# alternation; the outer alternations (C: 100) from the budget.
EDAA = {"runs": 50, "k_a": 5, "k_b": 5}


def _edaa(pb: Problem) -> Estimate:
    r = edaa(pb.Y, pb.p, seed=pb.seed, outer=pb.budget["edaa_outer"], device=pb.device, **EDAA)
    return _linear(r.endmembers, r.abundances)


def _sisal(pb: Problem) -> Estimate:
    r = sisal(pb.Y, pb.p, M0=pb.start.endmembers, mm_iters=pb.budget["sisal_iterations"], device=pb.device)
    # its own abundances Q y may be slightly negative (hinge): exact FCLS instead (C: HySUPP)
    return _linear(r.endmembers, fcls(pb.Y, r.endmembers, device=pb.device))


def _described(settings: Mapping) -> str:
    return ", ".join(f"{k} {v}" for k, v in settings.items())


METHODS: dict[str, Method] = {m.key: m for m in [
    Method("vca_fcls", "VCA + FCLS", "all", "is the start (E0, A0)", "VCA automatic branch, exact FCLS",
           _vca_fcls),
    Method("l1_nmf", "L1-NMF", "NMF-SAE, MTL", "E0, A0", f"lambda {L1NMF_LAMBDA}, multiplicative updates",
           _l1_nmf),
    Method("rnmf", "rNMF", "MTL", "E0, A0", f"lambda {RNMF_LAMBDA}, multiplicative updates", _rnmf),
    Method("ae_basic", "AE basic (Exp. 10)", "stability", "no (He uniform weights, run seed)",
           _described(AE_SETTINGS["basic"]), _autoencoder("basic"), charged_start=False, start_free=True),
    Method("ae_original", "AE original (Exp. 1)", "stability", "no (He uniform weights, run seed)",
           _described(AE_SETTINGS["original"]), _autoencoder("original"), charged_start=False,
           start_free=True),
    Method("mnn_bu_2", "MNN-BU-2", "U-ADMM", "|E0|", _described(UNROLLED), _unrolled("MNN-BU-2")),
    Method("uadmm_bunet_ii", "U-ADMM-BUNet-II", "U-ADMM", "|E0|", _described(UNROLLED) + ", official depth",
           _unrolled("U-ADMM-BUNet-II")),
    Method("nmf_sae", "NMF-SAE", "NMF-SAE", "E0 (FCLS start = A0)", _described(NMF_SAE), _nmf_sae),
    Method("mtl", "MTL", "MTL", "E0, A0", _described(MTL), _mtl),
    Method("nlaeu", "NLAEU", "MTL", "E0 when the start is VCA", "Adam 1e-3, hidden 64/32", _nlaeu,
           _nlaeu_refuses, charged_start=False),   # its fit() runs its own VCA
    Method("elmm", "ELMM", "DeepGU", "E0 (reference), A0", _described(OFFICIAL["dc1"]["elmm"]), _elmm),
    Method("deepgu", "DeepGU", "DeepGU", "E0 (reference, bundles), A0", _described(DEEPGU), _deepgu),
    Method("aa", "AA", "benchmark (HySUPP)", "no (the first p pixels, SPAMS's start)",
           "exact FCLS A-step, FISTA B-step (20 steps), tol 1e-6", _aa, charged_start=False, start_free=True),
    Method("edaa", "EDAA", "benchmark (HySUPP)", "no (random restarts, run seed)",
           _described(EDAA) + ", kept: smallest endmember correlation within 5% of the best l1 fit", _edaa,
           charged_start=False, start_free=True),
    Method("sisal", "SISAL", "benchmark (HySUPP)", "E0", "tau 1, mu 1000 p / N, 4 ADMM steps per "
           "subproblem, lambda 1e-6; abundances by exact FCLS", _sisal),
]}


# The parts of the benchmark that stay on the host whatever the device: their implementations take
# no device (numpy, or a classical solver without a device argument).
_HOST_PARTS = {
    "starts (VCA, SiVM, ... endmembers)": "numpy",
    "deepgu: bundles": "numpy, before training",
}


def placement(device) -> dict[str, str]:
    """Where each part of a benchmark run on ``device`` runs, for the provenance: every method
    and the starts' FCLS on ``device``, the parts of :data:`_HOST_PARTS` on the CPU (with why)."""
    here = placed(device)
    parts = {"starts (FCLS)": here, **{key: here for key in METHODS if key != "vca_fcls"}}
    return parts | {part: f"CPU ({why})" for part, why in _HOST_PARTS.items()}
