"""``lethe validate``: the whole policy checked against the live schemas before anything touches data.

``validate_policy`` walks every part of the policy (each domain checks its own: retention rules, erasure
settings) and returns findings; ``require_valid`` raises when any is an error. The scan for undeclared personal
data that ``lethe validate`` adds is the DPIA's (``lethe.dpia.coverage``).
"""

from lethe.stores.checks import Finding
from lethe.validation.policy import require_valid, validate_policy

__all__ = ["Finding", "require_valid", "validate_policy"]
