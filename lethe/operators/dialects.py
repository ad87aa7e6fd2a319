"""SQL pieces several operators share, one version per dialect, each matching a Python twin bit for bit.

The central one is the HMAC-SHA256 hex digest of a text value (``hmac_hex_sql`` / ``hmac_hex``): hmac, noise
and fake all derive their output from it. Per dialect:

* PostgreSQL: pgcrypto's ``hmac(convert_to(value, 'UTF8'), key, 'sha256')``, hex-encoded.
* MariaDB (no HMAC builtin): RFC 2104 spelled out with ``SHA2``, the key's inner and outer pads computed in
  Python.
* SQLite: Python functions registered on the connection (``register_sqlite_functions``), in-process.

Keys never appear in the text or the parameters of the statements that rewrite rows, which can run for
seconds and show in activity views and slow logs. Those statements *name* a key (``ColumnKey.name``, a hash
of its purpose, column and version: not secret); ``bind_keys`` gives the names their values once per
transaction, in one short statement of its own: PostgreSQL ``set_config('lethe.k_<name>', hex, true)``
(transaction-local, read back with ``current_setting``), MariaDB user variables ``@lethe_k_<name>_i`` and
``_o`` (the pads; set to NULL again when the transaction ends), SQLite a dictionary in the Lethe process.
docs/threat-model.md says who can still see that short statement, and when to compute tokens in the Lethe
process instead (``tokens: in_process``).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import suppress
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from lethe.crypto import derive_key
from lethe.errors import OperatorError, SettingsError
from lethe.operators.base import ColumnKey, Expression

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


def sql_key(master_key: bytes | None, purpose: str, scope: str, key_version: int) -> ColumnKey:
    """``column_key`` with the name statements use for it: a hash of what it is for, never of the key."""
    info = f"lethe/{purpose}/{scope}|v{key_version}"
    name = hashlib.sha256(info.encode("utf-8")).hexdigest()[:16]
    return ColumnKey(name, column_key(master_key, purpose, scope, key_version))


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


def _pg_key(key: ColumnKey) -> Expression:
    """The key bound for this transaction on PostgreSQL, read once per statement (an InitPlan)."""
    setting = sa.func.current_setting(sa.literal_column(f"'lethe.k_{key.name}'"), sa.true(), type_=sa.Text)
    # Once a transaction that set it has ended the setting reads '': fail (not hex) instead of hashing
    # with an empty key.
    hex_text = sa.func.coalesce(
        sa.func.nullif(setting, sa.literal_column("''")), sa.literal_column("'unbound'")
    )
    return sa.select(
        sa.func.decode(hex_text, sa.literal_column("'hex'"), type_=sa.LargeBinary)
    ).scalar_subquery()


def _mysql_var(key: ColumnKey, pad: str) -> Expression:
    """A pad bound for this transaction on MariaDB (``pad``: ``i`` inner, ``o`` outer)."""
    return sa.literal_column(f"@lethe_k_{key.name}_{pad}", sa.LargeBinary)


def _mysql_sha256_bits(key: ColumnKey) -> Expression:
    """256, SHA2's digest size, or an error when the pads are unbound (NULL pads would hash to NULL)."""
    return sa.literal_column(f"256 + 0 * EXP(1000 * ISNULL(@lethe_k_{key.name}_i))", sa.Integer)


def hmac_hex_sql(dialect: str, value: Expression, key: ColumnKey, length: int = 64) -> Expression:
    """The first ``length`` lower-case hex characters of HMAC-SHA256(key, UTF-8 of ``value``); NULL stays NULL.

    The key must be bound in the transaction (``bind_keys``) before the statement runs.
    """
    if dialect == "postgresql":
        mac = sa.func.hmac(Utf8Bytes(value), _pg_key(key), sa.literal_column("'sha256'"))
        digest: Expression = sa.func.encode(mac, sa.literal_column("'hex'"), type_=sa.Text)
    elif is_mysql(dialect):
        bits = _mysql_sha256_bits(key)
        inner = sa.func.sha2(sa.func.concat(_mysql_var(key, "i"), Utf8Bytes(value)), bits)
        outer = sa.func.concat(_mysql_var(key, "o"), sa.func.unhex(inner))
        digest = sa.func.sha2(outer, bits, type_=sa.Text)  # SHA2 returns lower-case hex
    elif dialect == "sqlite":
        return sa.func.lethe_hmac(value, sqlite_key(key), length, type_=sa.Text)
    else:
        raise OperatorError(f"no HMAC in SQL for dialect {dialect!r}")
    return digest if length == 64 else sa.func.substr(digest, 1, length, type_=sa.Text)


def sqlite_key(key: ColumnKey) -> Expression:
    """The key bound on a SQLite connection, as the hex text its ``lethe_*`` functions take."""
    return sa.func.lethe_key(sa.literal_column(f"'{key.name}'"), type_=sa.Text)


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


def binlog_problem(log_bin: Any, binlog_format: Any) -> str | None:
    """Why a MariaDB binary log would record the keys' pads, or None when it would not."""
    if not log_bin or str(binlog_format).upper() == "ROW":
        return None
    return (
        f"MariaDB writes a binary log in {binlog_format} format, which records the user variables holding "
        "the column keys of hmac, noise and fake with every statement that reads them: set binlog_format to "
        "ROW (globally, or for Lethe's sessions with the URL parameter `init_command=SET SESSION "
        "binlog_format=ROW`), or set `tokens: in_process` on the store to compute the tokens in Lethe"
    )


