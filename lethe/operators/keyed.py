"""What the operators computed from a keyed HMAC share: their keys, SQLite functions and PostgreSQL's pgcrypto."""

from __future__ import annotations

from typing import Any, ClassVar

import sqlalchemy as sa

from lethe.operators.base import ColumnKey, Operator, OperatorContext
from lethe.operators.dialects import (
    ensure_pgcrypto,
    ensure_row_binlog,
    is_mysql,
    register_sqlite_functions,
    sql_key,
)


class KeyedDigestOperator(Operator):
    """Base of ``hmac``, ``noise`` and ``fake``: their SQL needs HMAC-SHA256 inside the database."""

    keyed = True
    purpose: ClassVar[
        str
    ]  # the operator's part of its key derivation: ``lethe/{purpose}/{scope}|v{version}``

    @classmethod
    def keys(cls, ctx: OperatorContext) -> tuple[ColumnKey, ...]:
        """The column's key, named in SQL and bound per transaction."""
        return (sql_key(ctx.master_key, cls.purpose, ctx.scope, ctx.key_version),)

    @classmethod
    def prepare(cls, dbapi_connection: Any, ctx: OperatorContext) -> None:
        """On SQLite, register ``lethe_hmac`` and its companions."""
        if ctx.dialect == "sqlite":
            register_sqlite_functions(dbapi_connection)

    @classmethod
    def ensure(cls, connection: sa.Connection, ctx: OperatorContext) -> None:
        """On PostgreSQL, pgcrypto must be installed (and on the search_path); on MariaDB, a binary log
        must not record statements (it would copy the keys' pads with them)."""
        if ctx.dialect == "postgresql":
            ensure_pgcrypto(connection)
        elif is_mysql(ctx.dialect):
            ensure_row_binlog(connection)
