"""The SQL of the DPIA checks: one single-row COUNT query per check, built with SQLAlchemy per dialect.

Every query counts violations (``violations``) and a few measures; none selects a column's value, so
nothing personal can reach a result. The predicates are those of the engines they check: retention uses
``build_rule_sql(...).pending``, the very predicate the retention engine enforces; restriction uses the
register of ``lethe.requests.restriction``. Queries are compiled per dialect with literal binds and the checked
table is replaced by Great Expectations' ``{batch}`` placeholder (see ``batch_query``). k-anonymity and
l-diversity live in ``lethe.dpia.anonymity``.

| check | violation counted |
|---|---|
| retention | a row expired, matching ``where``, not exempt, not handled (``RuleSql.pending``) |
| pseudonymisation | a row of the rule (its ``where``) counted as handled whose anonymised text column looks like an email, phone, IBAN or IP |
| consent | a processing row with no consent granted before it and not withdrawn before it |
| restriction | a processing row at or after a restriction/objection of its subject for the activity began (and before it was lifted) |
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql.selectable import NamedFromClause
from sqlalchemy.sql.util import ClauseAdapter

from lethe.dpia.catalog import Catalog
from lethe.dpia.risk import EXPECTATION_SEVERITY, Kind
from lethe.errors import LetheError, SchemaMismatchError, StoreError
from lethe.policy.model import Activity, ExpectationCheck, RetentionRule, TableRef
from lethe.requests.restriction import REGISTER_TABLE, register_table

Status = Literal["pass", "fail", "error"]
Evidence = Literal["great_expectations", "lethe"]
Measures = dict[str, int | float | None]
# Great Expectations renders a whole-table batch as "(SELECT * FROM t ...) AS subselect" in custom queries,
# so the checked table is aliased with that name and its "FROM t AS subselect" becomes "FROM {batch}".
BATCH_ALIAS = "subselect"
# Character classes, anchors and counted repeats only: the same meaning on PostgreSQL (ARE), MariaDB
# (PCRE2) and SQLite (Python's re, through SQLAlchemy's REGEXP function). Anchored where a loose match
# would hit tokens or dates: a phone needs 9+ digits, so an ISO date (8) is not one.
PII_PATTERNS: dict[str, str] = {
    "email": r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+[.][A-Za-z]{2,}",
    "phone": r"^[+(]?[0-9]([ ()./-]{0,2}[0-9]){8,14}$",
    "iban": r"^[A-Z]{2}[0-9]{2}[A-Z0-9 ]{11,34}$",
    "ipv4": r"[0-9]{1,3}[.][0-9]{1,3}[.][0-9]{1,3}[.][0-9]{1,3}",
    "ipv6": r"^[0-9A-Fa-f]{0,4}(:[0-9A-Fa-f]{0,4}){2,7}$",
}
# Operators whose output is meant to look like real data: a fake email is not a leak.
_LOOKS_REAL = frozenset({"fake"})
_BIND_LIKE = re.compile(r"(?<![:\w\\]):(?=\w)")


@dataclass(frozen=True)
class CheckDef:
    """What a check is, before it runs: its id, title, kind, threshold and where it looks."""

    id: str
    title: str
    kind: Kind
    threshold: str
    where: tuple[str, ...] = ()
    severity: int | None = None  # overrides the kind's severity (named expectations)


@dataclass(frozen=True)
class QueryCheck:
    """A check run by Great Expectations as a single-row COUNT query on ``store.table``."""

    definition: CheckDef
    store: str
    table: str
    query: str
    labels: dict[str, str] = field(default_factory=dict)  # SQL label -> measure name, when they differ
    # Prepare a raw SQLite connection (register Lethe's functions that predicates may call).
    prepare: tuple[Callable[[Any], None], ...] = ()


@dataclass(frozen=True)
class ExpectationSpec:
    """A Great Expectations expectation the policy names, with its arguments."""

    definition: CheckDef
    store: str
    table: str
    expectation: str
    kwargs: dict[str, Any]


@dataclass(frozen=True)
class Outcome:
    """What evaluating (or failing to evaluate) a check gave."""

    definition: CheckDef
    status: Status
    observed: Measures
    evidence: Evidence
    evaluated: bool
    error: str | None = None
    note: str | None = None


GxCheck = QueryCheck | ExpectationSpec


def safe_error(exc: BaseException) -> str:
    """Class and message of an error Lethe raised (they never hold values), else the class only."""
    if isinstance(exc, LetheError):
        return f"{type(exc).__name__}: {exc}"
    # Driver messages may quote values (e.g. a failed cast): keep the classes of the error and its cause.
    cause = getattr(exc, "orig", None) or exc.__cause__
    return type(exc).__name__ + (f" ({type(cause).__name__})" if cause is not None else "")


def slug(text: str) -> str:
    """An id-friendly form of a name (``order fulfilment`` -> ``order-fulfilment``)."""
    return re.sub(r"[^A-Za-z0-9_.\-]+", "-", text.strip()).strip("-").lower() or "unnamed"


def batch_query(statement: sa.Select[Any], batch: NamedFromClause, dialect: Dialect) -> str:
    """``statement`` as text for a Great Expectations custom query: literal values, ``{batch}`` for the table.

    The text is run through ``sqlalchemy.text`` and ``str.format`` by Great Expectations, so braces are
    doubled, colons that would read as bind parameters escaped, and percent signs left single (the
    pyformat dialects double them when compiling; ``text`` doubles them again when it runs).
    """
    options = {"literal_binds": True}
    sql = str(statement.compile(dialect=dialect, compile_kwargs=options))
    head = str(sa.select(sa.literal_column("1")).select_from(batch).compile(dialect=dialect))
    fragment = "FROM " + head.split("FROM ", 1)[1].strip()
    if dialect.identifier_preparer._double_percents:
        sql = sql.replace("%%", "%")
    sql = _BIND_LIKE.sub(r"\\:", sql).replace("{", "{{").replace("}", "}}")
    fragment = fragment.replace("{", "{{").replace("}", "}}")
    if sql.count(fragment) != 1:
        raise SchemaMismatchError(f"cannot place the batch of {batch.name} in the check's query")
    return sql.replace(fragment, "FROM {batch}")


def _adapt(batch: NamedFromClause, predicate: sa.ColumnElement[bool]) -> sa.ColumnElement[bool]:
    """The predicate with the checked table's columns taken from its batch alias."""
    return ClauseAdapter(batch).traverse(predicate)


