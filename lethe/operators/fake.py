"""``fake``: a realistic replacement chosen deterministically from the keyed token of the value.

The digest is HMAC-SHA256(fake key, UTF-8 of the value) in hex, the fake key being HKDF(master key,
``lethe/fake/{scope}|v{version}``); ``i0`` and ``i1`` are the integers written by its hex characters 0-7 and
8-15. Per kind:

* ``first_name`` / ``last_name`` / ``city``: ``POOL[i0 mod len(POOL)]``;
* ``name``: ``FIRST_NAMES[i0 mod n] + " " + LAST_NAMES[i1 mod n]``;
* ``email``: ``first.last.<hex 16-21>@example.com`` (lower case; ``example.com`` is reserved, RFC 2606);
* ``phone``: ``+44 7700 900`` + three digits (``i0 mod 1000``): Ofcom's range reserved for drama;
* ``street``: house number ``i1 mod 199 + 1`` and ``STREETS[i0 mod n]``.

The result is cut to the column's length. NULL stays NULL. In SQL the pools are passed as one parameter each
(PostgreSQL ``split_part``, MariaDB ``SUBSTRING_INDEX``); SQLite calls ``lethe_fake``. Not recognisable.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict

from lethe.errors import OperatorError
from lethe.operators.base import ColumnKey, ColumnShape, Expression, OperatorContext, TypeKind
from lethe.operators.dialects import (
    column_key,
    hex_int_sql,
    hmac_hex,
    hmac_hex_sql,
    is_mysql,
    pick_sql,
    register_sqlite_functions,
    sql_key,
    sqlite_key,
)
from lethe.operators.fake_pools import CITIES, FIRST_NAMES, LAST_NAMES, STREETS
from lethe.operators.keyed import KeyedDigestOperator

FAKE_LENGTHS = {
    "name": 60,
    "first_name": 30,
    "last_name": 30,
    "email": 80,
    "phone": 24,
    "street": 80,
    "city": 40,
}
PURPOSE = "fake"
PHONE_PREFIX = "+44 7700 900"
EMAIL_DOMAIN = "@example.com"
_FIRST_LOWER = tuple(name.lower() for name in FIRST_NAMES)
_LAST_LOWER = tuple(name.lower() for name in LAST_NAMES)

Kind = Literal["name", "first_name", "last_name", "email", "phone", "street", "city"]


class FakeOptions(BaseModel):
    """What kind of value to invent."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Kind


def fake_from_digest(kind: str, digest: str) -> str:
    """The fake value of ``kind`` chosen by a hex digest (at least 22 characters)."""
    i0, i1 = int(digest[0:8], 16), int(digest[8:16], 16)
    if kind == "first_name":
        return FIRST_NAMES[i0 % len(FIRST_NAMES)]
    if kind == "last_name":
        return LAST_NAMES[i0 % len(LAST_NAMES)]
    if kind == "name":
        return f"{FIRST_NAMES[i0 % len(FIRST_NAMES)]} {LAST_NAMES[i1 % len(LAST_NAMES)]}"
    if kind == "email":
        first, last = _FIRST_LOWER[i0 % len(_FIRST_LOWER)], _LAST_LOWER[i1 % len(_LAST_LOWER)]
        return f"{first}.{last}.{digest[16:22]}{EMAIL_DOMAIN}"
    if kind == "phone":
        return f"{PHONE_PREFIX}{i0 % 1000:03d}"
    if kind == "street":
        return f"{i1 % 199 + 1} {STREETS[i0 % len(STREETS)]}"
    if kind == "city":
        return CITIES[i0 % len(CITIES)]
    raise ValueError(f"unknown fake kind {kind!r}")


def _sqlite_fake(value: Any, kind: str, key_hex: str) -> str | None:
    """SQLite's ``lethe_fake(value, kind, key_hex)``."""
    if value is None:
        return None
    return fake_from_digest(kind, hmac_hex(bytes.fromhex(key_hex), str(value)))


