"""Classical unmixing methods every chapter compares against (batched, CPU or GPU)."""

from .archetypal import AAResult, archetypal_analysis
from .edaa import EDAAResult, edaa
from .elmm import ELMMResult, elmm, scaled_mixing, scaled_mixing_objective
from .fcls import fcls
from .glmm import glmm
from .nmf import NMFResult, nmf_l1, nmf_l1_objective
from .plmm import PLMMResult, plmm, plmm_objective
from .rnmf import RNMFResult, rnmf, rnmf_objective
from .simplex import project_simplex
from .sisal import SISALResult, sisal
from .sunsal import sunsal
from .tv_unmixing import tv_norm, tv_objective, unmix_tv
from .vca import estimate_snr_db, vca

__all__ = ["AAResult", "EDAAResult", "ELMMResult", "NMFResult", "PLMMResult", "RNMFResult", "SISALResult",
           "archetypal_analysis", "edaa", "elmm", "estimate_snr_db", "fcls", "glmm", "nmf_l1",
           "nmf_l1_objective", "plmm", "plmm_objective", "project_simplex", "rnmf", "rnmf_objective",
           "scaled_mixing", "scaled_mixing_objective", "sisal", "sunsal", "tv_norm", "tv_objective",
           "unmix_tv", "vca"]
