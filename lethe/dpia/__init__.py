"""The DPIA: checks generated from the policy and run inside the databases, a risk register and a report.

``run_checks`` evaluates retention, pseudonymisation, consent, restriction, k-anonymity and l-diversity and
the named expectations inside the databases with Great Expectations (``lethe.dpia.gx``, imported only when
those checks run), plus two checks Lethe evaluates itself: coverage (columns that look personal but are
undeclared, ``scan_coverage``, the scan ``lethe validate`` shows too) and data localisation. Each failed or
erroring check is a row of the risk register (``lethe.dpia.risk``); ``write_report`` writes the run as HTML,
JSON and Markdown.
"""

from lethe.dpia.checks import CheckResult, CheckRun, run_checks
from lethe.dpia.coverage import scan_coverage
from lethe.dpia.report import write_report

__all__ = ["CheckResult", "CheckRun", "run_checks", "scan_coverage", "write_report"]
