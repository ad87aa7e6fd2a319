"""The DPIA checks Lethe evaluates itself, reported in the same model: coverage and data localisation.

*Coverage* is the scan of ``lethe validate``: columns that look personal (by name or by a sample of their
values, which stays inside ``lethe.dpia.coverage``) but that the data map does not declare. *Localisation*
compares the stores that hold EU/EEA subjects' data (their identity tables and the data-map tables of
such subjects) with ``checks.allowed_regions``; a store with no declared region counts as outside, since
its location cannot be shown. A store outside that holds at least one such row fails the check.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from lethe.dpia.coverage import scan_coverage, undeclared
from lethe.dpia.sql import CheckDef, Outcome
from lethe.errors import StoreError
from lethe.policy.model import Policy
from lethe.stores.engines import Stores

# Jurisdictions whose subjects the GDPR protects where they are: the EU/EEA as a whole and its members.
EU_JURISDICTIONS = frozenset(
    {
        "EU", "EEA", "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "EL", "HU", "IE",
        "IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", "IS", "LI", "NO",
    }
)  # fmt: skip

COVERAGE = CheckDef(
    id="coverage:undeclared",
    title="Every personal-looking column is declared in the data map",
    kind="coverage",
    threshold="0 undeclared personal-looking columns",
)
LOCALISATION = CheckDef(
    id="localisation:regions",
    title="EU subjects' data stays in the allowed regions",
    kind="localisation",
    threshold="0 stores outside the allowed regions holding EU subjects' rows",
)


def coverage_check(policy: Policy, stores: Stores) -> Outcome:
    """Undeclared personal-looking columns of every store (names only, never values)."""
    findings = scan_coverage(policy, stores)
    gaps = undeclared(findings)
    observed: dict[str, int | float | None] = {
        "violations": len(gaps),
        "personal_looking_columns": len(findings),
        "declared": len(findings) - len(gaps),
    }
    definition = replace(COVERAGE, where=tuple(g.where for g in gaps))
    return Outcome(definition, "fail" if gaps else "pass", observed, "lethe", True)


def eu_tables(policy: Policy) -> dict[str, set[str]]:
    """Tables holding EU/EEA subjects' data, per store."""
    tables: dict[str, set[str]] = defaultdict(set)
    eu = {name for name, s in policy.subjects.items() if s.jurisdiction.upper() in EU_JURISDICTIONS}
    for name in eu:
        subject = policy.subjects[name]
        tables[subject.store].add(subject.table)
    for ref, table_map in policy.data_map.items():
        if table_map.subject in eu:
            tables[ref.store].add(ref.table)
    return tables


def localisation_check(policy: Policy, stores: Stores) -> Outcome | None:
    """Stores outside ``allowed_regions`` holding EU subjects' rows; None when no region is allowed."""
    allowed = set(policy.checks.allowed_regions)
    if not allowed:
        return None
    holding = eu_tables(policy)
    outside = sorted(s for s in holding if policy.stores[s].region not in allowed)
    failing: list[str] = []
    rows_outside = 0
    for store in outside:
        rows = sum(_rows(stores, store, table) for table in sorted(holding[store]))
        rows_outside += rows
        if rows:
            failing.append(f"{store} ({policy.stores[store].region or 'no region declared'})")
    observed: dict[str, int | float | None] = {
        "violations": len(failing),
        "stores_with_eu_data": len(holding),
        "stores_outside": len(outside),
        "rows_outside": rows_outside,
    }
    definition = replace(LOCALISATION, where=tuple(failing))
    return Outcome(definition, "fail" if failing else "pass", observed, "lethe", True)


def _rows(stores: Stores, store: str, name: str) -> int:
    """Rows of a table (its count only)."""
    schema, _, table = name.rpartition(".")
    try:
        with stores.engine(store).connect() as connection:
            query = sa.select(sa.func.count()).select_from(sa.table(table, schema=schema or None))
            return int(connection.execute(query).scalar_one())
    except SQLAlchemyError as exc:
        raise StoreError(f"store {store}: cannot count the rows of {name} ({type(exc).__name__})") from None
