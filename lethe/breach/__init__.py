"""Personal data breaches (GDPR Arts. 33 and 34): the register entry, its scope, drafts and the 72-hour clock.

``open_breach`` computes the scope of a breach from the data map (categories, special categories, approximate
numbers of subjects and records: counts only), records a register entry (Art. 33(5)) in the ledger, drafts
the notification to the supervisory authority (Art. 33(3), Markdown and HTML, with the gaps to fill) and, in
processor mode, one to each affected controller (Art. 33(2)), and writes the affected subjects' contact points
encrypted with the export cipher. ``clock`` computes when the 24, 48 and 72-hour reminders fall due;
``assessment`` is the Art. 34 decision aid.
"""

from lethe.breach.assessment import ASSESSMENT_QUESTIONS, Assessment, assess_communication
from lethe.breach.clock import MILESTONES, Milestone, milestones
from lethe.breach.register import BreachResult, open_breach
from lethe.breach.scope import BreachScope, ScopeRequest, compute_scope

__all__ = [
    "ASSESSMENT_QUESTIONS",
    "MILESTONES",
    "Assessment",
    "BreachResult",
    "BreachScope",
    "Milestone",
    "ScopeRequest",
    "assess_communication",
    "compute_scope",
    "milestones",
    "open_breach",
]
