"""Does a column look like personal data? Judged by its name and by a sample of its values, never kept.

``kinds``: the kinds of personal data and the category each suggests; ``names``: detection by a column's
name; ``values``: per-value predicates; ``classify``: detection by sampled values, and ``classify_column``,
which weighs name, type and values into one :class:`Detection`.
"""

from lethe.dpia.detectors.classify import Detection, classify_column, detect_by_values
from lethe.dpia.detectors.kinds import SUGGESTED_CATEGORY, PersonalKind
from lethe.dpia.detectors.names import detect_by_name

__all__ = [
    "SUGGESTED_CATEGORY",
    "Detection",
    "PersonalKind",
    "classify_column",
    "detect_by_name",
    "detect_by_values",
]
