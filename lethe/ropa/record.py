"""The record of processing activities (GDPR Art. 30(1)), built from the policy's activities and data map.

With ``role: processor`` it also holds the processor's record (Art. 30(2)): one entry per controller the
processor acts for, with the categories of processing carried out for it, transfers and security measures.

``build_ropa`` turns the policy into plain dataclasses whose values are already human wording, so the
renderers (``lethe.ropa.render``) only lay them out. A field the policy leaves empty reads "none declared",
never blank, and what Art. 30(1) asks for but the policy does not state is listed in ``Ropa.gaps`` for the
DPO to fill. Lists the author wrote keep the author's order; everything derived from mappings is sorted, so
the same policy on the same day always gives the same bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from lethe.policy import categories
from lethe.policy.model import Activity, Condition, Contact, Policy, RetentionRule
from lethe.policy.processor import ContactPoint

NONE = "none declared"
ART9_MARKER = "special category (Art. 9)"
ART10_MARKER = "criminal-offence data (Art. 10)"

_BASES = {
    "consent": "consent (Art. 6(1)(a))",
    "contract": "performance of a contract (Art. 6(1)(b))",
    "legal_obligation": "legal obligation (Art. 6(1)(c))",
    "vital_interests": "vital interests (Art. 6(1)(d))",
    "public_task": "public task or official authority (Art. 6(1)(e))",
    "legitimate_interests": "legitimate interests (Art. 6(1)(f))",
}

# (attribute, label): the order and wording every format shows.
CONTROLLER_FIELDS: tuple[tuple[str, str], ...] = (
    ("name", "Controller (Art. 30(1)(a))"),
    ("contact", "Controller's contact details (Art. 30(1)(a))"),
    ("joint_controllers", "Joint controllers (Art. 30(1)(a))"),
    ("representative", "Representative in the EU (Art. 27, Art. 30(1)(a))"),
    ("dpo", "Data protection officer (Art. 30(1)(a))"),
)
RECORD_FIELDS: tuple[tuple[str, str], ...] = (
    ("purpose", "Purposes of the processing (Art. 30(1)(b))"),
    ("lawful_basis", "Lawful basis (Art. 6(1))"),
    ("subjects", "Categories of data subjects (Art. 30(1)(c))"),
    ("categories", "Categories of personal data (Art. 30(1)(c))"),
    ("special_categories", "Special categories of data (Art. 9, Art. 10)"),
    ("recipients", "Categories of recipients (Art. 30(1)(d))"),
    ("transfers", "Transfers to third countries and safeguards (Art. 30(1)(e))"),
    ("retention", "Time limits for erasure (Art. 30(1)(f))"),
    ("security_measures", "Technical and organisational security measures (Art. 30(1)(g), Art. 32(1))"),
    ("sources", "Sources of the data"),
    ("storage", "Where the data is held (data map)"),
    ("automated_decisions", "Automated decision-making (Art. 22)"),
)
PROCESSOR_FIELDS: tuple[tuple[str, str], ...] = (
    ("processor", "Processor and its data protection officer (Art. 30(2)(a))"),
    ("controller", "Controller on whose behalf the processor acts (Art. 30(2)(a))"),
    ("contact", "Controller's contact details (Art. 30(2)(a))"),
    ("representative", "Controller's representative in the EU (Art. 30(2)(a))"),
    ("dpo", "Controller's data protection officer (Art. 30(2)(a))"),
    ("processing", "Categories of processing carried out on behalf of the controller (Art. 30(2)(b))"),
    ("transfers", "Transfers to third countries and safeguards (Art. 30(2)(c))"),
    ("security_measures", "Technical and organisational security measures (Art. 30(2)(d), Art. 32(1))"),
    ("retention", "Retention for the controller and return at the end of the contract (Art. 28(3)(g))"),
)
_LABEL = dict(CONTROLLER_FIELDS + RECORD_FIELDS)
_PROCESSOR_LABEL = dict(PROCESSOR_FIELDS)  # the same attribute names, other articles

Value = str | tuple[str, ...]
_GapFn = Callable[[str, str], None]  # records a gap: (field attribute, message)


@dataclass(frozen=True)
class Gap:
    """Something Art. 30(1) asks for that the policy does not state."""

    where: str  # "controller", "policy" or the activity's name
    field: str  # the label of the field it belongs to
    message: str
    activity: int | None = None  # index of the activity in ``Ropa.records``; None for the controller

    def __str__(self) -> str:
        return f"{self.where}: {self.field}: {self.message}"


@dataclass(frozen=True)
class RopaController:
    """Art. 30(1)(a): who is responsible, and how to reach them."""

    name: str
    contact: str
    joint_controllers: str
    representative: str
    dpo: str

    def fields(self) -> list[tuple[str, Value]]:
        """(label, value) pairs in display order."""
        return [(label, getattr(self, attr)) for attr, label in CONTROLLER_FIELDS]


@dataclass(frozen=True)
class RopaRecord:
    """One processing activity, every Art. 30(1)(b)-(g) field in human wording."""

    name: str
    purpose: str
    lawful_basis: str
    subjects: tuple[str, ...]
    categories: tuple[str, ...]
    special_categories: tuple[str, ...]
    recipients: tuple[str, ...]
    transfers: tuple[str, ...]
    retention: tuple[str, ...]
    security_measures: tuple[str, ...]
    sources: tuple[str, ...]
    storage: tuple[str, ...]
    automated_decisions: str

    def fields(self) -> list[tuple[str, Value]]:
        """(label, value) pairs in display order."""
        return [(label, getattr(self, attr)) for attr, label in RECORD_FIELDS]


@dataclass(frozen=True)
class ProcessorEntry:
    """Art. 30(2): what the processor does for one controller, in human wording."""

    processor: str
    controller: str
    contact: str
    representative: str
    dpo: str
    processing: tuple[str, ...]
    transfers: tuple[str, ...]
    security_measures: tuple[str, ...]
    retention: tuple[str, ...]

    def fields(self) -> list[tuple[str, Value]]:
        """(label, value) pairs in display order."""
        return [(label, getattr(self, attr)) for attr, label in PROCESSOR_FIELDS]


@dataclass(frozen=True)
class Ropa:
    """The whole record: header facts, the controller, one record per activity, and the gaps."""

    generated: date
    policy_source: str
    policy_hash: str
    controller: RopaController
    records: tuple[RopaRecord, ...]
    gaps: tuple[Gap, ...]
    processor: tuple[ProcessorEntry, ...] = ()  # Art. 30(2), with `role: processor`


def build_ropa(policy: Policy, *, generated: date | None = None) -> Ropa:
    """The record of processing activities of ``policy``, dated ``generated`` (default: today, UTC)."""
    gaps: list[Gap] = []
    controller = _controller(policy, gaps)
    if not policy.activities:
        gaps.append(Gap("policy", "Processing activities", "the policy declares no processing activity"))
    records = tuple(_record(policy, i, activity, gaps) for i, activity in enumerate(policy.activities))
    processor = (
        tuple(_processor_entry(policy, name, gaps) for name in sorted(policy.processor.controllers))
        if policy.role == "processor"
        else ()
    )
    return Ropa(
        generated=generated or datetime.now(UTC).date(),
        policy_source=policy.source,
        policy_hash=policy.hash or "(not read from a file)",
        controller=controller,
        records=records,
        gaps=tuple(gaps),
        processor=processor,
    )


def _processor_entry(policy: Policy, name: str, gaps: list[Gap]) -> ProcessorEntry:
    """The Art. 30(2) entry for the controller ``name`` of ``processor.controllers``."""
    client = policy.processor.controllers[name]
    where = f"controller {name}"

    def gap(attr: str, message: str) -> None:
        gaps.append(Gap(where, _PROCESSOR_LABEL[attr], message))

    me = policy.controller
    processor = me.name + (f", {me.address}" if me.address else "") + f"; DPO: {_contact(me.dpo)}"
    activities = [a for a in policy.activities if a.name in client.activities]
    processing = [
        f"{a.name}: {a.purpose} ({', '.join(a.categories) or 'no data category declared'})"
        for a in activities
    ]
    if not processing:
        gap(
            "processing",
            "no activity named: list what is done on its behalf (processor.controllers.*.activities)",
        )
    transfers = [_transfer(t.country, t.recipient, t.safeguard) for a in activities for t in a.transfers]
    transfers += [_transfer(t.country, t.recipient, t.safeguard) for t in client.transfers]
    measures = list(
        dict.fromkeys(
            [*policy.processor.security_measures, *(m for a in activities for m in a.security_measures)]
        )
    )
    if not measures:
        gap(
            "security_measures",
            "none declared: describe how the data is secured (processor.security_measures)",
        )
    details = [d for d in (client.email, client.address) if d]
    if not details:
        gap("contact", "no email or address: state how the controller is reached")
    retention = [
        f"{rule.name}: {rule.per_controller[name]} after {', '.join(rule.anchor_columns)} for this controller"
        for rule in policy.retention
        if name in rule.per_controller
    ]
    if policy.processor.contracts is not None and any(r.contract_periods for r in policy.retention):
        retention.append(f"periods and end of agreed retention from {policy.processor.contracts.table}")
    retention.append(
        "at the end of the contract: returned as an encrypted export, then deleted and certified"
    )
    return ProcessorEntry(
        processor=processor,
        controller=f"{client.name} (key {client.key if client.key is not None else name})",
        contact=", ".join(details) or NONE,
        representative=_contact(_as_contact(client.representative_eu)),
        dpo=_contact(_as_contact(client.dpo)),
        processing=_or_none(processing),
        transfers=_or_none(transfers),
        security_measures=_or_none(measures),
        retention=tuple(retention),
    )


def _as_contact(point: ContactPoint | None) -> Contact | None:
    return None if point is None else Contact(name=point.name, email=point.email, address=point.address)


def _contact(contact: Contact | None) -> str:
    if contact is None:
        return NONE
    details = [d for d in (contact.email, contact.address) if d]
    return f"{contact.name} ({', '.join(details)})" if details else contact.name


def _controller(policy: Policy, gaps: list[Gap]) -> RopaController:
    c = policy.controller
    if not c.address:
        gaps.append(Gap("controller", _LABEL["contact"], "no address: state how the controller is reached"))
    if c.dpo is None:
        gaps.append(Gap("controller", _LABEL["dpo"], "no DPO declared: add one if Art. 37 requires it"))
    elif not (c.dpo.email or c.dpo.address):
        gaps.append(Gap("controller", _LABEL["dpo"], "the DPO has no email or address"))
    return RopaController(
        name=c.name,
        contact=c.address or NONE,
        # The policy has no joint controllers (Art. 26): the record says so rather than leaving it out.
        joint_controllers=NONE,
        representative=_contact(c.representative_eu),
        dpo=_contact(c.dpo),
    )


def _or_none(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(items) or (NONE,)


def _record(policy: Policy, index: int, activity: Activity, gaps: list[Gap]) -> RopaRecord:
    def gap(attr: str, message: str) -> None:
        gaps.append(Gap(activity.name, _LABEL[attr], message, index))

    special = tuple(_category(policy, c) for c in activity.categories if categories.is_special(c))
    for category in activity.categories:
        if categories.is_special(category):
            condition = "the Art. 10 authorisation" if _is_criminal(category) else "the Art. 9(2) condition"
            gap("special_categories", f"{category}: record {condition} that permits processing it")
    if not activity.security_measures:
        gap("security_measures", "none declared: describe how the data is secured")
    if not activity.retention and not activity.retention_note:
        gap("retention", "no retention rule or note: state when the data is erased")
    return RopaRecord(
        name=activity.name,
        purpose=activity.purpose,
        lawful_basis=_lawful_basis(activity),
        subjects=tuple(_subject(policy, s) for s in activity.subjects),
        categories=tuple(_category(policy, c) for c in activity.categories),
        special_categories=special or ("none",),
        recipients=_or_none(_recipients(activity)),
        transfers=_or_none(_transfer(t.country, t.recipient, t.safeguard) for t in activity.transfers),
        retention=_or_none(_retention(policy, activity, gap)),
        security_measures=_or_none(activity.security_measures),
        sources=_or_none(activity.sources),
        storage=_storage(policy, activity, gap),
        automated_decisions=activity.automated_decisions or NONE,
    )


def _lawful_basis(activity: Activity) -> str:
    text = _BASES[activity.lawful_basis]
    if activity.lawful_basis == "legitimate_interests":
        text += f": {activity.legitimate_interest}"
    if activity.consent is not None:
        text += f"; consent recorded in {activity.consent.table}"
    return text


def _subject(policy: Policy, name: str) -> str:
    subject = policy.subjects.get(name)
    return f"{name}: {subject.description}" if subject is not None and subject.description else name


def _is_criminal(category: str) -> bool:
    return category == "user.criminal_record" or category.startswith("user.criminal_record.")


def _category(policy: Policy, category: str) -> str:
    text = f"{category}: {categories.describe(category, policy.categories)}"
    if not categories.is_special(category):
        return text
    # The vocabulary's descriptions already end in "(Art. 9)"; the marker says it once.
    text = text.removesuffix(" (Art. 9)").removesuffix(" (Art. 10)")
    return f"{text} — {ART10_MARKER if _is_criminal(category) else ART9_MARKER}"


def _recipients(activity: Activity) -> list[str]:
    countries: dict[str, list[str]] = {}
    for transfer in activity.transfers:
        if transfer.recipient:
            countries.setdefault(transfer.recipient, []).append(transfer.country)
    # Art. 30(1)(d) includes recipients in third countries: a transfer's recipient is one even if unlisted.
    names = list(activity.recipients) + [r for r in countries if r not in activity.recipients]
    return [
        f"{name} (in {', '.join(sorted(set(countries[name])))})" if name in countries else name
        for name in names
    ]


def _transfer(country: str, recipient: str | None, safeguard: str) -> str:
    to = f"{country} ({recipient})" if recipient else country
    return f"{to}, safeguard: {safeguard}"


def _retention(policy: Policy, activity: Activity, gap: _GapFn) -> list[str]:
    rules = {rule.name: rule for rule in policy.retention}
    lines = []
    for name in activity.retention:
        rule = rules.get(name)
        if rule is None:
            gap("retention", f"rule {name!r} is not defined in the policy")
            lines.append(f"rule {name}: not defined in the policy")
        else:
            lines.append(retention_text(rule))
    if activity.retention_note:
        lines.append(f"note: {activity.retention_note}")
    return lines


def retention_text(rule: RetentionRule) -> str:
    """A rule in words: "shop.orders: 7 years after created_at, then deleted (rule orders-7y)"."""
    since = rule.since if isinstance(rule.since, str) else f"the latest of {', '.join(rule.anchor_columns)}"
    where = " and ".join(_condition(column, c) for column, c in sorted(rule.where.items()))
    table = f"{rule.table} (rows where {where})" if where else str(rule.table)
    then = "deleted" if rule.action == "delete" else f"{_and(sorted(rule.columns))} anonymised"
    unless = f", unless {_and(rule.unless, 'or')} is set" if rule.unless else ""
    return f"{table}: {rule.after} after {since}, then {then}{unless} (rule {rule.name})"


def _and(items: Iterable[str], word: str = "and") -> str:
    items = list(items)
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} {word} {items[-1]}"


def _condition(column: str, c: Condition) -> str:
    parts = []
    if c.equals is not None:
        parts.append(f"{column} = {c.equals}")
    if c.not_equals is not None:
        parts.append(f"{column} != {c.not_equals}")
    if c.in_ is not None:
        parts.append(f"{column} in ({', '.join(map(str, c.in_))})")
    if c.not_in is not None:
        parts.append(f"{column} not in ({', '.join(map(str, c.not_in))})")
    if c.is_null is not None:
        parts.append(f"{column} is {'' if c.is_null else 'not '}null")
    return " and ".join(parts)


def _covers(declared: str, held: str) -> bool:
    """True when a column holding ``held`` is data of the activity's category ``declared``."""
    return held == declared or held.startswith(declared + ".")


def _storage(policy: Policy, activity: Activity, gap: _GapFn) -> tuple[str, ...]:
    lines = []
    found: set[str] = set()
    for ref, table_map in sorted(policy.data_map.items(), key=lambda item: str(item[0])):
        if table_map.subject not in activity.subjects:
            continue
        columns = sorted(
            column
            for column, spec in table_map.columns.items()
            if any(_covers(c, spec.category) for c in activity.categories)
        )
        if not columns:
            continue
        found.update(
            c for c in activity.categories for s in table_map.columns.values() if _covers(c, s.category)
        )
        store = policy.stores.get(ref.store)
        region = f"region {store.region}" if store is not None and store.region else "region not declared"
        lines.append(f"{ref} ({region}): {', '.join(columns)}")
    for category in activity.categories:
        if category not in found:
            whose = ", ".join(activity.subjects)
            gap("storage", f"no table of the data map holds {category} of {whose}")
    return tuple(lines) or ("none found in the data map",)
