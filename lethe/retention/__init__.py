"""Retention (storage limitation): find what a rule says is expired, then delete or anonymise it.

``plan_rule`` counts what a rule would change and changes nothing; ``enforce_rule`` works through the pending
rows in short, journalled batches of set-based SQL and verifies afterwards that nothing expired is left.
A ``RetentionRun`` is one policy at one instant.
"""

from lethe.retention.enforce import RuleResult, enforce_rule
from lethe.retention.plan import RulePlan, plan_entry, plan_rule
from lethe.retention.run import RetentionRun

__all__ = ["RetentionRun", "RulePlan", "RuleResult", "enforce_rule", "plan_entry", "plan_rule"]
