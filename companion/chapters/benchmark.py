"""The benchmark: every blind method of the book on the same scenes, under one protocol.

No paper ran this comparison, so there are no numeric targets; the chapter judges each paper's
claim of superiority under the common protocol (:data:`CLAIMS`, each twice: over every scene of
the run and over the paper's own kind of scene), by the sign test of
:func:`companion.verdicts.judge_claim` on the wins and losses of the paired comparisons fixed in
:data:`CLAIM_TERMS` and :data:`CLAIM_METRICS` before looking at the records. Budgets: the
iterations of the papers' methods are far below each paper's protocol at every scale (the whole
``paper`` run has to fit about two hours of one CPU thread); the chapter states them. AA, EDAA
and SISAL (HySUPP's archetypal and minimum-volume methods, from no paper of the book) run at
their own default budgets at ``paper`` scale (EDAA's 50 restarts of 100 alternations cost 11-27 s
a record on one thread, Urban crop and Samson), at short ones at ``smoke`` and ``book`` (about 60
s of one core for the three at ``book``).
"""

from companion.chapters import Param, device_param
from companion.verdicts import Claim

TITLE = "Benchmark: every method, one protocol, ranked"
ORDER = 6

_METHODS = ("vca_fcls", "l1_nmf", "rnmf", "ae_basic", "ae_original", "mnn_bu_2", "uadmm_bunet_ii",
            "nmf_sae", "mtl", "nlaeu", "elmm", "deepgu", "aa", "edaa", "sisal")
_SCENES = ("samson", "jasper", "urban_crop", "urban", "dc1_snr30", "dc1_snr20", "dc2_snr30",
           "dc2_snr20", "uadmm_snr30", "uadmm_snr20", "gbm_snr30", "gbm_snr20", "minerals_snr30",
           "minerals_snr20")
_INITS = ("vca_projective", "vca_affine", "sivm", "truth")
# the tracks (companion.tracks): estimators given the true endmembers, or a spectral library
_SUPERVISED = ("fcls", "ncls", "sunsal_tv", "elmm")
_LIBRARY = ("ncls", "sunsal", "sclsu", "sunsal_tv")
_LIBRARY_SCENES = tuple(s for s in _SCENES if s.split("_snr")[0] in ("dc1", "dc2", "gbm", "minerals"))

