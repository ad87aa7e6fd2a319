"""The DPIA: checks generated from the policy and run inside the databases, a risk register and a report.

``run_checks`` evaluates retention, pseudonymisation, consent, restriction, k-anonymity and l-diversity and the
named expectations with Great Expectations (imported only when checks run), plus coverage (columns that look
personal but are undeclared, ``lethe.dpia.coverage``) and localisation; ``lethe.dpia.report`` renders them.
"""

from lethe.dpia.checks import CheckResult, CheckRun, run_checks
from lethe.dpia.coverage import scan_coverage

__all__ = ["CheckResult", "CheckRun", "run_checks", "scan_coverage"]
