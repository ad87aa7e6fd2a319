"""The policy: one YAML file, the single source of truth for what is personal, where, and for how long.

Every block of the file maps to a model here; all models forbid unknown keys, so a typo is an error at load
time, not a silently ignored rule. Cross-references (a rule's table in the data map, an activity's subjects,
a store name) are checked by ``Policy.reference_problems``. What can only be checked against a live schema
(columns exist, types fit) is done by ``lethe.validation.policy``.
"""

from __future__ import annotations

from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    Field,
    PrivateAttr,
    field_validator,
)

from lethe.policy import categories
from lethe.policy.activities import (
    Activity,
    Checks,
    ConsentSource,
    ExpectationCheck,
    KAnonymityCheck,
    LawfulBasis,
    ProcessingSource,
    Transfer,
)
from lethe.policy.base import Identifier, Model, Name, TableRef, TableRefField
from lethe.policy.breach import BreachPolicy
from lethe.policy.consent import ConsentRecords, consent_reference_problems
from lethe.policy.processor import ClientController, ContractsTable, ProcessorRecord
from lethe.policy.recipients import Recipient
from lethe.policy.requests import ErasureAction, ErasurePolicy, RectificationPolicy
from lethe.policy.retention import ColumnAction, Condition, LatestOf, RetentionRule

__all__ = [
    "Activity",
    "BreachPolicy",
    "Checks",
    "ClientController",
    "ColumnAction",
    "ColumnMap",
    "Condition",
    "ConsentRecords",
    "ConsentSource",
    "Contact",
    "ContractsTable",
    "Controller",
    "ErasureAction",
    "ErasurePolicy",
    "ExpectationCheck",
    "KAnonymityCheck",
    "LatestOf",
    "LawfulBasis",
    "Policy",
    "ProcessingSource",
    "ProcessorRecord",
    "Recipient",
    "RectificationPolicy",
    "RetentionRule",
    "StoreConfig",
    "SubjectDef",
    "TableMap",
    "TableRef",
    "Transfer",
]


class Contact(Model):
    """A named contact."""

    name: str
    email: str | None = None
    address: str | None = None


class Controller(Model):
    """The controller (Art. 4(7)) and its contacts, as the RoPA and exports show them."""

    name: str
    dpo: Contact | None = None
    representative_eu: Contact | None = None
    address: str | None = None


class StoreConfig(Model):
    """A relational data store reached by a SQLAlchemy URL (``${ENV}`` interpolated at load)."""

    url: str
    region: str | None = None
    # Zone of timestamps stored without one (MariaDB DATETIME, SQLite text, PostgreSQL timestamp).
    timezone: str = "UTC"
    description: str | None = None
    # Where hmac, noise and fake compute their values: in the database (fast; each transaction binds the
    # column keys in one short statement) or in Lethe (no key reaches the database; docs/threat-model.md).
    tokens: Literal["in_database", "in_process"] = "in_database"
    # Processor mode: the column of this store's tables that says for which controller a row is held.
    controller_column: Identifier | None = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r} (use an IANA name such as Europe/Berlin)"
            ) from None
        return value


class SubjectDef(Model):
    """A kind of data subject and where its identity lives."""

    store: str
    table: str
    key: Identifier
    lookup: list[Identifier] = Field(default_factory=list)
    description: str | None = None
    # Jurisdiction of the subjects: the localisation check compares it with stores' regions.
    jurisdiction: str = "EU"
    erasure: ErasurePolicy = Field(default_factory=ErasurePolicy)
    rectification: RectificationPolicy = Field(default_factory=RectificationPolicy)


class ColumnMap(Model):
    """What a column holds."""

    category: str
    quasi_identifier: bool = False
    sensitive: bool = False  # the sensitive attribute of l-diversity
    description: str | None = None


class TableMap(Model):
    """A table of the data map: whose rows, which columns are personal."""

    subject: str | None = None
    # Column holding the subject's key when no foreign key says it (e.g. a log without constraints).
    subject_column: Identifier | None = None
    columns: dict[Identifier, ColumnMap] = Field(default_factory=dict)
    # Processor mode: the column saying for which controller a row is held (else the store's).
    controller_column: Identifier | None = None
    description: str | None = None