def _fake_sql(dialect: str, kind: str, value: Expression, key: ColumnKey) -> Expression:
    """The fake value built in SQL on PostgreSQL or MariaDB, piece by piece as ``fake_from_digest`` does."""

    def hex_part(start: int, length: int) -> Expression:
        # Each part recomputes the HMAC: two or three per value, still far cheaper than a round trip.
        return sa.func.substr(hmac_hex_sql(dialect, value, key), start, length, type_=sa.Text)

    def index(start: int, modulo: int) -> Expression:
        return hex_int_sql(dialect, hex_part(start, 8)) % modulo

    def pick(pool: Sequence[str], start: int) -> Expression:
        return pick_sql(dialect, pool, index(start, len(pool)))

    def text(constant: str) -> Expression:
        return sa.literal(constant, sa.String)

    def number_text(number: Expression) -> Expression:
        return sa.cast(number, sa.String)

    builders: dict[str, Callable[[], Expression]] = {
        "first_name": lambda: pick(FIRST_NAMES, 1),
        "last_name": lambda: pick(LAST_NAMES, 1),
        "name": lambda: pick(FIRST_NAMES, 1).concat(text(" ")).concat(pick(LAST_NAMES, 9)),
        "email": lambda: (
            pick(_FIRST_LOWER, 1)
            .concat(text("."))
            .concat(pick(_LAST_LOWER, 9))
            .concat(text("."))
            .concat(hex_part(17, 6))
            .concat(text(EMAIL_DOMAIN))
        ),
        "phone": lambda: text(PHONE_PREFIX).concat(sa.func.lpad(number_text(index(1, 1000)), 3, "0")),
        "street": lambda: number_text(index(9, 199) + 1).concat(text(" ")).concat(pick(STREETS, 1)),
        "city": lambda: pick(CITIES, 1),
    }
    return builders[kind]()


class FakeOperator(KeyedDigestOperator):
    """Replace with a plausible value; the same input and key always give the same replacement."""

    name = "fake"
    purpose = PURPOSE
    options_model = FakeOptions
    writes: ClassVar[frozenset[TypeKind]] = frozenset({"text"})

    @classmethod
    def check(cls, options: BaseModel, column: ColumnShape) -> str | None:
        """The longest value of the kind must fit (it is truncated to that bound)."""
        assert isinstance(options, FakeOptions)
        problem = super().check(options, column)
        needed = FAKE_LENGTHS[options.kind]
        if problem is None and not cls.fits(column.length, min(needed, 20)):
            problem = f"fake {options.kind} needs at least 20 characters, the column holds {column.length}"
        return problem

    @classmethod
    def sql(
        cls, options: BaseModel, value: Expression, key: Sequence[Expression], ctx: OperatorContext
    ) -> Expression:
        """The fake value computed in SQL, cut to the column's length; NULL stays NULL."""
        assert isinstance(options, FakeOptions)
        fake_key = sql_key(ctx.master_key, PURPOSE, ctx.scope, ctx.key_version)
        if ctx.dialect == "sqlite":
            fake: Expression = sa.func.lethe_fake(value, options.kind, sqlite_key(fake_key), type_=sa.Text)
        elif ctx.dialect == "postgresql" or is_mysql(ctx.dialect):
            fake = _fake_sql(ctx.dialect, options.kind, value, fake_key)
        else:
            raise OperatorError(f"fake has no SQL for dialect {ctx.dialect!r}")
        if ctx.column.length is not None:
            fake = sa.func.substr(fake, 1, ctx.column.length, type_=sa.Text)
        return fake

    @classmethod
    def python(cls, options: BaseModel, value: Any, key: tuple[Any, ...], ctx: OperatorContext) -> Any:
        """The reference: ``fake_from_digest`` of the value's digest, cut to the column's length."""
        assert isinstance(options, FakeOptions)
        if value is None:
            return None
        fake_key = column_key(ctx.master_key, PURPOSE, ctx.scope, ctx.key_version)
        fake = fake_from_digest(options.kind, hmac_hex(fake_key, str(value)))
        return fake if ctx.column.length is None else fake[: ctx.column.length]

    @classmethod
    def prepare(cls, dbapi_connection: Any, ctx: OperatorContext) -> None:
        """On SQLite, register ``lethe_fake``."""
        if ctx.dialect == "sqlite":
            register_sqlite_functions(dbapi_connection, {"lethe_fake": (3, _sqlite_fake)})
