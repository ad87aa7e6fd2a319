"""SQL pieces several operators share, one version per dialect, each matching a Python twin bit for bit.

The central one is the HMAC-SHA256 hex digest of a text value (``hmac_hex_sql`` / ``hmac_hex``): hmac, noise
and fake all derive their output from it. Per dialect:

* PostgreSQL: pgcrypto's ``hmac(convert_to(value, 'UTF8'), key, 'sha256')``, hex-encoded.
* MariaDB (no HMAC builtin): RFC 2104 spelled out with ``SHA2``, the key's inner and outer pads computed in
  Python and bound as binary parameters.
* SQLite: Python functions registered on the connection (``register_sqlite_functions``), in-process.

Keys reach the database as bound parameters: a server logging statements with their parameters would log
them, so such logging must stay off on stores Lethe anonymises.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from lethe.crypto import derive_key
from lethe.errors import OperatorError, SettingsError
from lethe.operators.base import Expression

MYSQL_DIALECTS = frozenset({"mysql", "mariadb"})
# Between the text forms of a composite key's columns: a control character no real key text contains.
KEY_SEPARATOR = "\x1f"
_SHA256_BLOCK = 64

# A SQLite scalar function: (number of arguments, implementation).
SqliteFunction = tuple[int, Callable[..., Any]]


def is_mysql(dialect: str) -> bool:
    """True for MariaDB (SQLAlchemy names it ``mysql`` with the pymysql driver, ``mariadb`` otherwise)."""
    return dialect in MYSQL_DIALECTS


def column_key(master_key: bytes | None, purpose: str, scope: str, key_version: int) -> bytes:
    """The key of one operator (``purpose``) on one column and key version: HKDF of the master key."""
    if master_key is None:
        raise SettingsError("LETHE_MASTER_KEY is not set: the hmac, noise and fake operators need it")
    return derive_key(master_key, f"lethe/{purpose}/{scope}|v{key_version}")


# ------------------------------------------------------------------------------------------------ Python twins


def hmac_hex(key: bytes, text: str) -> str:
    """Lower-case hex HMAC-SHA256 of the UTF-8 bytes of ``text``: what ``hmac_hex_sql`` computes."""
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()


def key_text(values: Sequence[Any]) -> str:
    """Canonical text of a primary key: each column's ``str()``, joined by ``KEY_SEPARATOR``."""
    if any(value is None for value in values):
        raise OperatorError("a primary-key value is NULL: noise needs a complete key to seed its offset")
    return KEY_SEPARATOR.join(str(value) for value in values)


# ----------------------------------------------------------------------------------------------- SQL pieces


class Utf8Bytes(FunctionElement[bytes]):
    """The UTF-8 bytes of a text expression, whatever the column's character set."""

    type = sa.LargeBinary()
    name = "utf8_bytes"
    inherit_cache = True


@compiles(Utf8Bytes, "postgresql")
def _utf8_bytes_postgresql(element: Utf8Bytes, compiler: SQLCompiler, **kw: Any) -> str:
    return f"convert_to({compiler.process(element.clauses, **kw)}, 'UTF8')"


@compiles(Utf8Bytes, "mysql")
@compiles(Utf8Bytes, "mariadb")
def _utf8_bytes_mysql(element: Utf8Bytes, compiler: SQLCompiler, **kw: Any) -> str:
    # CONVERT first: a latin1 or utf8mb3 column must hash the same bytes as Python's str.encode("utf-8").
    return f"CAST(CONVERT({compiler.process(element.clauses, **kw)} USING utf8mb4) AS BINARY)"


def _pads(key: bytes) -> tuple[bytes, bytes]:
    """HMAC's inner and outer padded keys (RFC 2104), for a key no longer than SHA-256's block."""
    if len(key) > _SHA256_BLOCK:
        raise OperatorError("HMAC keys longer than 64 bytes are not supported in SQL")
    padded = key.ljust(_SHA256_BLOCK, b"\x00")
    return bytes(b ^ 0x36 for b in padded), bytes(b ^ 0x5C for b in padded)


def hmac_hex_sql(dialect: str, value: Expression, key: bytes, length: int = 64) -> Expression:
    """The first ``length`` lower-case hex characters of HMAC-SHA256(key, UTF-8 of ``value``); NULL stays NULL."""
    if dialect == "postgresql":
        mac = sa.func.hmac(Utf8Bytes(value), sa.literal(key, sa.LargeBinary), sa.literal_column("'sha256'"))
        digest: Expression = sa.func.encode(mac, sa.literal_column("'hex'"), type_=sa.Text)
    elif is_mysql(dialect):
        ipad, opad = _pads(key)
        inner = sa.func.sha2(sa.func.concat(sa.literal(ipad, sa.LargeBinary), Utf8Bytes(value)), 256)
        outer = sa.func.concat(sa.literal(opad, sa.LargeBinary), sa.func.unhex(inner))
        digest = sa.func.sha2(outer, 256, type_=sa.Text)  # SHA2 returns lower-case hex
    elif dialect == "sqlite":
        return sa.func.lethe_hmac(value, sa.literal(key.hex()), length, type_=sa.Text)
    else:
        raise OperatorError(f"no HMAC in SQL for dialect {dialect!r}")
    return digest if length == 64 else sa.func.substr(digest, 1, length, type_=sa.Text)


