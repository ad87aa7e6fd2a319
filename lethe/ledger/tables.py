"""The ledger's tables: entries, the head row that closes the chain, and the registry of keys in use.

Kept apart from ``lethe.ledger.chain`` (which writes them) so the key registry (``lethe.ledger.keys``) can
use them without importing the chain back.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Dialect

from lethe.ledger.entry import LIMITS

KEY_ID_CHARS = 16  # lethe.crypto.key_id: 8 bytes in hex


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Timestamps stored in UTC; naive values read back (SQLite, MariaDB) are UTC by construction."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        """Microsecond precision on MySQL/MariaDB, whose DATETIME drops fractions by default."""
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(sa.DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Convert to UTC; drop the zone where the column cannot keep it."""
        if value is None:
            return None
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name in ("sqlite", "mysql", "mariadb") else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Always hand back an aware UTC datetime."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = sa.MetaData()
ledger_table = sa.Table(
    "lethe_ledger",
    metadata,
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("recorded_at", UTCDateTime, nullable=False),
    sa.Column("run_id", sa.String(LIMITS["run_id"]), nullable=False, index=True),
    sa.Column("flow", sa.String(LIMITS["flow"]), nullable=False),
    sa.Column("policy_hash", sa.String(LIMITS["policy_hash"]), nullable=False),
    sa.Column("rule", sa.String(LIMITS["rule"]), nullable=True),
    sa.Column("action", sa.String(LIMITS["action"]), nullable=False),
    sa.Column("outcome", sa.String(LIMITS["outcome"]), nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("ended_at", UTCDateTime, nullable=False),
    # LONGTEXT on MariaDB: its TEXT stops at 64 KiB, less than an entry with many fingerprints.
    sa.Column("body", sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb"), nullable=False),
    sa.Column("mac", sa.CHAR(64), nullable=False),
    # Binary collation: MariaDB's default one would make the run id filter case-insensitive.
    mysql_charset="utf8mb4",
    mysql_collate="utf8mb4_bin",
)
head_table = sa.Table(
    "lethe_ledger_head",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("mac", sa.CHAR(64), nullable=False),
    sa.Column("head_mac", sa.CHAR(64), nullable=False),
    mysql_charset="utf8mb4",
)
keys_table = sa.Table(
    "lethe_keys",
    metadata,
    # "master" (LETHE_MASTER_KEY, one row per LETHE_KEY_VERSION) or "ledger" (LETHE_LEDGER_KEY, version 1).
    sa.Column("kind", sa.String(16), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("key_id", sa.CHAR(KEY_ID_CHARS), nullable=False),
    sa.Column("first_seen", UTCDateTime, nullable=False),
    sa.Column("declared", sa.String(255), nullable=False),  # "first use" or "rotation from version N"
    sa.Column("mac", sa.CHAR(64), nullable=False),  # under the ledger key: the registry cannot be edited
    mysql_charset="utf8mb4",
    mysql_collate="utf8mb4_bin",
)
# The ledger-side copy of each journal row that holds leaves (``lethe.ledger.copies``): a store restored from a
# backup loses its newer journal rows, and replaying them (``lethe replay``) needs their leaves.
leaves_table = sa.Table(
    "lethe_leaves",
    metadata,
    sa.Column("ref", sa.String(200), primary_key=True),  # the journal reference (store:id:uid)
    sa.Column("store", sa.String(100), nullable=False, index=True),
    sa.Column("created_at", UTCDateTime, nullable=False, index=True),  # the journal row's
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("flow", sa.String(100), nullable=False),
    sa.Column("rule", sa.String(100), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("policy_hash", sa.String(64), nullable=False),
    sa.Column("table_counts", sa.Text(), nullable=True),
    sa.Column("key_id", sa.String(32), nullable=True),
    sa.Column("leaf_count", sa.Integer, nullable=False),
    sa.Column("root", sa.LargeBinary(), nullable=True),
    sa.Column("leaves", sa.LargeBinary().with_variant(mysql.LONGBLOB(), "mysql", "mariadb"), nullable=False),
    # The journal body: a batch's counts and span fingerprints, or a request's whole ledger entry.
    sa.Column("body", sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb"), nullable=False),
    mysql_charset="utf8mb4",
    mysql_collate="utf8mb4_bin",
)
