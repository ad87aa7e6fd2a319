"""The policy: one YAML file, the single source of truth for what is personal, where, and for how long.

Every block of the file maps to a model here; all models forbid unknown keys, so a typo is an error at load
time, not a silently ignored rule. Cross-references (a rule's table in the data map, an activity's subjects,
a store name) are checked in ``Policy._check_references``. What can only be checked against a live schema
(columns exist, types fit) is done by ``lethe.validation``.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from lethe import categories
from lethe.errors import OperatorError
from lethe.operators import get_operator
from lethe.periods import Period, parse_period

NAME = r"^[A-Za-z][A-Za-z0-9_\-]*$"
IDENT = r"^[A-Za-z_][A-Za-z0-9_$]*$"


class Model(BaseModel):
    """Base of policy models: immutable, unknown keys refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


Identifier = Annotated[str, Field(pattern=IDENT, max_length=128)]
Name = Annotated[str, Field(pattern=NAME, max_length=100)]


def _period(value: Any) -> Period:
    if isinstance(value, Period):
        return value
    return parse_period(value)


PeriodField = Annotated[Period, BeforeValidator(_period)]


class TableRef(Model):
    """``store.table``: a table of a store; the table part may itself be ``schema.table``."""

    store: str
    table: str

    def __str__(self) -> str:
        return f"{self.store}.{self.table}"


def _table_ref(value: Any) -> TableRef:
    if isinstance(value, TableRef):
        return value
    if not isinstance(value, str) or value.count(".") not in (1, 2) or "" in value.split("."):
        raise ValueError(f"expected 'store.table' (or 'store.schema.table'), got {value!r}")
    store, table = value.split(".", 1)
    return TableRef(store=store, table=table)


TableRefField = Annotated[TableRef, BeforeValidator(_table_ref)]


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
    description: str | None = None


class LatestOf(Model):
    """An anchor that is the latest of several timestamps: own columns or ``table.column`` of related rows."""

    latest_of: list[str] = Field(min_length=1)

    @field_validator("latest_of")
    @classmethod
    def _refs(cls, refs: list[str]) -> list[str]:
        for ref in refs:
            if not re.match(r"^([A-Za-z_][\w$]*\.)?[A-Za-z_][\w$]*$", ref):
                raise ValueError(f"anchor {ref!r} must be 'column' or 'related_table.column'")
        return refs


ConditionValue = str | int | float | bool


class Condition(Model):
    """One test on a column; the keys combine with AND."""

    equals: ConditionValue | None = None
    not_equals: ConditionValue | None = None
    in_: list[ConditionValue] | None = Field(default=None, alias="in")
    not_in: list[ConditionValue] | None = None
    is_null: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        # `status: closed` is short for `status: {equals: closed}`.
        if isinstance(value, str | int | float | bool):
            return {"equals": value}
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> Condition:
        if not self.model_fields_set:
            raise ValueError("a condition needs one of equals, not_equals, in, not_in, is_null")
        return self


class ColumnAction(BaseModel):
    """``{operator: NAME, ...options}``: how an anonymise rule rewrites one column."""

    model_config = ConfigDict(extra="allow", frozen=True)
    operator: str
    _options: BaseModel = PrivateAttr()

    @model_validator(mode="after")
    def _resolve(self) -> ColumnAction:
        try:
            op = get_operator(self.operator)
        except OperatorError as exc:
            raise ValueError(str(exc)) from None
        try:
            self._options = op.options_model.model_validate(self.model_extra or {})
        except ValueError as exc:
            problems = "; ".join(_brief(e) for e in getattr(exc, "errors", lambda: [])()) or str(exc)
            raise ValueError(f"options of operator {self.operator!r}: {problems}") from None
        return self

    @property
    def options(self) -> BaseModel:
        """The operator's validated options."""
        return self._options


def _brief(error: Any) -> str:
    where = ".".join(str(p) for p in error.get("loc", ()))
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


class RetentionRule(Model):
    """Delete or anonymise a table's rows some time after an anchor timestamp."""

    name: Name
    table: TableRefField
    after: PeriodField
    since: Identifier | LatestOf
    where: dict[Identifier, Condition] = Field(default_factory=dict)
    unless: list[Identifier] = Field(default_factory=list)  # exemptions: boolean columns such as legal_hold
    action: Literal["delete", "anonymise"]
    columns: dict[Identifier, ColumnAction] = Field(default_factory=dict)
    mark: Identifier | None = None  # column set to the run's time when a row is anonymised
    batch_size: int | None = Field(default=None, ge=1, le=1_000_000)
    description: str | None = None

    @model_validator(mode="after")
    def _action_fits(self) -> RetentionRule:
        if self.action == "anonymise" and not self.columns:
            raise ValueError("an anonymise rule needs `columns:` with an operator per column")
        if self.action == "delete" and self.columns:
            raise ValueError("a delete rule takes no `columns:` (it removes whole rows)")
        if self.action == "delete" and self.mark:
            raise ValueError("a delete rule takes no `mark:`")
        if self.action == "anonymise" and self.mark is None:
            unrecognisable = sorted(
                name for name, c in self.columns.items() if not get_operator(c.operator).recognisable
            )
            if unrecognisable:
                # Without a marker a re-run could not tell these columns were done: it would apply the
                # operator again (noise twice) or skip it when the other columns look done.
                raise ValueError(
                    f"the operators of {', '.join(unrecognisable)} leave no recognisable value (only null, "
                    "redact, hmac, generalise and encrypt do): add `mark: <timestamp column>` set when a "
                    "row is anonymised"
                )
        return self

    @property
    def anchor_columns(self) -> list[str]:
        """The anchor as a list of references (``column`` or ``table.column``)."""
        return [self.since] if isinstance(self.since, str) else list(self.since.latest_of)