PARAMETERS = {
    "device": device_param(),
    "seeds": Param(list, "run seeds: VCA start and every method's own randomness", item=int,
                   minimum=0, maximum=2**31 - 1, nonempty=True),
    "methods": Param(list, "methods (keys of companion.methods.METHODS)", item=str, choices=_METHODS,
                     nonempty=True),
    "scenes": Param(list, "scenes (keys of companion.data.scenes.SCENES)", item=str,
                    choices=_SCENES, nonempty=True),
    "sensitivity_init": Param(str, "second initialisation of the sensitivity run", choices=_INITS),
    "sensitivity_seeds": Param(list, "seeds of the sensitivity run (empty: none)", item=int, minimum=0,
                               maximum=2**31 - 1),
    "sensitivity_scenes": Param(list, "scenes of the sensitivity run (a subset of scenes)", item=str,
                                choices=_SCENES),
    "nmf_iterations": Param(int, "L1-NMF and rNMF multiplicative updates", minimum=1),
    "ae_epochs": Param(int, "epochs of the stability chapter's autoencoders", minimum=1),
    "unrolled_epochs": Param(int, "epochs of MNN-BU-2 and U-ADMM-BUNet-II (official: 300)", minimum=1),
    "nmf_sae_iterations": Param(int, "NMF-SAE Adam iterations (paper: 1000)", minimum=1),
    "mtl_iterations": Param(int, "MTL iRprop+ iterations", minimum=1),
    "nlaeu_iterations": Param(int, "NLAEU Adam iterations", minimum=1),
    "elmm_iterations": Param(int, "ELMM outer iterations (reference code: 20)", minimum=1),
    "deepgu_epochs": Param(int, "DeepGU VAE epochs (reference code: 50)", minimum=1),
    "deepgu_outer": Param(int, "DeepGU latent/abundance alternations (reference code: at most 8)",
                          minimum=1),
    "aa_iterations": Param(int, "archetypal analysis outer iterations (HySUPP: 100)", minimum=1),
    "edaa_outer": Param(int, "EDAA alternations of 5 A- and 5 B-steps, each of its 50 restarts "
                             "(HySUPP: 100)", minimum=1),
    "sisal_iterations": Param(int, "SISAL subproblems (sisal.m: 80)", minimum=1),
    "workers": Param(int, "processes that compute the records at once (1: this kernel; more: a Dask "
                          "LocalCluster of one-thread workers, needs `distributed`)", minimum=1),
    "check_scenes": Param(list, "scenes of the budget check: every method once (seed 0) at its "
                                "paper's budget (PROTOCOL_BUDGET)", item=str, choices=_SCENES),
    "supervised_methods": Param(list, "supervised track: estimators given the true endmembers "
                                      "(keys of companion.tracks.SUPERVISED; empty: no track)", item=str,
                                choices=_SUPERVISED),
    "supervised_scenes": Param(list, "scenes of the supervised track", item=str, choices=_SCENES),
    "supervised_iterations": Param(int, "iteration cap of the supervised track's iterative estimators",
                                   minimum=1),
    "library_methods": Param(list, "library track: sparse unmixing on the pruned USGS 1995 library "
                                   "(keys of companion.tracks.LIBRARY; empty: no track)", item=str,
                             choices=_LIBRARY),
    "library_scenes": Param(list, "scenes of the library track (drawn from the USGS library)", item=str,
                            choices=_LIBRARY_SCENES),
    "library_iterations": Param(int, "iteration cap of SUnSAL and SUnSAL-TV in the library track "
                                     "(about 20,000 reach the optimum at tolerance 1e-7)", minimum=1),
}

# Each method's own protocol, for the budget check (P: paper, C: official code, O: our chapter's
# paper preset where the paper gives none): L1-NMF / rNMF 1000 updates (O, MTL chapter), the
# autoencoders 50 epochs (C, ATE), the unrolled nets 300 epochs (C, U-ADMM script), NMF-SAE 1000
# iterations (P, Sec. 3), MTL and NLAEU 1000 iterations (O, MTL chapter), ELMM 20 steps (C),
# DeepGU 50 VAE epochs and at most 8 alternations (C); archetypal analysis 100 outer iterations
# (C: HySUPP's stepsAS), EDAA 100 alternations (C: HySUPP's EDAA.yaml), SISAL 80 subproblems (P:
# sisal.m). The paper preset runs AA, EDAA and SISAL at these same budgets (their own defaults).
PROTOCOL_BUDGET = {"nmf_iterations": 1000, "ae_epochs": 50, "unrolled_epochs": 300,
                   "nmf_sae_iterations": 1000, "mtl_iterations": 1000, "nlaeu_iterations": 1000,
                   "elmm_iterations": 20, "deepgu_epochs": 50, "deepgu_outer": 8,
                   "aa_iterations": 100, "edaa_outer": 100, "sisal_iterations": 80}

_ALL_METHODS = list(_METHODS)