class Policy(Model):
    """A whole policy file."""

    version: Literal[1]
    controller: Controller
    # processor: `controller:` processes for the controllers of `processor:` (Art. 28); see lethe/policy/processor.py
    role: Literal["controller", "processor"] = "controller"
    processor: ProcessorRecord = Field(default_factory=ProcessorRecord)
    categories: dict[str, str] = Field(default_factory=dict)  # the policy's own category families
    stores: dict[Name, StoreConfig] = Field(min_length=1)
    subjects: dict[Name, SubjectDef] = Field(default_factory=dict)
    data_map: dict[TableRefField, TableMap] = Field(default_factory=dict)
    retention: list[RetentionRule] = Field(default_factory=list)
    activities: list[Activity] = Field(default_factory=list)
    checks: Checks = Field(default_factory=Checks)
    consent: ConsentRecords | None = None
    breach: BreachPolicy = Field(default_factory=BreachPolicy)
    recipients: dict[Name, Recipient] = Field(default_factory=dict)  # Art. 19
    _source: str = PrivateAttr(default="<memory>")
    _hash: str = PrivateAttr(default="")

    def attach_source(self, source: str, sha256: str) -> None:
        """Remember where the policy was read from and the SHA-256 of its bytes (recorded in the ledger)."""
        self._source = source
        self._hash = sha256

    @property
    def source(self) -> str:
        """The file the policy was read from."""
        return self._source

    @property
    def hash(self) -> str:
        """SHA-256 of the policy file's bytes, before ``${VAR}`` interpolation (so no secret affects it)."""
        return self._hash

    def reference_problems(self) -> list[tuple[tuple[str | int, ...], str]]:
        """Cross-references that do not resolve, as (path in the file, message) pairs."""
        problems: list[tuple[tuple[str | int, ...], str]] = []
        stores = set(self.stores)

        def category_ok(category: str) -> bool:
            return categories.is_known(category, self.categories)

        for name, subject in self.subjects.items():
            if subject.store not in stores:
                problems.append((("subjects", name, "store"), f"unknown store {subject.store!r}"))
        for ref, table_map in self.data_map.items():
            key = str(ref)
            if ref.store not in stores:
                problems.append((("data_map", key), f"unknown store {ref.store!r}"))
            if table_map.subject is not None and table_map.subject not in self.subjects:
                problems.append((("data_map", key, "subject"), f"unknown subject {table_map.subject!r}"))
            for column, spec in table_map.columns.items():
                if not category_ok(spec.category):
                    problems.append(
                        (
                            ("data_map", key, "columns", column, "category"),
                            f"unknown data category {spec.category!r} "
                            "(see lethe/policy/categories.py, or declare it under `categories:`)",
                        )
                    )
        seen: set[str] = set()
        for i, rule in enumerate(self.retention):
            if rule.name in seen:
                problems.append((("retention", i, "name"), f"duplicate rule name {rule.name!r}"))
            seen.add(rule.name)
            if rule.table.store not in stores:
                problems.append((("retention", i, "table"), f"unknown store {rule.table.store!r}"))
        for i, activity in enumerate(self.activities):
            for j, subject_name in enumerate(activity.subjects):
                if subject_name not in self.subjects:
                    problems.append((("activities", i, "subjects", j), f"unknown subject {subject_name!r}"))
            for j, category in enumerate(activity.categories):
                if not category_ok(category):
                    problems.append(
                        (("activities", i, "categories", j), f"unknown data category {category!r}")
                    )
            for j, rule_name in enumerate(activity.retention):
                if rule_name not in seen:
                    problems.append(
                        (("activities", i, "retention", j), f"unknown retention rule {rule_name!r}")
                    )
            for field in ("consent", "processing"):
                source = getattr(activity, field)
                if source is not None and source.table.store not in stores:
                    problems.append(
                        (("activities", i, field, "table"), f"unknown store {source.table.store!r}")
                    )
        problems += self._processor_problems()
        k_tables: dict[str, int] = {}
        for i, k_check in enumerate(self.checks.k_anonymity):
            if k_check.table.store not in stores:
                problems.append(
                    (("checks", "k_anonymity", i, "table"), f"unknown store {k_check.table.store!r}")
                )
            first = k_tables.setdefault(str(k_check.table), i)
            if first != i:
                # k-anonymity holds over all quasi-identifiers at once (and then over any subset of them).
                problems.append(
                    (
                        ("checks", "k_anonymity", i, "table"),
                        f"{k_check.table} already has a k_anonymity entry (checks.k_anonymity.{first}): "
                        "one entry per table, with all its quasi-identifiers (and sensitive/l for l-diversity)",
                    )
                )
        expectations: dict[str, int] = {}
        for i, e_check in enumerate(self.checks.expectations):
            if e_check.table.store not in stores:
                problems.append(
                    (("checks", "expectations", i, "table"), f"unknown store {e_check.table.store!r}")
                )
            # Great Expectations keeps one of two equal expectations in a suite: the other would never run.
            key = repr((str(e_check.table), e_check.expectation, _canonical(e_check.kwargs)))
            first = expectations.setdefault(key, i)
            if first != i:
                problems.append(
                    (
                        ("checks", "expectations", i),
                        f"repeats checks.expectations.{first} (same table, expectation and arguments)",
                    )
                )
        for name, recipient in self.recipients.items():
            for j, table in enumerate(recipient.tables):
                if table.store not in stores:
                    problems.append((("recipients", name, "tables", j), f"unknown store {table.store!r}"))
            for j, category in enumerate(recipient.categories):
                if not category_ok(category):
                    problems.append(
                        (("recipients", name, "categories", j), f"unknown data category {category!r}")
                    )
            if recipient.outbox is not None and recipient.outbox.store not in stores:
                problems.append((("recipients", name, "outbox"), f"unknown store {recipient.outbox.store!r}"))
        if self.consent is not None:
            names = {activity.name for activity in self.activities}
            problems += consent_reference_problems(self.consent, stores, set(self.subjects), names)
        return problems

    def _processor_problems(self) -> list[tuple[tuple[str | int, ...], str]]:
        """References of the processor block, per-controller periods and controller columns."""
        problems: list[tuple[tuple[str | int, ...], str]] = []
        record = self.processor
        if self.role == "processor" and not record.controllers:
            problems.append(
                (("processor", "controllers"), "role processor needs the controllers it acts for")
            )
        if self.role == "controller" and (record.controllers or record.contracts):
            problems.append((("role",), "`processor:` declares controllers: set `role: processor`"))
        activities = {a.name for a in self.activities}
        keys: dict[str, str] = {}
        for name in record.controllers:
            for j, activity in enumerate(record.controllers[name].activities):
                if activity not in activities:
                    problems.append(
                        (
                            ("processor", "controllers", name, "activities", j),
                            f"unknown activity {activity!r}",
                        )
                    )
            first = keys.setdefault(str(record.key_of(name)), name)
            if first != name:
                problems.append((("processor", "controllers", name, "key"), f"the same key as {first!r}"))
        if record.contracts is not None and record.contracts.table.store not in self.stores:
            problems.append(
                (("processor", "contracts", "table"), f"unknown store {record.contracts.table.store!r}")
            )
        if self.role == "processor":
            for ref in self.data_map:
                if ref.store in self.stores and self.controller_column(ref) is None:
                    problems.append(
                        (
                            ("data_map", str(ref), "controller_column"),
                            "role processor: say which column holds the controller (here or on the store)",
                        )
                    )
        for i, rule in enumerate(self.retention):
            if not (rule.per_controller or rule.contract_periods):
                continue
            if rule.table.store in self.stores and self.controller_column(rule.table) is None:
                problems.append(
                    (("retention", i, "table"), f"{rule.table} has no controller_column (data map or store)")
                )
            for name in rule.per_controller:
                if name not in record.controllers:
                    problems.append(
                        (
                            ("retention", i, "per_controller", name),
                            f"unknown controller {name!r} (processor.controllers)",
                        )
                    )
            if rule.contract_periods and record.contracts is None:
                problems.append(
                    (("retention", i, "contract_periods"), "no `processor.contracts:` table declared")
                )
        return problems

    def controller_column(self, ref: TableRef) -> str | None:
        """The column of ``ref`` saying for which controller a row is held (the table's, else its store's)."""
        table_map = self.data_map.get(ref)
        if table_map is not None and table_map.controller_column is not None:
            return table_map.controller_column
        store = self.stores.get(ref.store)
        return store.controller_column if store is not None else None

    def rule(self, name: str) -> RetentionRule:
        """The retention rule called ``name``."""
        for rule in self.retention:
            if rule.name == name:
                return rule
        raise KeyError(name)

    def table_map(self, ref: TableRef) -> TableMap | None:
        """The data-map entry of a table, if declared."""
        return self.data_map.get(ref)


def _canonical(value: Any) -> Any:
    """``value`` with mappings in a fixed order, so equal arguments compare equal however they are written."""
    if isinstance(value, dict):
        return tuple(sorted((repr(k), _canonical(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(_canonical(v) for v in value)
    return value
