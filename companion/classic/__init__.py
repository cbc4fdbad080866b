"""Classical unmixing methods every chapter compares against (batched, CPU or GPU)."""

from .fcls import fcls
from .nmf import NMFResult, nmf_l1, nmf_l1_objective
from .sunsal import sunsal
from .vca import estimate_snr_db, vca

__all__ = ["NMFResult", "estimate_snr_db", "fcls", "nmf_l1", "nmf_l1_objective", "sunsal", "vca"]