def ensure_row_binlog(connection: sa.Connection) -> None:
    """Raise a clear error when MariaDB's binary log would copy the keys' pads (docs/threat-model.md)."""
    log_bin, binlog_format = connection.execute(sa.text("SELECT @@log_bin, @@session.binlog_format")).one()
    problem = binlog_problem(log_bin, binlog_format)
    if problem is not None:
        raise OperatorError(problem)


def bind_keys(connection: sa.Connection, keys: Iterable[ColumnKey]) -> None:
    """Give the keys' names their values for the current transaction, in one short statement."""
    unique = {key.name: key for key in keys}
    if not unique:
        return
    dialect = connection.dialect.name
    params: dict[str, Any] = {}
    if dialect == "postgresql":
        calls = []
        for i, key in enumerate(unique.values()):
            params |= {f"n{i}": f"lethe.k_{key.name}", f"k{i}": key.secret.hex()}
            calls.append(f"set_config(:n{i}, :k{i}, true)")  # true: local to this transaction
        connection.execute(sa.text("SELECT " + ", ".join(calls)), params)
    elif is_mysql(dialect):
        sets = []
        for i, key in enumerate(unique.values()):
            params |= dict(zip((f"i{i}", f"o{i}"), _pads(key.secret), strict=True))
            sets += [f"@lethe_k_{key.name}_i = :i{i}", f"@lethe_k_{key.name}_o = :o{i}"]
        connection.execute(sa.text("SET " + ", ".join(sets)), params)
        _clear_when_done(connection, [f"@lethe_k_{name}_{pad}" for name in unique for pad in "io"])
    elif dialect == "sqlite":
        for i, key in enumerate(unique.values()):
            params |= {f"n{i}": key.name, f"k{i}": key.secret.hex()}
        setters = ", ".join(f"lethe_set_key(:n{i}, :k{i})" for i in range(len(unique)))
        connection.execute(sa.text("SELECT " + setters), params)
    else:
        raise OperatorError(f"no keys in SQL for dialect {dialect!r}")


def _clear_when_done(connection: sa.Connection, variables: list[str]) -> None:
    """Set MariaDB user variables to NULL when the transaction ends: unlike PostgreSQL's local settings
    they last as long as the session, where ``performance_schema.user_variables_by_thread`` shows them."""
    statement = "SET " + ", ".join(f"{name} = NULL" for name in variables)

    def clear(conn: sa.Connection) -> None:
        with suppress(Exception):  # a broken connection takes its variables with it
            cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            try:
                cursor.execute(statement)
            finally:
                cursor.close()

    for event in ("commit", "rollback"):
        sa.event.listen(connection, event, clear, once=True)


def _sqlite_hex_int(text: str | None) -> int | None:
    """SQLite's ``lethe_hex_int(text)``: the unsigned integer a hex string writes."""
    return None if text is None else int(text, 16)


def _sqlite_hmac(value: Any, key_hex: str, length: int) -> str | None:
    """SQLite's ``lethe_hmac(value, key_hex, length)``: the twin of ``hmac_hex_sql``."""
    if value is None:
        return None
    return hmac_hex(bytes.fromhex(key_hex), str(value))[:length]


def _sqlite_key_functions() -> dict[str, tuple[int, Callable[..., Any], bool]]:
    """``lethe_set_key(name, hex)`` and ``lethe_key(name)``, sharing one connection's keys in memory."""
    keys: dict[str, str] = {}

    def set_key(name: str, key_hex: str) -> int:
        keys[name] = key_hex
        return 1

    def get_key(name: str) -> str:
        if name not in keys:
            raise OperatorError(f"key {name} is not bound on this connection")
        return keys[name]

    return {"lethe_set_key": (2, set_key, False), "lethe_key": (1, get_key, False)}


_SHARED_SQLITE_FUNCTIONS: dict[str, SqliteFunction] = {
    "lethe_hmac": (3, _sqlite_hmac),
    "lethe_hex_int": (1, _sqlite_hex_int),
}


def register_sqlite_functions(
    dbapi_connection: Any, extra: Mapping[str, SqliteFunction] | None = None
) -> None:
    """Register the shared SQLite functions and ``extra`` on a raw sqlite3 connection; idempotent."""
    wanted = {
        **{name: (arity, function, True) for name, (arity, function) in _SHARED_SQLITE_FUNCTIONS.items()},
        **{name: (arity, function, True) for name, (arity, function) in (extra or {}).items()},
    }
    # Registering again is harmless except while a statement runs, when SQLite refuses: skip known names.
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("SELECT name FROM pragma_function_list WHERE name LIKE 'lethe_%'")
        present = {row[0] for row in cursor.fetchall()}
    finally:
        cursor.close()
    if "lethe_key" not in present:
        wanted |= _sqlite_key_functions()  # new keys only with a new store of keys
    for name, (arity, function, deterministic) in wanted.items():
        if name not in present:
            dbapi_connection.create_function(name, arity, function, deterministic=deterministic)
