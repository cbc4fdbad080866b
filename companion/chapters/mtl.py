"""Deep nonlinear unmixing with multi-task learning (Mehrdad & Janani, arXiv 2402.03398).

Only a structured summary of the paper is available: the chapter re-derives the method and tests
its qualitative claims. ``PAPER_TARGETS`` is therefore empty; each claim of ``CLAIMS`` is judged
by the one-sided sign test over the paired comparisons it names (``companion.verdicts``), fixed
before looking at the results. The summary states the hidden sizes
([100, 250] rows, [25, 50] columns), VCA + pseudo-inverse start and iRprop+; every other value
below is our choice (image size, iterations, alpha, beta, SNRs, repetitions).
"""

from companion.chapters import Param, device_param, seed_param
from companion.verdicts import Claim

TITLE = "MTL: deep nonlinear unmixing with multi-task learning"
ORDER = 2

MODELS = ("linear", "gbm", "ppnm")
REAL_SCENES = ("samson", "jasper", "cuprite")

PARAMETERS = {
    "device": device_param(),
    "runs": Param(int, "repetitions (VCA and weight seeds) per configuration, trained together",
                  minimum=1),
    "seed": seed_param("first seed; run k uses seed + k"),
    "scene_seed": seed_param("seed of the synthetic abundances, nonlinearity and noise"),
    "z": Param(int, "synthetic image is z^2 x z^2 pixels (patch-and-blur abundances)", minimum=2),
    "models": Param(list, "mixing models of the synthetic images", item=str, choices=MODELS, nonempty=True),
    "snrs": Param(list, "SNRs in dB of the synthetic images", item=float, nonempty=True),
    "iterations": Param(int, "full-batch iRprop+ iterations of MTL on synthetic images", minimum=1),
    "real_iterations": Param(int, "iRprop+ iterations on the real scenes", minimum=1),
    "real_runs": Param(int, "repetitions on the real scenes (the first real_runs seeds; <= runs)",
                       minimum=1),
    "lr": Param(float, "iRprop+ initial step (Igel & Huesken: 0.0125)", positive=True, maximum=50.0),
    "alpha": Param(float, "weight of the auxiliary NMF task", minimum=0.0),
    "beta": Param(float, "weight of the Frobenius penalties", minimum=0.0),
    "hidden_rows": Param(list, "hidden sizes of the row branch f (summary: [100, 250])", item=int,
                         minimum=1),
    "hidden_cols": Param(list, "hidden sizes of the column branch g (summary: [25, 50])", item=int,
                         minimum=1),
    "alphas": Param(list, "alpha values of the sensitivity study (besides alpha)", item=float, minimum=0.0),
    "betas": Param(list, "beta values of the sensitivity study (besides beta)", item=float, minimum=0.0),
    "hidden_scales": Param(list, "factors on both branches' hidden sizes in the sensitivity study",
                           item=float, positive=True),
    "p_large": Param(int, "endmembers of the scaling experiment (summary: 12; 0 skips it)", minimum=0,
                     maximum=12),
    "nmf_iterations": Param(int, "iterations of the L1-NMF and rNMF baselines", minimum=1),
    "nlaeu_iterations": Param(int, "Adam iterations of the NLAEU baseline", minimum=1),
    "l1nmf_lambda": Param(float, "L1 weight of the L1-NMF baseline", minimum=0.0),
    "rnmf_lambda": Param(float, "group-sparsity weight of the rNMF baseline", minimum=0.0),
    "real": Param(list, "real scenes (cuprite: user-supplied CupriteS1_R188.mat, scored by SAD only)",
                  item=str, choices=REAL_SCENES),
}


def check_parameters(params: dict) -> None:
    """Combinations the per-parameter ranges cannot express."""
    if params["real_runs"] > params["runs"]:
        raise ValueError(f"parameter 'real_runs' ({params['real_runs']}) must not exceed runs "
                         f"({params['runs']}): the real scenes use the first real_runs seeds")
    if params["p_large"] == 1:
        raise ValueError("parameter 'p_large' must be 0 (skip the scaling experiment) or 2-12, got 1")

_COMMON = {"seed": 0, "scene_seed": 0, "lr": 0.01, "alpha": 1.0, "beta": 1e-3,
           "hidden_rows": [100, 250], "hidden_cols": [25, 50], "l1nmf_lambda": 0.01, "rnmf_lambda": 0.1}