PRESETS = {
    # seconds: two small scenes, one seed, one or a few iterations of everything
    "smoke": {"device": "cpu", "seeds": [0], "methods": _ALL_METHODS,
              "scenes": ["urban_crop", "gbm_snr30"], "sensitivity_init": "sivm", "sensitivity_seeds": [0],
              "sensitivity_scenes": ["urban_crop", "gbm_snr30"], "nmf_iterations": 2, "ae_epochs": 1,
              "unrolled_epochs": 1, "nmf_sae_iterations": 2,
              "mtl_iterations": 2, "nlaeu_iterations": 2, "elmm_iterations": 1, "deepgu_epochs": 1,
              "deepgu_outer": 1, "aa_iterations": 2, "edaa_outer": 1, "sisal_iterations": 5,
              "workers": 1, "check_scenes": [],
              "supervised_methods": ["fcls", "ncls", "sunsal_tv"],
              "supervised_scenes": ["urban_crop", "gbm_snr30"],
              "supervised_iterations": 200, "library_methods": list(_LIBRARY),
              "library_scenes": ["gbm_snr30", "dc2_snr30"], "library_iterations": 20},
    # about three minutes on two CPU cores: five scenes (one SNR), two seeds, short budgets
    "book": {"device": "cpu", "seeds": [0, 1], "methods": _ALL_METHODS,
             "scenes": ["samson", "urban_crop", "dc2_snr30", "gbm_snr30", "minerals_snr30"],
             "sensitivity_init": "sivm", "sensitivity_seeds": [], "sensitivity_scenes": [],
             "nmf_iterations": 30, "ae_epochs": 1, "unrolled_epochs": 4, "nmf_sae_iterations": 100,
             "mtl_iterations": 10, "nlaeu_iterations": 40, "elmm_iterations": 2, "deepgu_epochs": 3,
             "deepgu_outer": 1, "aa_iterations": 10, "edaa_outer": 3, "sisal_iterations": 40,
             "workers": 1, "check_scenes": [],
             "supervised_methods": ["fcls", "ncls", "sunsal_tv"],
             "supervised_scenes": ["samson", "urban_crop", "dc2_snr30", "gbm_snr30", "minerals_snr30"],
             "supervised_iterations": 2000, "library_methods": list(_LIBRARY),
             "library_scenes": ["dc2_snr30", "gbm_snr30"], "library_iterations": 200},
    # five seeds on thirteen scenes: the three staged real ones and DC1, DC2, the U-ADMM set, GBM
    # and six minerals at two SNRs (the full Urban image is user-supplied: pass "urban" in
    # `scenes` once it is in HU_DATA_DIR); SiVM sensitivity on seed 0, the real scenes and the
    # 30 dB synthetic ones; budgets far below the papers'
    "paper": {"device": "cpu", "seeds": [0, 1, 2, 3, 4], "methods": _ALL_METHODS,
              "scenes": ["samson", "jasper", "urban_crop", "dc1_snr30", "dc1_snr20", "dc2_snr30", "dc2_snr20",
                         "uadmm_snr30", "uadmm_snr20", "gbm_snr30", "gbm_snr20", "minerals_snr30",
                         "minerals_snr20"],
              "sensitivity_init": "sivm", "sensitivity_seeds": [0],
              "sensitivity_scenes": ["samson", "jasper", "urban_crop", "dc1_snr30", "dc2_snr30",
                                     "uadmm_snr30", "gbm_snr30", "minerals_snr30"],
              "nmf_iterations": 60, "ae_epochs": 3, "unrolled_epochs": 10, "nmf_sae_iterations": 200,
              "mtl_iterations": 20, "nlaeu_iterations": 100, "elmm_iterations": 3, "deepgu_epochs": 10,
              "deepgu_outer": 2, "aa_iterations": 100, "edaa_outer": 100, "sisal_iterations": 80,
              "workers": 1, "check_scenes": ["urban_crop", "gbm_snr30"],
              # every scene given its truth; the eight library-drawn scenes at the tolerance's budget
              # (SUnSAL on a 230-spectrum library: minutes per record on one CPU thread, meant for a GPU)
              "supervised_methods": list(_SUPERVISED),
              "supervised_scenes": ["samson", "jasper", "urban_crop", "dc1_snr30", "dc1_snr20", "dc2_snr30",
                                    "dc2_snr20", "uadmm_snr30", "uadmm_snr20", "gbm_snr30", "gbm_snr20",
                                    "minerals_snr30", "minerals_snr20"],
              "supervised_iterations": 20000, "library_methods": list(_LIBRARY),
              "library_scenes": list(_LIBRARY_SCENES), "library_iterations": 20000},
}

PAPER_TARGETS = []