def column_of(table: sa.TableClause | NamedFromClause, name: str, what: str) -> sa.ColumnElement[Any]:
    try:
        return table.c[name]
    except KeyError:
        raise SchemaMismatchError(f"{what}: table {table.name} has no column {name!r}") from None


def sum_if(condition: sa.ColumnElement[bool], value: Any = 1) -> sa.ColumnElement[Any]:
    return sa.func.coalesce(sa.func.sum(sa.case((condition, value), else_=0)), 0)


def retention_def(rule: RetentionRule) -> CheckDef:
    """The retention compliance check of a rule."""
    return CheckDef(
        id=f"retention:{rule.name}",
        title=f"Retention rule {rule.name}: no row kept past its period",
        kind="retention",
        threshold=f"0 rows older than {rule.after} that are neither exempt nor {rule.action}d",
        where=(str(rule.table),),
    )


def retention_check(catalog: Catalog, rule: RetentionRule) -> QueryCheck:
    """Pending rows of the rule at the run's instant, with the retention engine's own predicate."""
    sql = catalog.rule_sql(rule)
    batch = sql.table.alias(BATCH_ALIAS)
    statement = sa.select(sa.func.count().label("violations")).select_from(batch)
    statement = statement.where(_adapt(batch, sql.pending))
    dialect = catalog.dialect(rule.table.store)
    prepare = tuple(_preparer(r.operator, r.context) for r in sql.rewrites)
    return QueryCheck(
        retention_def(rule), rule.table.store, rule.table.table, batch_query(statement, batch, dialect),
        prepare=prepare,
    )  # fmt: skip


