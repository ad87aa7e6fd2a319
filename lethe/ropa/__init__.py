"""The record of processing activities (Art. 30), generated from the policy, with the gaps a DPO must fill."""

from lethe.ropa.record import build_ropa

__all__ = ["build_ropa"]