# The papers' claims of superiority that the benchmark can test. A paired comparison is the seed
# means (VCA start) of the claimant and of one rival on one scene for one metric of
# CLAIM_METRICS (lower is better); ties are left out; every scene of the run ("all scenes") or
# only the scenes of the families of the paper's own experiments ("the paper's kind of scene").
CLAIM_METRICS = {"sad_mean": "SAD", "rmse_a": "abundance RMSE"}
_ALL = "(scene, metric, rival) comparisons of seed means, VCA start, on every scene of the run: " \
       "SAD and abundance RMSE; ties left out"
_HOME = "(scene, metric, rival) comparisons of seed means, VCA start, on the scenes of the paper's " \
        "kind ({}): SAD and abundance RMSE; ties left out"
# claim key -> (claimant, rivals as the paper names them among the benchmark's methods, scene
# families of the paper's own experiments; None: every scene of the run)
CLAIM_TERMS = {
    "claim_mtl": ("mtl", ("vca_fcls", "l1_nmf", "rnmf", "nlaeu"), None),
    "claim_mtl_home": ("mtl", ("vca_fcls", "l1_nmf", "rnmf", "nlaeu"), ("gbm",)),
    "claim_uadmm_bunet_ii": ("uadmm_bunet_ii", ("mnn_bu_2", "vca_fcls"), None),
    "claim_uadmm_bunet_ii_home": ("uadmm_bunet_ii", ("mnn_bu_2", "vca_fcls"), ("uadmm",)),
    "claim_nmf_sae": ("nmf_sae", ("vca_fcls", "l1_nmf", "uadmm_bunet_ii", "mnn_bu_2"), None),
    "claim_nmf_sae_home": ("nmf_sae", ("vca_fcls", "l1_nmf", "uadmm_bunet_ii", "mnn_bu_2"),
                           ("minerals", "jasper")),
    "claim_deepgu": ("deepgu", ("vca_fcls", "elmm"), None),
    "claim_deepgu_home": ("deepgu", ("vca_fcls", "elmm"), ("dc1", "dc2")),
}
_MTL = ("MTL: MTL beats VCA + FCLS, L1-NMF, rNMF, NLAEU", "Mehrdad & Janani, abstract",
        "better SAD and RMSE than linear and nonlinear methods")
_UADMM = ("U-ADMM: U-ADMM-BUNet-II beats MNN-BU-2, VCA + FCLS", "Zhou et al., Table II, Figs. 19-21",
          "U-ADMM-BUNet beats MNN-BU and VCA in blind unmixing")
_NMF_SAE = ("NMF-SAE: NMF-SAE beats VCA + FCLS, L1-NMF, U-ADMM-BUNet-II, MNN-BU-2",
            "Xiong et al., Fig. 3, Table 1",
            "lower SAD and RMSE than VCA, L1-NMF and the unrolled nets")
_DEEPGU = ("DeepGU: DeepGU beats VCA + FCLS, ELMM", "Borsoi et al., Table III",
           "lower abundance and endmember errors than FCLS and ELMM")
CLAIMS = [
    claim
    for key, (claim_text, source, paper) in (("claim_mtl", _MTL), ("claim_uadmm_bunet_ii", _UADMM),
                                             ("claim_nmf_sae", _NMF_SAE), ("claim_deepgu", _DEEPGU))
    for claim in (
        Claim(key, f"{claim_text} (all scenes)", source, paper, _ALL),
        Claim(f"{key}_home", f"{claim_text} (the paper's kind of scene)", source, paper,
              _HOME.format(", ".join(CLAIM_TERMS[f"{key}_home"][2]))),
    )
]


def check_parameters(params: dict) -> None:
    """The sensitivity and budget-check scenes must be scenes of the run."""
    for name in ("sensitivity_scenes", "check_scenes"):
        extra = sorted(set(params[name]) - set(params["scenes"]))
        if extra:
            raise ValueError(f"parameter {name!r}: {extra} not in scenes {params['scenes']}")
