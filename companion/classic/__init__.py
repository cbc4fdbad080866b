"""Classical unmixing methods every chapter compares against (batched, CPU or GPU)."""

from .fcls import fcls
from .nmf import NMFResult, nmf_l1, nmf_l1_objective
from .rnmf import RNMFResult, rnmf, rnmf_objective
from .simplex import project_simplex
from .sunsal import sunsal
from .vca import estimate_snr_db, vca

__all__ = ["NMFResult", "RNMFResult", "estimate_snr_db", "fcls", "nmf_l1", "nmf_l1_objective",
           "project_simplex", "rnmf", "rnmf_objective", "sunsal", "vca"]
