"""Erasure (Art. 17): delete, pseudonymise or keep each of a subject's tables as the policy says, verified.

``prepare_erasure`` reflects a kind of subject's graph and checks its erasure settings, once for any number of
subjects; ``plan_erasure`` counts what erasing one subject would do, changing nothing; ``erase_subject``
erases one subject in one transaction per store, journalled, refusing while a hold flag is set, verifies the
result and gives a receipt.
"""

from lethe.requests.erasure.erase import ErasureBlockedError, erase_subject
from lethe.requests.erasure.plan import (
    ErasurePlan,
    ErasureReceipt,
    ErasureSetup,
    plan_erasure,
    prepare_erasure,
)

__all__ = [
    "ErasureBlockedError",
    "ErasurePlan",
    "ErasureReceipt",
    "ErasureSetup",
    "erase_subject",
    "plan_erasure",
    "prepare_erasure",
]
