"""Check a loaded policy against the live schemas of its stores, before anything touches data.

Everything a rule, subject, data-map entry, activity or check names must exist with a fitting type:
tables, columns, anchor timestamps, primary keys for batched work, boolean exemption flags, operators able
to write their columns, and a path from related anchor tables to the rule's table. Findings carry a code
(stable, for machines), a place in the policy and a message; none holds a value from the data.
"""

from __future__ import annotations

from sqlalchemy.exc import SQLAlchemyError

from lethe.errors import LetheError, OperatorError, SchemaMismatchError, SettingsError, StoreError
from lethe.operators import ColumnShape, OperatorContext, get_operator
from lethe.policy.model import Policy, TableRef
from lethe.requests.subjects import build_graph, unreachable
from lethe.requests.validation import check_erasure
from lethe.retention.validation import check_rule
from lethe.stores.checks import Finding, SchemaCheck
from lethe.stores.engines import Stores


def validate_policy(policy: Policy, stores: Stores) -> list[Finding]:
    """All findings of checking ``policy`` against the live schemas (empty when it fits)."""
    check = SchemaCheck(stores)
    for name in policy.stores:
        try:
            stores.ping(name)
            stores.schema(name)
        except LetheError as exc:
            # A URL Lethe cannot use (exit 2) is not an unreachable store (exit 3).
            code = "store-unusable" if isinstance(exc, SettingsError) else "store-unreachable"
            check.add("error", code, f"stores.{name}", str(exc))
            check.unreachable.add(name)
    _check_subjects(policy, check)
    _check_data_map(policy, check)
    for rule in policy.retention:
        check_rule(policy, rule, check)
    _check_activities(policy, check)
    _check_consent(policy, check)
    _check_checks(policy, check)
    _check_subject_graphs(policy, check)
    check_erasure(policy, check)
    _check_extensions(policy, check)
    _check_controller_columns(policy, check)
    return check.findings


def _check_controller_columns(policy: Policy, check: SchemaCheck) -> None:
    """Processor mode: every declared controller column and the contracts table's columns exist."""
    tables: dict[TableRef, str] = {}
    for ref in policy.data_map:
        tables.setdefault(ref, f"data_map.{ref}.controller_column")
    for rule in policy.retention:
        tables.setdefault(rule.table, f"retention.{rule.name}.table")
    for ref, where in tables.items():
        column = policy.controller_column(ref)
        if column is None or ref.store in check.unreachable:
            continue
        table = check.table(ref, where)
        if table is not None:
            check.columns(table, [column], where)
    contracts = policy.processor.contracts
    if contracts is not None and contracts.table.store not in check.unreachable:
        where = "processor.contracts"
        table = check.table(contracts.table, where)
        if table is not None:
            names = [contracts.controller, contracts.period, contracts.ends]
            check.columns(table, [n for n in names if n is not None], where)


def _check_subjects(policy: Policy, check: SchemaCheck) -> None:
    for name, subject in policy.subjects.items():
        where = f"subjects.{name}"
        table = check.table(TableRef(store=subject.store, table=subject.table), where)
        if table is not None:
            check.columns(table, [subject.key, *subject.lookup], where)


def _check_data_map(policy: Policy, check: SchemaCheck) -> None:
    for ref, table_map in policy.data_map.items():
        where = f"data_map.{ref}"
        table = check.table(ref, where)
        if table is None:
            continue
        check.columns(table, table_map.columns, where)
        if table_map.subject_column:
            check.columns(table, [table_map.subject_column], where)


def _check_extensions(policy: Policy, check: SchemaCheck) -> None:
    """Operators that call database extensions find them (hmac, noise, fake: pgcrypto on PostgreSQL).

    Checked once per store and operator, at the first place of the policy that uses it: without it,
    validation passed and the first erasure or retention run failed.
    """
    uses: dict[tuple[str, str], str] = {}
    for rule in policy.retention:
        for column, action in rule.columns.items():
            place = f"retention.{rule.name}.columns.{column}"
            uses.setdefault((rule.table.store, action.operator), place)
    for name, subject in policy.subjects.items():
        for ref, table_action in subject.erasure.tables.items():
            for column, action in table_action.columns.items():
                place = f"subjects.{name}.erasure.tables.{ref}.columns.{column}"
                uses.setdefault((ref.store, action.operator), place)
    for store in dict.fromkeys(store for store, _ in uses):
        if store in check.unreachable or store not in policy.stores:
            continue
        engine = check.stores.engine(store)
        shape = ColumnShape("text", None, True)
        reported: set[str] = set()
        try:
            with engine.connect() as connection:
                for (used_in, name), place in uses.items():
                    if used_in != store:
                        continue
                    context = OperatorContext(dialect=engine.dialect.name, scope=place, column=shape)
                    try:
                        get_operator(name).ensure(connection, context)
                    except OperatorError as exc:
                        if str(exc) not in reported:  # hmac and noise need the same extension: say it once
                            reported.add(str(exc))
                            check.add("error", "missing-extension", place, str(exc))
        except SQLAlchemyError as exc:
            check.add(
                "error", "store-unreachable", f"stores.{store}", f"cannot check it ({type(exc).__name__})"
            )