def _preparer(operator: Any, context: Any) -> Callable[[Any], None]:
    return lambda raw: operator.prepare(raw, context)


def pseudonymisation_def(rule: RetentionRule) -> CheckDef:
    """The pseudonymisation effectiveness check of an anonymise rule."""
    return CheckDef(
        id=f"pseudonymisation:{rule.name}",
        title=f"Rule {rule.name}: anonymised columns hold no plaintext email, phone, IBAN or IP",
        kind="pseudonymisation",
        threshold="0 handled rows with an identifier-shaped value in an anonymised text column",
        where=tuple(f"{rule.table}.{c}" for c in rule.columns),
    )


def pseudonymisation_check(catalog: Catalog, rule: RetentionRule) -> QueryCheck | None:
    """Handled rows whose anonymised text columns still look like identifiers; None when nothing to test."""
    catalog.reachable(rule.table.store)
    info = catalog.stores.table(rule.table)
    columns = [
        name
        for name, action in rule.columns.items()
        if info.column(name).kind == "text" and action.operator not in _LOOKS_REAL
    ]
    sql = catalog.rule_sql(rule)
    if not columns or sql.handled is None:
        return None
    batch = sql.table.alias(BATCH_ALIAS)
    looks = {c: sa.or_(*(batch.c[c].regexp_match(p) for p in PII_PATTERNS.values())) for c in columns}
    labels = {f"m{i}": f"column:{c}" for i, c in enumerate(columns)}
    statement = (
        sa.select(
            sa.func.count().label("violations"),
            *(sum_if(looks[c]).label(f"m{i}") for i, c in enumerate(columns)),
        )
        .select_from(batch)
        .where(
            *(_adapt(batch, c) for c in sql.conditions), _adapt(batch, sql.handled), sa.or_(*looks.values())
        )
    )
    dialect = catalog.dialect(rule.table.store)
    prepare = tuple(_preparer(r.operator, r.context) for r in sql.rewrites)
    definition = replace(pseudonymisation_def(rule), where=tuple(f"{rule.table}.{c}" for c in columns))
    query = batch_query(statement, batch, dialect)
    return QueryCheck(definition, rule.table.store, rule.table.table, query, labels=labels, prepare=prepare)


def consent_def(activity: Activity) -> CheckDef:
    """The consent coverage check of a consent-based activity."""
    assert activity.processing is not None and activity.consent is not None
    return CheckDef(
        id=f"consent:{slug(activity.name)}",
        title=f"Activity {activity.name}: every processing row is covered by an active consent",
        kind="consent",
        threshold="0 rows processed without a consent granted before and not withdrawn before",
        where=(str(activity.processing.table), str(activity.consent.table)),
    )


def consent_check(catalog: Catalog, activity: Activity) -> QueryCheck:
    """Processing rows without a consent active at their time; ``after_withdrawal``: of them, after one."""
    processing, consent = activity.processing, activity.consent
    assert processing is not None and consent is not None
    what = f"consent.{slug(activity.name)}"
    store = processing.table.store
    if consent.table.store != store:
        raise SchemaMismatchError(f"{what}: the consent and processing tables must be in the same store")
    table = catalog.table(store, processing.table.table)
    grants = catalog.table(store, consent.table.table)
    batch = table.alias(BATCH_ALIAS)
    at = column_of(batch, processing.at, what)
    same = [
        column_of(grants, consent.subject_column, what) == column_of(batch, processing.subject_column, what)
    ]
    if consent.purpose_column is not None and consent.purpose is not None:
        same.append(column_of(grants, consent.purpose_column, what) == consent.purpose)
    granted, withdrawn = column_of(grants, consent.granted, what), column_of(grants, consent.withdrawn, what)
    active = sa.exists(
        sa.select(sa.literal(1)).where(*same, granted <= at, sa.or_(withdrawn.is_(None), withdrawn > at))
    )
    gone = sa.exists(sa.select(sa.literal(1)).where(*same, withdrawn.is_not(None), withdrawn <= at))
    statement = (
        sa.select(sa.func.count().label("violations"), sum_if(gone).label("after_withdrawal"))
        .select_from(batch)
        .where(~active)
    )
    query = batch_query(statement, batch, catalog.dialect(store))
    return QueryCheck(consent_def(activity), store, processing.table.table, query)


