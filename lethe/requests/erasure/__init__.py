"""Erasure (Art. 17): delete, pseudonymise or keep each of a subject's tables as the policy says, verified.

``prepare_erasure`` builds the subject's plan once (graph, statements); ``erase_subject`` applies it in one
transaction per store, journalled, refusing while a hold flag is set, and gives a receipt.
"""

from lethe.requests.erasure.erase import ErasureBlockedError, erase_subject
from lethe.requests.erasure.plan import ErasurePlan, ErasureReceipt, prepare_erasure

__all__ = ["ErasureBlockedError", "ErasurePlan", "ErasureReceipt", "erase_subject", "prepare_erasure"]
