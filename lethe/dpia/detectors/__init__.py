"""Does a column look like personal data? Judged by its name and by a sample of its values, never kept."""

from lethe.dpia.detectors.names import PersonalKind, classify_column

__all__ = ["PersonalKind", "classify_column"]