class Transfer(Model):
    """A transfer to a third country or international organisation (Art. 30(1)(e))."""

    country: str
    recipient: str | None = None
    safeguard: str  # e.g. adequacy decision, SCCs (Art. 46(2)(c)), BCRs


class ConsentSource(Model):
    """Where consent is recorded: one row per grant, withdrawn when ``withdrawn`` is set."""

    table: TableRefField
    subject_column: Identifier
    granted: Identifier
    withdrawn: Identifier
    purpose_column: Identifier | None = None
    purpose: str | None = None


class ProcessingSource(Model):
    """Where the processing an activity performs is logged (e.g. newsletter sends)."""

    table: TableRefField
    subject_column: Identifier
    at: Identifier


LawfulBasis = Literal[
    "consent", "contract", "legal_obligation", "vital_interests", "public_task", "legitimate_interests"
]


class Activity(Model):
    """A processing activity: the RoPA's row and the facts an access request must state."""

    name: str
    purpose: str
    lawful_basis: LawfulBasis
    legitimate_interest: str | None = None
    subjects: list[str] = Field(min_length=1)
    categories: list[str] = Field(min_length=1)
    recipients: list[str] = Field(default_factory=list)
    transfers: list[Transfer] = Field(default_factory=list)
    retention: list[str] = Field(default_factory=list)  # names of retention rules
    retention_note: str | None = None
    sources: list[str] = Field(default_factory=lambda: ["the data subject"])
    security_measures: list[str] = Field(default_factory=list)
    consent: ConsentSource | None = None
    processing: ProcessingSource | None = None
    respects_restriction: bool = True  # restricted subjects must be excluded from this activity
    automated_decisions: str | None = None

    @field_validator("retention", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _basis(self) -> Activity:
        if self.lawful_basis == "legitimate_interests" and not self.legitimate_interest:
            raise ValueError("lawful_basis legitimate_interests needs `legitimate_interest:` stating it")
        if self.consent is not None and self.lawful_basis != "consent":
            raise ValueError("`consent:` is only meaningful for lawful_basis consent")
        return self


class KAnonymityCheck(Model):
    """Every combination of quasi-identifiers must be shared by at least ``k`` rows (and ``l`` values)."""

    table: TableRefField
    quasi_identifiers: list[Identifier] = Field(min_length=1)
    k: int = Field(ge=2)
    sensitive: Identifier | None = None
    l: int | None = Field(default=None, ge=2)  # noqa: E741 - the letter is the name of the measure

    @model_validator(mode="after")
    def _l_needs_sensitive(self) -> KAnonymityCheck:
        if (self.l is None) != (self.sensitive is None):
            raise ValueError("l-diversity needs both `sensitive:` and `l:`")
        return self


class ExpectationCheck(Model):
    """Any Great Expectations expectation, by class name, with its arguments."""

    table: TableRefField
    expectation: Annotated[str, Field(pattern=r"^Expect[A-Za-z0-9]+$")]
    kwargs: dict[str, Any] = Field(default_factory=dict)
    severity: Literal["low", "medium", "high"] = "medium"


class Checks(Model):
    """DPIA checks beyond those derived from the rules and the data map."""

    k_anonymity: list[KAnonymityCheck] = Field(default_factory=list)
    expectations: list[ExpectationCheck] = Field(default_factory=list)
    allowed_regions: list[str] = Field(default_factory=list)

    @field_validator("k_anonymity", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, dict) else value


class Policy(Model):
    """A whole policy file."""

    version: Literal[1]
    controller: Controller
    categories: dict[str, str] = Field(default_factory=dict)  # the policy's own category families
    stores: dict[Name, StoreConfig] = Field(min_length=1)
    subjects: dict[Name, SubjectDef] = Field(default_factory=dict)
    data_map: dict[TableRefField, TableMap] = Field(default_factory=dict)
    retention: list[RetentionRule] = Field(default_factory=list)
    activities: list[Activity] = Field(default_factory=list)
    checks: Checks = Field(default_factory=Checks)
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
                            "(see lethe/categories.py, or declare it under `categories:`)",
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
        for i, k_check in enumerate(self.checks.k_anonymity):
            if k_check.table.store not in stores:
                problems.append(
                    (("checks", "k_anonymity", i, "table"), f"unknown store {k_check.table.store!r}")
                )
        for i, e_check in enumerate(self.checks.expectations):
            if e_check.table.store not in stores:
                problems.append(
                    (("checks", "expectations", i, "table"), f"unknown store {e_check.table.store!r}")
                )
        return problems

    def rule(self, name: str) -> RetentionRule:
        """The retention rule called ``name``."""
        for rule in self.retention:
            if rule.name == name:
                return rule
        raise KeyError(name)

    def table_map(self, ref: TableRef) -> TableMap | None:
        """The data-map entry of a table, if declared."""
        return self.data_map.get(ref)
