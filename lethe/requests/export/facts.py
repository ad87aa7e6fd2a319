"""The facts an access request must state (GDPR Art. 15(1) and (2)), taken from the policy.

For one kind of subject: every processing activity that lists it, with its purpose, lawful basis, categories
of data, recipients, transfers and their safeguards, retention periods (from the retention rules the
activity names), sources and automated decisions; the subject's rights (Arts. 15-22, withdrawal of consent,
complaint to a supervisory authority); and the controller and DPO contacts. Plain dataclasses, turned into
JSON-ready dicts by ``Facts.as_dict``, so the same facts go into ``data.json`` and ``index.html``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from lethe.errors import SubjectError
from lethe.policy import categories
from lethe.policy.model import Activity, Contact, Policy, RetentionRule
from lethe.requests.recipients import recipients_for_subject

LAWFUL_BASES: dict[str, str] = {
    "consent": "consent (Art. 6(1)(a))",
    "contract": "contract (Art. 6(1)(b))",
    "legal_obligation": "legal obligation (Art. 6(1)(c))",
    "vital_interests": "vital interests (Art. 6(1)(d))",
    "public_task": "public task (Art. 6(1)(e))",
    "legitimate_interests": "legitimate interests (Art. 6(1)(f))",
}

# (article, right, what it lets the subject do), in the order of the Regulation.
RIGHTS: tuple[tuple[str, str, str], ...] = (
    ("Art. 15", "access", "obtain confirmation that we process your data, a copy of it and these facts"),
    ("Art. 16", "rectification", "have inaccurate data corrected and incomplete data completed"),
    ("Art. 17", "erasure", "have your data erased where there is no longer a ground to keep it"),
    ("Art. 18", "restriction", "have processing restricted while accuracy or lawfulness is disputed"),
    ("Art. 19", "notification", "have recipients told of any rectification, erasure or restriction"),
    ("Art. 20", "data portability", "receive your data in a machine-readable format and have it transmitted"),
    ("Art. 21", "objection", "object to processing based on legitimate interests and to direct marketing"),
    ("Art. 22", "automated decisions", "not be subject to decisions based solely on automated processing"),
    ("Art. 7(3)", "withdrawal of consent", "withdraw consent at any time, as easily as it was given"),
    ("Art. 77", "complaint", "lodge a complaint with a supervisory authority, e.g. where you live or work"),
)


@dataclass(frozen=True)
class CategoryFact:
    """A category of personal data and what it means."""

    name: str
    description: str


@dataclass(frozen=True)
class TransferFact:
    """A transfer to a third country and its safeguard (Art. 15(2))."""

    country: str
    recipient: str | None
    safeguard: str


@dataclass(frozen=True)
class RetentionFact:
    """How long data is kept (Art. 15(1)(d)), from one retention rule, in words."""

    rule: str
    table: str
    period: str
    text: str


@dataclass(frozen=True)
class ActivityFact:
    """One processing activity as the subject should see it."""

    name: str
    purpose: str
    lawful_basis: str
    lawful_basis_text: str
    legitimate_interest: str | None
    categories: list[CategoryFact]
    recipients: list[str]
    transfers: list[TransferFact]
    retention: list[RetentionFact]
    retention_note: str | None
    sources: list[str]
    automated_decisions: str | None


@dataclass(frozen=True)
class RightFact:
    """A right of the data subject."""

    article: str
    right: str
    text: str


@dataclass(frozen=True)
class ContactFact:
    """A named contact: the controller, its DPO or its EU representative."""

    name: str
    email: str | None = None
    address: str | None = None


@dataclass(frozen=True)
class RecipientFact:
    """A recipient of the subject's data (Art. 15(1)(c)), told of changes under Art. 19."""

    name: str
    description: str | None
    data: list[str]  # the tables and categories it receives
    channel: str


@dataclass(frozen=True)
class Facts:
    """Everything Art. 15(1) asks besides the data itself, for one kind of subject."""

    subject: str
    subject_description: str | None
    controller: ContactFact
    dpo: ContactFact | None
    representative_eu: ContactFact | None
    activities: list[ActivityFact] = field(default_factory=list)
    rights: list[RightFact] = field(default_factory=list)
    recipients: list[RecipientFact] = field(default_factory=list)  # the policy's `recipients:` (Art. 19)

    def as_dict(self) -> dict[str, Any]:
        """The facts as JSON-ready nested dicts and lists."""
        return asdict(self)


def _contact(contact: Contact | None) -> ContactFact | None:
    return None if contact is None else ContactFact(contact.name, contact.email, contact.address)


def retention_text(rule: RetentionRule) -> str:
    """A rule in words: ``"orders: 7 years after created_at, then deleted"``."""
    anchors = rule.anchor_columns
    anchor = anchors[0] if len(anchors) == 1 else "the latest of " + ", ".join(anchors)
    if rule.action == "delete":
        then = "deleted"
    else:
        then = "anonymised (" + ", ".join(rule.columns) + " replaced or removed)"
    conditions = f" where {', '.join(rule.where)} match the rule" if rule.where else ""
    exemptions = f", unless {' or '.join(rule.unless)} applies" if rule.unless else ""
    text = f"{rule.table.table}{conditions}: kept {rule.after} after {anchor}, then {then}{exemptions}"
    note = rule.description
    return f"{text}. {note[0].upper()}{note[1:]}" if note else text


def _activity(policy: Policy, activity: Activity) -> ActivityFact:
    return ActivityFact(
        name=activity.name,
        purpose=activity.purpose,
        lawful_basis=activity.lawful_basis,
        lawful_basis_text=LAWFUL_BASES[activity.lawful_basis],
        legitimate_interest=activity.legitimate_interest,
        categories=[CategoryFact(c, categories.describe(c, policy.categories)) for c in activity.categories],
        recipients=list(activity.recipients),
        transfers=[TransferFact(t.country, t.recipient, t.safeguard) for t in activity.transfers],
        retention=[
            RetentionFact(name, str(rule.table), str(rule.after), retention_text(rule))
            for name in activity.retention
            for rule in (policy.rule(name),)
        ],
        retention_note=activity.retention_note,
        sources=list(activity.sources),
        automated_decisions=activity.automated_decisions,
    )


def facts_for(policy: Policy, subject: str) -> Facts:
    """The Art. 15(1) facts for subjects of kind ``subject``."""
    definition = policy.subjects.get(subject)
    if definition is None:
        raise SubjectError(
            f"unknown subject {subject!r}; the policy defines {', '.join(sorted(policy.subjects))}"
        )
    controller = policy.controller
    activities = [_activity(policy, a) for a in policy.activities if subject in a.subjects]
    consent = any(a.lawful_basis == "consent" for a in activities)
    rights = [
        RightFact(article, right, text)
        for article, right, text in RIGHTS
        # Withdrawal only means something when some processing rests on consent.
        if article != "Art. 7(3)" or consent
    ]
    return Facts(
        subject=subject,
        subject_description=definition.description,
        controller=ContactFact(controller.name, None, controller.address),
        dpo=_contact(controller.dpo),
        representative_eu=_contact(controller.representative_eu),
        activities=activities,
        rights=rights,
        recipients=[
            RecipientFact(name, r.description, [str(t) for t in r.tables] + list(r.categories), r.channel)
            for name, r in recipients_for_subject(policy, subject)
        ],
    )
