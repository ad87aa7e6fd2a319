"""Coverage: columns that look personal but that the data map does not declare.

Every table of every store is scanned (Lethe's own bookkeeping tables excepted): each column is judged by
its name and by a sample of its non-null values (``lethe.dpia.detectors.classify``). Sampled values stay in this
function's locals: the findings carry counts, a kind and a suggested category, never a value.

Samples come from the first and the last ``SAMPLE_WINDOW`` rows of a table only: looking for non-null values
without that bound would read a mostly-NULL column's whole table, on every column of every table, each week.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from lethe.dpia.detectors.classify import classify_column
from lethe.dpia.detectors.kinds import SUGGESTED_CATEGORY
from lethe.errors import StoreError
from lethe.policy.model import Policy, TableRef
from lethe.policy.urls import safe_url
from lethe.stores.engines import Stores
from lethe.stores.schema import TableInfo

INTERNAL_PREFIX = "lethe_"
DEFAULT_SAMPLE = 200
SAMPLE_WINDOW = 10_000  # rows read per column at most


@dataclass(frozen=True)
class CoverageFinding:
    """A column that looks personal, and whether the data map declares it."""

    store: str
    table: str
    column: str
    kind: str
    suggested_category: str
    evidence: str
    confidence: float
    matched: int
    sampled: int
    declared: bool

    @property
    def where(self) -> str:
        """``store.table.column``."""
        return f"{self.store}.{self.table}.{self.column}"


def _declared_columns(policy: Policy) -> set[tuple[str, str, str]]:
    declared: set[tuple[str, str, str]] = set()
    for ref, table_map in policy.data_map.items():
        table = ref.table.rpartition(".")[2]
        for column in table_map.columns:
            declared.add((ref.store, table, column))
    # A subject's key and lookup identifiers are personal by definition and declared by `subjects:`.
    for subject in policy.subjects.values():
        for column in (subject.key, *subject.lookup):
            declared.add((subject.store, subject.table, column))
    return declared


def _sample(connection: sa.Connection, table: TableInfo, column: str, size: int, window: int) -> list[object]:
    """Up to ``size`` non-null values of a column among the first ``window`` rows of its table, and the last.

    The last rows (by a single-column primary key) matter: a column added later is NULL in older rows and
    holds values only in new ones. Rows both windows read are counted once.
    """
    key = table.primary_key[0] if len(table.primary_key) == 1 and table.primary_key[0] != column else None
    t = sa.table(table.name, sa.column(column), *([sa.column(key)] if key else []))
    picked = [t.c[key]] if key else [sa.literal(None).label("k")]
    values: dict[object, object] = {}
    windows = [sa.select(*picked, t.c[column]).limit(window)]
    if key:
        windows.append(sa.select(*picked, t.c[column]).order_by(t.c[key].desc()).limit(window))
    for n, rows in enumerate(windows):
        if len(values) >= size:
            break
        head = rows.subquery(f"w{n}")
        query = sa.select(*head.c).where(head.c[column].is_not(None)).limit(size)
        for row_key, value in connection.execute(query).tuples():
            values.setdefault(row_key if key else len(values), value)
    return list(values.values())[:size]


def scan_coverage(
    policy: Policy, stores: Stores, *, sample_size: int = DEFAULT_SAMPLE, sample_window: int = SAMPLE_WINDOW
) -> list[CoverageFinding]:
    """Personal-looking columns of every store, declared or not, ordered by store, table, column."""
    declared = _declared_columns(policy)
    findings: list[CoverageFinding] = []
    for store in policy.stores:
        schema = stores.schema(store)
        engine = stores.engine(store)
        try:
            with engine.connect() as connection:
                for table in schema.tables.values():
                    if table.name.startswith(INTERNAL_PREFIX):
                        continue
                    for column in table.columns.values():
                        values = (
                            _sample(connection, table, column.name, sample_size, sample_window)
                            if sample_size
                            else []
                        )
                        detection = classify_column(column.name, column.kind, values)
                        del values  # the values go no further than this loop
                        if detection is None:
                            continue
                        findings.append(
                            CoverageFinding(
                                store=store,
                                table=table.name,
                                column=column.name,
                                kind=str(detection.kind),
                                suggested_category=SUGGESTED_CATEGORY[detection.kind],
                                evidence=detection.evidence,
                                confidence=round(detection.confidence, 2),
                                matched=detection.matched,
                                sampled=detection.sampled,
                                declared=(store, table.name, column.name) in declared,
                            )
                        )
        except SQLAlchemyError as exc:
            raise StoreError(
                f"store {store}: cannot sample {safe_url(engine.url)} ({exc.__class__.__name__})"
            ) from None
    return findings


def undeclared(findings: list[CoverageFinding]) -> list[CoverageFinding]:
    """The findings the data map does not cover."""
    return [f for f in findings if not f.declared]


def table_ref(finding: CoverageFinding) -> TableRef:
    """The ``store.table`` of a finding."""
    return TableRef(store=finding.store, table=finding.table)