def hex_int_sql(dialect: str, hex_text: Expression) -> Expression:
    """The unsigned integer written by a hex string of at most 8 characters (as a BIGINT)."""
    if dialect == "postgresql":
        # 'x' || '00ff12ab' reads as a bit string; 32 bits cast to int8 are never negative.
        bits = sa.cast(sa.literal("x", sa.Text).concat(hex_text), postgresql.BIT(32))
        return sa.cast(bits, sa.BigInteger)
    if is_mysql(dialect):
        return sa.cast(sa.func.conv(hex_text, 16, 10), sa.BigInteger)  # CAST(... AS SIGNED INTEGER)
    if dialect == "sqlite":
        return sa.func.lethe_hex_int(hex_text, type_=sa.BigInteger)
    raise OperatorError(f"no hex parsing in SQL for dialect {dialect!r}")


def key_text_sql(key: Sequence[Expression]) -> Expression:
    """Canonical text of the primary key in SQL: the twin of ``key_text`` for integer and text keys."""
    if not key:
        raise OperatorError("noise needs the table's primary key to seed its offsets")
    parts = [part if isinstance(part.type, sa.String) else sa.cast(part, sa.String) for part in key]
    text = parts[0]
    for part in parts[1:]:
        text = text.concat(sa.literal(KEY_SEPARATOR, sa.String)).concat(part)
    return text


def char_length_sql(dialect: str, value: Expression) -> Expression:
    """Length of a text in characters (not bytes) on every dialect."""
    if dialect == "sqlite":
        return sa.func.length(value, type_=sa.Integer)  # characters for TEXT values
    return sa.func.char_length(value, type_=sa.Integer)


def position_sql(dialect: str, needle: str, value: Expression) -> Expression:
    """1-based position of ``needle`` in ``value`` (0 when absent)."""
    if dialect == "postgresql":
        return sa.func.strpos(value, sa.literal(needle, sa.Text), type_=sa.Integer)
    return sa.func.instr(value, sa.literal(needle, sa.String), type_=sa.Integer)  # MariaDB and SQLite


def pick_sql(dialect: str, pool: Sequence[str], index: Expression) -> Expression:
    """Element ``index`` (0-based) of a pool of strings, passed as one ``|``-separated parameter."""
    joined = sa.literal("|".join(pool), sa.Text)
    position = index + 1
    if dialect == "postgresql":
        return sa.func.split_part(joined, "|", sa.cast(position, sa.Integer), type_=sa.Text)
    if is_mysql(dialect):
        upto = sa.func.substring_index(joined, "|", position)
        return sa.func.substring_index(upto, "|", -1, type_=sa.Text)
    raise OperatorError(f"no pool lookup in SQL for dialect {dialect!r}")


# ------------------------------------------------------------------------------------------------- database


def ensure_pgcrypto(connection: sa.Connection) -> None:
    """Raise a clear error unless pgcrypto's ``hmac(bytea, bytea, text)`` can be called unqualified."""
    found = connection.execute(
        sa.text("SELECT to_regprocedure('hmac(bytea,bytea,text)') IS NOT NULL")
    ).scalar()
    if found:
        return
    schema = connection.execute(
        sa.text(
            "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
            " WHERE e.extname = 'pgcrypto'"
        )
    ).scalar()
    database = connection.execute(sa.text("SELECT current_database()")).scalar()
    if schema is None:
        raise OperatorError(
            f"PostgreSQL database {database!r} lacks the pgcrypto extension (hmac, noise and fake compute "
            "HMACs with it): run `CREATE EXTENSION pgcrypto;` in it as a user allowed to create extensions "
            "there (a superuser, or since PostgreSQL 13 any user with CREATE on the database: pgcrypto is a "
            "trusted extension), or set `tokens: in_process` on the store to compute the tokens in Lethe"
        )
    raise OperatorError(
        f"pgcrypto is installed in schema {schema!r} of database {database!r}, which is not on the "
        f"search_path: add it (ALTER ROLE ... SET search_path) or reinstall the extension in a schema on it"
    )


def _sqlite_hmac(value: Any, key_hex: str, length: int) -> str | None:
    """SQLite's ``lethe_hmac(value, key_hex, length)``: the twin of ``hmac_hex_sql``."""
    if value is None:
        return None
    return hmac_hex(bytes.fromhex(key_hex), str(value))[:length]


def _sqlite_hex_int(text: str | None) -> int | None:
    """SQLite's ``lethe_hex_int(text)``: the unsigned integer a hex string writes."""
    return None if text is None else int(text, 16)


_SHARED_SQLITE_FUNCTIONS: dict[str, SqliteFunction] = {
    "lethe_hmac": (3, _sqlite_hmac),
    "lethe_hex_int": (1, _sqlite_hex_int),
}


def register_sqlite_functions(
    dbapi_connection: Any, extra: Mapping[str, SqliteFunction] | None = None
) -> None:
    """Register the shared SQLite functions and ``extra`` on a raw sqlite3 connection; idempotent."""
    wanted = {**_SHARED_SQLITE_FUNCTIONS, **(extra or {})}
    # Registering again is harmless except while a statement runs, when SQLite refuses: skip known names.
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("SELECT name FROM pragma_function_list WHERE name LIKE 'lethe_%'")
        present = {row[0] for row in cursor.fetchall()}
    finally:
        cursor.close()
    for name, (arity, function) in wanted.items():
        if name not in present:
            dbapi_connection.create_function(name, arity, function, deterministic=True)
