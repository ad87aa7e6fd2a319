"""The policy: the YAML file that is Lethe's single source of truth, as typed, validated models.

``load_policy`` reads a file (errors name file, line and field, every problem at once, before anything touches
data); ``Policy`` holds the stores, subjects (with their erasure and rectification settings), data map,
retention rules, processing activities and checks. Periods (``3 years``, ``P1Y6M``), the data-category
vocabulary (``lethe.policy.categories``) and the database URLs a store may name live here too.
"""

from lethe.policy.loading import load_policy, parse_policy
from lethe.policy.model import Policy, RetentionRule, TableRef
from lethe.policy.periods import Period

__all__ = ["Period", "Policy", "RetentionRule", "TableRef", "load_policy", "parse_policy"]