PRESETS = {
    "smoke": {**_COMMON, "device": "cpu", "runs": 1, "z": 4, "models": ["gbm"], "snrs": [30.0],
              "iterations": 10, "real_iterations": 2, "real_runs": 1, "alphas": [0.1], "betas": [],
              "hidden_scales": [], "p_large": 0, "nmf_iterations": 10, "nlaeu_iterations": 10, "real": []},
    # book: 25 x 25 images, 3 repetitions, 150 iterations; real scenes 2 repetitions, 50 iterations
    "book": {**_COMMON, "device": "auto", "runs": 3, "z": 5, "models": list(MODELS), "snrs": [30.0, 20.0],
             "iterations": 150, "real_iterations": 50, "real_runs": 2, "alphas": [0.1, 10.0],
             "betas": [0.0, 0.1], "hidden_scales": [0.25, 2.0], "p_large": 12, "nmf_iterations": 100,
             "nlaeu_iterations": 150, "real": ["samson", "jasper"]},
    # paper: 49 x 49 images, 10 repetitions, longer training, wider grids
    "paper": {**_COMMON, "device": "auto", "runs": 10, "z": 7, "models": list(MODELS),
              "snrs": [40.0, 30.0, 20.0], "iterations": 1000, "real_iterations": 500, "real_runs": 10,
              "alphas": [0.01, 0.1, 10.0, 100.0], "betas": [0.0, 1e-2, 1e-1],
              "hidden_scales": [0.25, 0.5, 2.0], "p_large": 12, "nmf_iterations": 1000,
              "nlaeu_iterations": 1000, "real": ["samson", "jasper", "cuprite"]},
}

# Qualitative claims only (no numbers in the summary): no numeric target.
PAPER_TARGETS = []

# One comparison: MTL's run mean against a rival's on one image and one metric (lower SAD, lower
# RMSE); ties are left out of the sign test. Metrics without a reference (Cuprite's RMSE) are no
# comparison.
_RIVALS = "VCA + FCLS, L1-NMF, rNMF and NLAEU"
CLAIMS = [
    Claim("1. beats linear and nonlinear baselines on nonlinear data",
          "1. beats linear and nonlinear baselines on nonlinear data", "abstract; Key results",
          "better SAD and RMSE than the state of the art",
          f"MTL against each of {_RIVALS} on each nonlinear (GBM, PPNM) image with P = 4, in SAD and "
          "RMSE (run means): image x metric x rival"),
    Claim("2. the auxiliary task regularises (alpha = 0 is worse)",
          "2. the auxiliary task regularises (alpha = 0 is worse)", "Mechanism 2",
          "multi-task learning mitigates overfitting",
          "MTL (alpha) against MTL (alpha = 0) from the same start on each nonlinear image with P = 4, "
          "in SAD and RMSE (run means): image x metric"),
    Claim("3. works across alpha, beta and hidden sizes", "3. works across alpha, beta and hidden sizes",
          "Sec. design trade-offs", "alpha, beta and layer sizes are trade-offs (no sensitivity study)",
          "MTL at each setting of the sensitivity study and at the defaults against the VCA + FCLS it "
          "starts from, in SAD and RMSE (run means): setting x metric"),
    Claim("4. the advantage holds with 12 endmembers", "4. the advantage holds with 12 endmembers",
          "Open question 3", "4 and 12 endmembers tested",
          f"MTL against each of {_RIVALS} on each nonlinear image with p_large endmembers (12), in SAD "
          "and RMSE (run means): image x metric x rival"),
    Claim("real data: beats the baselines", "real data: beats the baselines", "abstract",
          "superior on real data",
          f"MTL against each of {_RIVALS} on each real scene with reference abundances (Samson, "
          "Jasper Ridge), in SAD and RMSE (run means): scene x metric x rival"),
    Claim("cuprite", "Cuprite (12 endmembers)", "Key results", "superior on real data",
          f"MTL against each of {_RIVALS} on Cuprite, per-endmember SAD (run means; Cuprite has no "
          "reference abundances, and four mean-SAD comparisons could never reach p < 0.05): "
          "endmember x rival"),
]
