"""What an export reads: each table of the subject's graph, how to read it, and the rows themselves.

``plan_export`` reflects the subject's tables once and prepares their statements, JSON Schemas and value
converters, so the requests of one run share it; ``collect_rows`` reads one subject's rows per table in one
snapshot per store. Values become JSON-safe here (decimals exact, instants in UTC, bytes in base64).
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, tzinfo
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from lethe.errors import StoreError
from lethe.policy.model import Policy, TableRef
from lethe.requests.export.schema import json_schema, object_schema, value_schema
from lethe.requests.subjects import SubjectQueries, SubjectTable, build_graph, unreachable
from lethe.stores.engines import Stores
from lethe.stores.schema import ForeignKey, type_kind

CHUNK = 500  # rows per fetchmany; no server-side cursor: it doubles a per-subject read's time on PostgreSQL
Rows = list[list[Any]]  # one table's rows of the subject, JSON-safe values in column order


@dataclass(frozen=True)
class TablePlan:
    """How to read and describe one table of the subject: worked out once, used for every request."""

    store: str
    name: str  # store.table
    columns: list[str]
    row_schema: dict[str, Any]  # JSON Schema of one row
    primary_key: list[str]
    references: list[dict[str, Any]]
    converters: list[Callable[[Any], Any]]
    statement: sa.Select[Any]  # the rows of the subject whose key is bound to ``key``


@dataclass(frozen=True)
class ExportPlan:
    """What exports of one kind of subject read; reusable across the requests of a run."""

    subject: str
    tables: list[TablePlan]
    other_subjects: list[str]  # reached only through another kind of subject's table: left out
    unreachable: list[str]  # declared for the subject, not reached by the graph
    schema: str  # data.schema.json


def _jsonable(value: Any, zone: tzinfo) -> Any:
    """A JSON-safe form of a database value."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Decimal):
        return format(value, "f")  # exact, never in exponent notation
    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=zone)
        return moment.astimezone(UTC).isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    return str(value)  # UUID, interval, enum member...


def _converter(column: sa.Column[Any], zone: tzinfo) -> Callable[[Any], Any]:
    if type_kind(column.type) == "boolean":
        # MariaDB returns BOOLEAN (TINYINT(1)) as 0/1; export true/false on every engine.
        return lambda v: bool(v) if isinstance(v, int) else _jsonable(v, zone)
    return lambda v: _jsonable(v, zone)


def _reference(store: str, fk: ForeignKey) -> dict[str, Any]:
    return {
        "columns": list(fk.columns),
        "table": f"{store}.{fk.ref_table}",
        "ref_columns": list(fk.ref_columns),
    }


def _table_plan(policy: Policy, stores: Stores, queries: SubjectQueries, entry: SubjectTable) -> TablePlan:
    columns, info = list(queries.table(entry).columns), stores.table(entry.ref)
    zone = ZoneInfo(policy.stores[entry.store].timezone)
    return TablePlan(
        store=entry.store,
        name=str(entry.ref),
        columns=[c.name for c in columns],
        row_schema=object_schema({c.name: value_schema(c) for c in columns}),
        primary_key=list(info.primary_key),
        references=[_reference(entry.store, fk) for fk in info.foreign_keys],
        converters=[_converter(c, zone) for c in columns],
        statement=queries.rows_of(entry, sa.bindparam("key")),
    )


def filtered_table_plan(policy: Policy, stores: Stores, ref: TableRef, column: str) -> TablePlan:
    """How to read every row of ``ref`` whose ``column`` equals the bound ``key`` (e.g. one controller's)."""
    table, info = stores.sa_table(ref.store, ref.table), stores.table(ref)
    columns = list(table.columns)
    zone = ZoneInfo(policy.stores[ref.store].timezone)
    order = list(table.primary_key.columns) or columns
    return TablePlan(
        store=ref.store,
        name=str(ref),
        columns=[c.name for c in columns],
        row_schema=object_schema({c.name: value_schema(c) for c in columns}),
        primary_key=list(info.primary_key),
        references=[_reference(ref.store, fk) for fk in info.foreign_keys],
        converters=[_converter(c, zone) for c in columns],
        statement=sa.select(*columns).where(table.c[column] == sa.bindparam("key")).order_by(*order),
    )


def tables_plan(name: str, tables: list[TablePlan]) -> ExportPlan:
    """An export plan of the given tables (not one subject's graph), its JSON Schema titled ``name``."""
    return ExportPlan(
        subject=name,
        tables=tables,
        other_subjects=[],
        unreachable=[],
        schema=json.dumps(json_schema(name, tables), ensure_ascii=False, indent=1) + "\n",
    )


def plan_export(policy: Policy, stores: Stores, subject: str) -> ExportPlan:
    """Reflect the subject's tables once and prepare their statements, schemas and converters."""
    queries = SubjectQueries(build_graph(policy, stores, subject), stores)
    tables = [_table_plan(policy, stores, queries, entry) for entry in queries.graph.tables]
    return ExportPlan(
        subject=subject,
        tables=tables,
        other_subjects=[str(ref) for ref in queries.graph.other_subjects],
        unreachable=[str(ref) for ref in unreachable(policy, queries.graph)],
        schema=json.dumps(json_schema(subject, tables), ensure_ascii=False, indent=1) + "\n",
    )


def collect_rows(stores: Stores, plan: ExportPlan, key: Any) -> list[Rows]:
    """The rows of the subject with ``key``, per table of the plan, fetched in chunks."""
    collected: list[Rows] = []
    with ExitStack() as stack:
        connections: dict[str, sa.Connection] = {}  # one per store
        for t in plan.tables:
            rows: Rows = []
            try:
                if t.store not in connections:
                    connection = stack.enter_context(stores.engine(t.store).connect())
                    if connection.dialect.name != "sqlite":
                        # One snapshot for all tables, so an order and its lines agree.
                        connection.execution_options(isolation_level="REPEATABLE READ")
                    connections[t.store] = connection
                result = connections[t.store].execute(t.statement, {"key": key})
                for chunk in result.partitions(CHUNK):
                    rows += ([to(v) for to, v in zip(t.converters, row, strict=True)] for row in chunk)
            except SQLAlchemyError as exc:
                # Driver messages can quote the subject's key: keep the class only.
                raise StoreError(f"cannot read {t.name} ({type(exc).__name__})") from None
            collected.append(rows)
    return collected