def _check_activities(policy: Policy, check: SchemaCheck) -> None:
    for i, activity in enumerate(policy.activities):
        where = f"activities.{i}({activity.name})"
        if activity.consent:
            consent = activity.consent
            table = check.table(consent.table, f"{where}.consent")
            names = [consent.subject_column, consent.granted, consent.withdrawn]
            if consent.purpose_column:
                names.append(consent.purpose_column)
            if table is not None:
                check.columns(table, names, f"{where}.consent")
        if activity.processing:
            processing = activity.processing
            table = check.table(processing.table, f"{where}.processing")
            if table is not None:
                check.columns(table, [processing.subject_column, processing.at], f"{where}.processing")


def _check_consent(policy: Policy, check: SchemaCheck) -> None:
    """The consent table has every column the ``consent:`` block names; each purpose's tables their subject."""
    consent = policy.consent
    if consent is None:
        return
    table = check.table(consent.table, "consent")
    names = [consent.subject_column, consent.purpose_column, consent.granted, consent.withdrawn]
    if consent.notice_version:
        names.append(consent.notice_version)
    if table is not None:
        check.columns(table, names, "consent")
    for name, purpose in consent.purposes.items():
        for ref, spec in purpose.tables.items():
            where = f"consent.purposes.{name}.tables.{ref}"
            purpose_table = check.table(ref, where)
            if purpose_table is not None:
                check.columns(purpose_table, [spec.subject_column], where)


def _check_checks(policy: Policy, check: SchemaCheck) -> None:
    for i, k_check in enumerate(policy.checks.k_anonymity):
        where = f"checks.k_anonymity.{i}"
        table = check.table(k_check.table, where)
        if table is not None:
            check.columns(
                table,
                [*k_check.quasi_identifiers, *([k_check.sensitive] if k_check.sensitive else [])],
                where,
            )
    for i, e_check in enumerate(policy.checks.expectations):
        where = f"checks.expectations.{i}"
        table = check.table(e_check.table, where)
        column = e_check.kwargs.get("column")
        if table is not None and isinstance(column, str):
            check.columns(table, [column], where)


def _check_subject_graphs(policy: Policy, check: SchemaCheck) -> None:
    """Every table declared for a subject must be reachable from its identity table."""
    for name, subject in policy.subjects.items():
        if subject.store in check.unreachable:
            continue
        try:
            graph = build_graph(policy, check.stores, name)
        except LetheError as exc:
            check.add("error", "subject-graph", f"subjects.{name}", str(exc))
            continue
        for ref in unreachable(policy, graph):
            if ref.store in check.unreachable or ref.table not in check.stores.schema(ref.store).tables:
                continue  # reported already as an unreachable store or a missing table
            check.add(
                "error", "subject-unreachable", f"data_map.{ref}",
                f"declared for subject {name} but no foreign-key path (nor subject_column) leads from "
                f"{ref.table} to {subject.table}: exports and erasure would miss it",
            )  # fmt: skip


def require_valid(policy: Policy, stores: Stores) -> list[Finding]:
    """Validate and raise SchemaMismatchError listing every error; return the warnings otherwise."""
    findings = validate_policy(policy, stores)
    errors = [f for f in findings if f.severity == "error"]
    unreachable = [f.message for f in errors if f.code == "store-unreachable"]
    if unreachable:
        raise StoreError("\n".join(unreachable))  # exit 3, as a store is down, not the policy wrong
    if errors:
        raise SchemaMismatchError(
            "the policy does not fit the database:\n" + "\n".join(f"  {f.where}: {f.message}" for f in errors)
        )
    return findings
