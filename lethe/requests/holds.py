"""Open access requests hold retention: a subject's rows are not deleted or anonymised while it waits for them.

A controller must not erase data a subject has asked to see before answering (EDPB Guidelines 01/2022 on the
right of access: the data as they stand when the request is received). While a subject has an
open access (or portability) request in the register (``lethe.requests.register``), retention leaves every
row of that subject alone, in every table of its subject graph (``lethe.requests.subjects``), and counts
the rows as held, as it counts rows under a legal hold; once the request is answered (closed), the next run
handles them.

The register names subjects by keyed fingerprints, never by keys. The holds are found by fingerprinting the
keys of the identity table of each kind of subject with open requests (one pass, only when there are any)
and keeping those that match; the predicate then names the held keys as values, like erasure's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from lethe.crypto import fingerprinter
from lethe.errors import StoreError
from lethe.policy.model import Policy, RetentionRule
from lethe.requests.register import EXPORT_TYPES, REGISTER_TABLE, register_table, state_engine, type_name
from lethe.requests.subjects import SubjectGraph, build_graph
from lethe.settings import Settings
from lethe.stores.engines import Stores

_CHUNK = 10_000  # identity keys fingerprinted per query


def open_request_fingerprints(settings: Settings, types: Sequence[str] = EXPORT_TYPES) -> dict[str, set[str]]:
    """Per kind of subject, the fingerprints of subjects with an open request of ``types`` (the register's
    table is not created by looking)."""
    engine = state_engine(settings)
    table = register_table()
    query = sa.select(table.c.subject, table.c.subject_fingerprint).where(
        table.c.status == "open", table.c.type.in_(list(types))
    )
    try:
        if not sa.inspect(engine).has_table(REGISTER_TABLE):
            return {}
        with engine.connect() as connection:
            rows = connection.execute(query).all()
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot read {REGISTER_TABLE} ({type_name(exc)})") from None
    found: dict[str, set[str]] = {}
    for subject, fingerprint in rows:
        found.setdefault(subject, set()).add(fingerprint)
    return found


@dataclass
class AccessHolds:
    """The retention hold of subjects with open access requests (a ``lethe.retention.sql.RequestHold``)."""

    policy: Policy
    stores: Stores
    keys: Mapping[str, list[Any]]  # per kind of subject, the held identity keys (in memory only)
    _graphs: dict[str, SubjectGraph] = field(default_factory=dict)

    @property
    def subjects(self) -> int:
        """How many subjects are held."""
        return sum(len(k) for k in self.keys.values())

    def __call__(self, rule: RetentionRule, table: sa.Table) -> sa.ColumnElement[bool] | None:
        """Rows of ``table`` (the rule's) that belong to a held subject; None when none can."""
        held = []
        for subject, keys in self.keys.items():
            if not keys:
                continue
            if subject not in self._graphs:
                self._graphs[subject] = build_graph(self.policy, self.stores, subject)
            graph = self._graphs[subject]
            entry = graph.table(rule.table.store, rule.table.table)
            if entry is None:
                continue
            identity = graph.definition
            values: Any = keys
            if entry.by_value is not None:
                column = table.c[entry.by_value]
            elif not entry.hops:
                column = table.c[identity.key]
            else:
                column = table.c[entry.hops[0].column]
                values = self._path(entry.store, entry.hops, identity.key, keys)
            # NULL-safe: a row without a subject (NULL key) is nobody's, and NOT (NULL IN ...) would hide it
            # from the pending rows as well as from the held ones.
            held.append(sa.and_(column.is_not(None), column.in_(values)))
        return sa.or_(*held) if held else None

    def _path(self, store: str, hops: Sequence[Any], key: str, keys: list[Any]) -> Any:
        """The values ``hops[0].column`` takes for the held subjects: nested ``IN`` up to the identity table."""
        top = self.stores.sa_table(store, hops[-1].parent)
        values: sa.Select[Any] = sa.select(top.c[hops[-1].parent_column]).where(top.c[key].in_(keys))
        for i in range(len(hops) - 1, 0, -1):
            step = self.stores.sa_table(store, hops[i].table)
            values = sa.select(step.c[hops[i - 1].parent_column]).where(step.c[hops[i].column].in_(values))
        return values


def access_holds(policy: Policy, stores: Stores, settings: Settings) -> AccessHolds | None:
    """The hold of every subject with an open access or portability request; None when there is none."""
    wanted = {s: prints for s, prints in open_request_fingerprints(settings).items() if s in policy.subjects}
    if not wanted:
        return None
    master = settings.require_master_key()
    keys: dict[str, list[Any]] = {}
    for subject, prints in wanted.items():
        definition = policy.subjects[subject]
        table = stores.sa_table(definition.store, definition.table)
        column = table.c[definition.key]
        # Scoped like the register's fingerprints (lethe.requests.tracking.key_fingerprint).
        fingerprint = fingerprinter(master, f"{definition.store}.{definition.table}")
        found: list[Any] = []
        last = None
        try:
            with stores.engine(definition.store).connect() as connection:
                while len(found) < len(prints):
                    query = sa.select(column).order_by(column).limit(_CHUNK)
                    if last is not None:
                        query = query.where(column > last)
                    chunk = list(connection.execute(query).scalars())
                    found += [k for k in chunk if fingerprint(k) in prints]
                    if len(chunk) < _CHUNK:
                        break
                    last = chunk[-1]
        except SQLAlchemyError as exc:
            raise StoreError(
                f"store {definition.store}: cannot read {table.name} ({type_name(exc)})"
            ) from None
        keys[subject] = found
    return AccessHolds(policy, stores, keys)
