"""A retention run: one policy at one instant, its stores, keys and ledger, and what its rules share.

``plan_rule`` (``lethe.retention.plan``) counts and changes nothing; ``enforce_rule``
(``lethe.retention.enforce``) deletes or anonymises in batches. Both take a ``RetentionRun``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError

from lethe.errors import LetheError, SchemaMismatchError, StoreError, TransientStoreError
from lethe.ledger.chain import Ledger
from lethe.operators.apply import prepare_rewrites
from lethe.policy.model import Policy, RetentionRule
from lethe.retention.sql import RequestHold, RuleSql
from lethe.settings import Settings
from lethe.stores.engines import Stores

DEFAULT_BATCH_SIZE = 5000
Progress = Callable[[int, int], None]


@dataclass
class RetentionRun:
    """One run over a policy: its id, instant, stores, keys and ledger."""

    policy: Policy
    stores: Stores
    settings: Settings
    as_of: datetime
    ledger: Ledger | None = None
    run_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    flow: str = "retention"
    # Rows held back besides the rules' hold flags: subjects with an open access request (lethe.requests.holds).
    holds: RequestHold | None = None

    def __post_init__(self) -> None:
        if self.as_of.tzinfo is None:
            raise LetheError("as_of must be timezone-aware (e.g. 2026-11-25T00:00:00+00:00)")
        if self.ledger is not None:
            # Before any rule touches data: a master key other than the registered one for its version
            # (LETHE_KEY_VERSION) is refused with KeyChangedError (lethe.ledger.keys).
            self.ledger.check_keys()

    def rules(self, names: Sequence[str] | None = None) -> list[RetentionRule]:
        """The policy's rules, or the named subset in policy order; unknown names are an error."""
        if not names:
            return list(self.policy.retention)
        known = {r.name for r in self.policy.retention}
        unknown = sorted(set(names) - known)
        if unknown:
            raise SchemaMismatchError(
                f"unknown retention rule(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        return [r for r in self.policy.retention if r.name in set(names)]


def rows_per_batch(rule: RetentionRule, override: int | None) -> int:
    """Rows per batch as a plan estimates batches: the override, else the rule's ``batch_size``, else the
    default (enforcing adapts its spans when neither is set: ``lethe.retention.spans``)."""
    return override or rule.batch_size or DEFAULT_BATCH_SIZE


def store_error(rule: RetentionRule, what: str, exc: SQLAlchemyError) -> StoreError:
    """A driver error as a StoreError naming the rule (transient when another attempt may succeed)."""
    # The driver's own message may quote values (e.g. "Key (email)=(...) already exists"): keep its class only.
    detail = type(getattr(exc, "orig", None) or exc).__name__
    transient = isinstance(exc, OperationalError) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    )
    kind = TransientStoreError if transient else StoreError
    return kind(f"retention.{rule.name}: {what} failed ({detail})")


def prepare_operators(connection: sa.Connection, sql: RuleSql) -> None:
    """Let operators prepare the transaction: SQLite functions, pgcrypto, the keys their SQL names."""
    prepare_rewrites(connection, sql.rewrites)
