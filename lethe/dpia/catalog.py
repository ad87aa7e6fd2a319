"""What the DPIA checks of one run read: the stores, each table's columns once, each rule's SQL once.

Reflection and the first query on a new connection are most of a check run's fixed cost, and a store that
cannot be reached would otherwise cost one connection timeout per check: it is asked once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

from lethe.errors import StoreError
from lethe.policy.model import Policy, RetentionRule, TableRef
from lethe.retention.sql import RuleSql, build_rule_sql
from lethe.settings import Settings
from lethe.stores.engines import Stores


class Catalog:
    """What the checks of one run read: the stores, each table reflected once, each rule's SQL built once."""

    def __init__(self, policy: Policy, stores: Stores, settings: Settings, as_of: datetime) -> None:
        self.policy, self.stores, self.settings, self.as_of = policy, stores, settings, as_of
        self._tables: dict[tuple[str, str], sa.TableClause] = {}
        self._rules: dict[str, RuleSql] = {}
        self._pinged: dict[str, str | None] = {}  # store -> why it cannot be reached (None: it can)

    def reachable(self, store: str) -> None:
        """Raise a StoreError when the store cannot be reached; asked once, as a dead host costs a timeout."""
        if store not in self._pinged:
            try:
                self.stores.ping(store)
                self._pinged[store] = None
            except StoreError as exc:
                self._pinged[store] = str(exc)
        problem = self._pinged[store]
        if problem is not None:
            raise StoreError(problem)

    def table(self, store: str, name: str) -> sa.TableClause:
        """The table with its column names, from the store's cached schema (SchemaMismatchError when missing).

        Names suffice: these checks compare columns with columns and count, and reflecting each table again
        would cost a round of catalog queries per check.
        """
        key = (store, name)
        if key not in self._tables:
            self.reachable(store)
            info = self.stores.table(TableRef(store=store, table=name))
            schema, _, _ = name.rpartition(".")
            columns: list[sa.ColumnClause[Any]] = [sa.column(c) for c in info.columns]
            self._tables[key] = sa.table(info.name, *columns, schema=schema or None)
        return self._tables[key]

    def rule_sql(self, rule: RetentionRule) -> RuleSql:
        """The retention engine's predicates of ``rule`` at the run's instant."""
        if rule.name not in self._rules:
            self.reachable(rule.table.store)
            self._rules[rule.name] = build_rule_sql(self.policy, self.stores, rule, self.as_of, self.settings)
        return self._rules[rule.name]

    def dialect(self, store: str) -> Dialect:
        """The SQL dialect of a store."""
        return self.stores.engine(store).dialect
