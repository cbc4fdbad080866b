"""Classical unmixing methods every chapter compares against (batched, CPU or GPU)."""

from .elmm import ELMMResult, elmm, elmm_scalings
from .fcls import fcls
from .nmf import NMFResult, nmf_l1, nmf_l1_objective
from .rnmf import RNMFResult, rnmf, rnmf_objective
from .simplex import project_simplex
from .sunsal import sunsal
from .tv_unmixing import tv_objective, unmix_tv
from .vca import estimate_snr_db, vca

__all__ = ["ELMMResult", "NMFResult", "RNMFResult", "elmm", "elmm_scalings", "estimate_snr_db", "fcls",
           "nmf_l1", "nmf_l1_objective", "project_simplex", "rnmf", "rnmf_objective", "sunsal",
           "tv_objective", "unmix_tv", "vca"]