def restriction_def(activity: Activity) -> CheckDef:
    """The restriction check of an activity that must exclude restricted subjects."""
    assert activity.processing is not None
    return CheckDef(
        id=f"restriction:{slug(activity.name)}",
        title=f"Activity {activity.name}: restricted and objecting subjects are not processed",
        kind="restriction",
        threshold="0 rows processed while their subject was restricted for the activity",
        where=(str(activity.processing.table), f"{activity.processing.table.store}.{REGISTER_TABLE}"),
    )


def restriction_check(catalog: Catalog, activity: Activity) -> QueryCheck | Outcome:
    """Processing rows inside an active restriction of their subject; a pass when no register exists."""
    processing = activity.processing
    assert processing is not None
    what = f"restriction.{slug(activity.name)}"
    store = processing.table.store
    subjects = catalog.policy.subjects
    if any(subjects[s].store != store for s in activity.subjects if s in subjects):
        raise SchemaMismatchError(
            f"{what}: the processing table is not in the store of its subjects' register"
        )
    definition = restriction_def(activity)
    engine = catalog.stores.engine(store)
    catalog.reachable(store)
    try:
        present = sa.inspect(engine).has_table(REGISTER_TABLE)
    except SQLAlchemyError as exc:
        raise StoreError(f"{what}: cannot read the schema ({type(exc).__name__})") from None
    if not present:
        note = f"no {REGISTER_TABLE} table in store {store}: no subject has ever been restricted"
        return Outcome(definition, "pass", {"violations": 0}, "lethe", True, note=note)
    table = catalog.table(store, processing.table.table)
    register = register_table()
    batch = table.alias(BATCH_ALIAS)
    at = column_of(batch, processing.at, what)
    key = sa.cast(column_of(batch, processing.subject_column, what), sa.String(255))
    inside = sa.exists(
        sa.select(sa.literal(1)).where(
            register.c.subject.in_(activity.subjects),
            register.c.subject_key == key,
            sa.or_(register.c.activity.is_(None), register.c.activity == activity.name),
            register.c.since <= at,
            sa.or_(register.c.lifted_at.is_(None), register.c.lifted_at > at),
        )
    )
    statement = sa.select(sa.func.count().label("violations")).select_from(batch).where(inside)
    return QueryCheck(
        definition, store, processing.table.table, batch_query(statement, batch, engine.dialect)
    )


def expectation_def(index: int, check: ExpectationCheck) -> CheckDef:
    """A named expectation's check; its arguments come from the policy, never from the data."""
    arguments = ", ".join(f"{k}={v!r}" for k, v in check.kwargs.items())
    return CheckDef(
        id=f"expectation:{index}:{check.expectation}",
        title=f"{check.table}: {check.expectation}",
        kind="expectation",
        threshold=f"{check.expectation}({arguments})",
        where=(str(check.table),),
        severity=EXPECTATION_SEVERITY[check.severity],
    )


def expectation_spec(catalog: Catalog, index: int, check: ExpectationCheck) -> ExpectationSpec:
    """The named expectation; dates become datetimes (Great Expectations compares datetimes)."""
    catalog.reachable(check.table.store)
    kwargs = {
        k: datetime(v.year, v.month, v.day) if isinstance(v, date) and not isinstance(v, datetime) else v
        for k, v in check.kwargs.items()
    }
    return ExpectationSpec(
        expectation_def(index, check), check.table.store, check.table.table, check.expectation, kwargs
    )


def table_ref(check: GxCheck) -> TableRef:
    """The ``store.table`` a check's batch reads."""
    return TableRef(store=check.store, table=check.table)
