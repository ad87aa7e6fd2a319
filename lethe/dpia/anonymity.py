"""The k-anonymity and l-diversity checks: exact, computed in SQL over the declared quasi-identifiers.

Rows sharing every quasi-identifier form an equivalence class (NULL is a value like any other, as in
``GROUP BY``). k is the size of the smallest class, l the smallest number of distinct sensitive values in a
class. The queries return counts only: how many classes break the threshold, the measured k or l, how
many classes there are and how many rows sit in classes that are too small, never a class's values.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.sql.selectable import NamedFromClause

from lethe.dpia.catalog import Catalog
from lethe.dpia.sql import BATCH_ALIAS, CheckDef, QueryCheck, batch_query, column_of, sum_if
from lethe.policy.model import KAnonymityCheck


def k_anonymity_def(check: KAnonymityCheck) -> CheckDef:
    """The k-anonymity check of a table."""
    return CheckDef(
        id=f"k_anonymity:{check.table}",
        title=f"{check.table}: k-anonymity over {', '.join(check.quasi_identifiers)}",
        kind="k_anonymity",
        threshold=f"k >= {check.k}",
        where=tuple(f"{check.table}.{q}" for q in check.quasi_identifiers),
    )


def l_diversity_def(check: KAnonymityCheck) -> CheckDef:
    """The l-diversity check of a table."""
    return CheckDef(
        id=f"l_diversity:{check.table}",
        title=f"{check.table}: l-diversity of {check.sensitive} over {', '.join(check.quasi_identifiers)}",
        kind="l_diversity",
        threshold=f"l >= {check.l}",
        where=(f"{check.table}.{check.sensitive}",),
    )


def _groups(catalog: Catalog, check: KAnonymityCheck, measure: str) -> tuple[NamedFromClause, sa.Subquery]:
    what = f"k_anonymity.{check.table}"
    table = catalog.table(check.table.store, check.table.table)
    batch = table.alias(BATCH_ALIAS)
    qis = [column_of(batch, q, what) for q in check.quasi_identifiers]
    if measure == "size":
        size = sa.func.count().label("size")
    else:
        assert check.sensitive is not None
        size = sa.func.count(sa.distinct(column_of(batch, check.sensitive, what))).label("size")
    return batch, sa.select(size).select_from(batch).group_by(*qis).subquery("g")


def k_anonymity_check(catalog: Catalog, check: KAnonymityCheck) -> QueryCheck:
    """Classes smaller than k, the smallest class (measured k), the number of classes and rows at risk."""
    batch, groups = _groups(catalog, check, "size")
    small = groups.c.size < check.k
    statement = sa.select(
        sum_if(small).label("violations"),
        sa.func.min(groups.c.size).label("measured_k"),
        sa.func.count().label("classes"),
        sum_if(small, groups.c.size).label("rows_in_small_classes"),
    ).select_from(groups)
    query = batch_query(statement, batch, catalog.dialect(check.table.store))
    return QueryCheck(k_anonymity_def(check), check.table.store, check.table.table, query)


def l_diversity_check(catalog: Catalog, check: KAnonymityCheck) -> QueryCheck:
    """Classes with fewer than l distinct sensitive values, and the smallest such count (measured l)."""
    assert check.l is not None
    batch, groups = _groups(catalog, check, "distinct")
    statement = sa.select(
        sum_if(groups.c.size < check.l).label("violations"),
        sa.func.min(groups.c.size).label("measured_l"),
        sa.func.count().label("classes"),
    ).select_from(groups)
    query = batch_query(statement, batch, catalog.dialect(check.table.store))
    return QueryCheck(l_diversity_def(check), check.table.store, check.table.table, query)
