"""Optimisers not in ``torch.optim``."""

from .irprop import IRpropPlus

__all__ = ["IRpropPlus"]
