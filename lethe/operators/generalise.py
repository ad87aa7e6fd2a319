"""``generalise``: dates to year/month, numbers to buckets, text to a prefix.

Every form is idempotent (a generalised value is its own generalisation), which is what makes it
recognisable. Per dialect:

* ``to``: PostgreSQL ``date_trunc`` (a ``timestamptz`` is truncated in the session time zone); MariaDB
  ``MAKEDATE``/``SUBDATE``; SQLite, which stores dates as text, keeps the text's ``YYYY`` or ``YYYY-MM`` and
  appends the rest in SQLAlchemy's own format (``-01-01`` and, for date-times, `` 00:00:00.000000``).
* ``bucket``: ``floor(value / bucket) * bucket`` written as ``value - ((value % b) + b) % b``, exact in integer
  and decimal arithmetic; on SQLite a decimal column (stored as REAL) calls ``lethe_bucket``, which computes
  in ``Decimal`` like the Python reference.
* ``keep``: the first N characters (``substr``, characters not bytes).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, ClassVar, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, model_validator

from lethe.errors import OperatorError
from lethe.operators.base import ColumnShape, Expression, Operator, OperatorContext, TypeKind, or_null
from lethe.operators.dialects import char_length_sql, is_mysql, register_sqlite_functions


class GeneraliseOptions(BaseModel):
    """Exactly one of ``to`` (dates), ``bucket`` (numbers) or ``keep`` (text prefix)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    to: Literal["year", "month"] | None = None
    bucket: float | None = Field(default=None, gt=0)
    keep: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _exactly_one(self) -> GeneraliseOptions:
        given = [name for name in ("to", "bucket", "keep") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError("generalise takes exactly one of `to: year|month`, `bucket: N` or `keep: N`")
        return self


def _bucket(options: GeneraliseOptions) -> Decimal:
    """The bucket as an exact decimal (``0.1`` is one tenth, not the nearest binary float)."""
    assert options.bucket is not None
    return Decimal(repr(options.bucket))


def bucket_number(value: Any, bucket: Decimal) -> Any:
    """``floor(value / bucket) * bucket`` exactly; an int stays an int, a float is computed as its decimal."""
    if value is None:
        return None
    if isinstance(value, int) and bucket == bucket.to_integral_value():
        return value - value % int(bucket)  # Python's % already floors
    exact = value if isinstance(value, Decimal) else Decimal(repr(value))
    floored = exact - exact % bucket  # Decimal's % keeps the dividend's sign: fold negatives up
    if floored > exact:
        floored -= bucket
    return floored if isinstance(value, Decimal) else float(floored)


def _sqlite_bucket(value: Any, bucket_text: str) -> Any:
    """SQLite's ``lethe_bucket(value, bucket)``: ``bucket_number`` on what SQLite stored."""
    return bucket_number(value, Decimal(bucket_text))


def generalise_date(value: Any, to: Literal["year", "month"]) -> Any:
    """The first day of the value's year or month (midnight, same time zone, for a datetime)."""
    if value is None:
        return None
    first = value.replace(month=1 if to == "year" else value.month, day=1)
    if isinstance(first, dt.datetime):
        first = first.replace(hour=0, minute=0, second=0, microsecond=0)
    return first


class GeneraliseOperator(Operator):
    """Coarsen a value: a date to the first day of its year or month, a number down to a bucket."""

    name = "generalise"
    options_model = GeneraliseOptions
    writes: ClassVar[frozenset[TypeKind]] = frozenset({"date", "datetime", "integer", "numeric", "text"})
    recognisable = True  # idempotent: a generalised value equals its own generalisation

    @classmethod
    def check(cls, options: BaseModel, column: ColumnShape) -> str | None:
        """The option given must suit the column's type."""
        assert isinstance(options, GeneraliseOptions)
        wanted: dict[str, set[str]] = {
            "to": {"date", "datetime"},
            "bucket": {"integer", "numeric"},
            "keep": {"text"},
        }
        option = next(name for name in ("to", "bucket", "keep") if getattr(options, name) is not None)
        if column.kind not in wanted[option]:
            return f"generalise `{option}` applies to {'/'.join(sorted(wanted[option]))} columns, not {column.kind}"
        if option == "bucket" and column.kind == "integer" and options.bucket != int(options.bucket or 0):
            return f"generalise `bucket: {options.bucket}` on an integer column must be a whole number"
        return None

    @classmethod
    def sql(
        cls, options: BaseModel, value: Expression, key: Sequence[Expression], ctx: OperatorContext
    ) -> Expression:
        """The generalised value in SQL; NULL stays NULL."""
        assert isinstance(options, GeneraliseOptions)
        if options.to is not None:
            return _date_sql(ctx, value, options.to)
        if options.keep is not None:
            return sa.func.substr(value, 1, options.keep, type_=value.type)
        bucket = _bucket(options)
        if ctx.column.kind == "integer":
            if bucket != bucket.to_integral_value():
                raise OperatorError(f"generalise bucket {bucket} on integer column {ctx.scope} must be whole")
            step: Expression = sa.literal(int(bucket), sa.Integer)
        elif ctx.dialect == "sqlite":
            # SQLite's % truncates REALs to integers: compute in Decimal, as the reference does.
            return sa.func.lethe_bucket(value, format(bucket, "f"), type_=value.type)
        else:
            step = sa.literal(bucket, sa.Numeric)
        # PostgreSQL has no % on double precision: a float column is computed as numeric (approximately).
        number = (
            sa.cast(value, sa.Numeric)
            if ctx.dialect == "postgresql" and ctx.column.kind == "numeric"
            else value
        )
        return number - ((number % step) + step) % step

    @classmethod
    def python(cls, options: BaseModel, value: Any, key: tuple[Any, ...], ctx: OperatorContext) -> Any:
        """The reference: ``generalise_date``, ``bucket_number`` or a prefix."""
        assert isinstance(options, GeneraliseOptions)
        if value is None:
            return None
        if options.to is not None:
            return generalise_date(value, options.to)
        if options.keep is not None:
            return value[: options.keep]
        return bucket_number(value, _bucket(options))

    @classmethod
    def applied(cls, options: BaseModel, value: Expression, ctx: OperatorContext) -> Expression | None:
        """NULL, or a value equal to its own generalisation (for ``keep``: no longer than the prefix)."""
        assert isinstance(options, GeneraliseOptions)
        if options.keep is not None:
            # A length test, not value = prefix: MariaDB's PAD SPACE collations find 'ab ' = 'ab'.
            done = char_length_sql(ctx.dialect, value) <= options.keep
        else:
            done = value == cls.sql(options, value, (), ctx)
        return or_null(value, done, ctx)

    @classmethod
    def prepare(cls, dbapi_connection: Any, ctx: OperatorContext) -> None:
        """On SQLite, register ``lethe_bucket``."""
        if ctx.dialect == "sqlite":
            register_sqlite_functions(dbapi_connection, {"lethe_bucket": (2, _sqlite_bucket)})


def _date_sql(ctx: OperatorContext, value: Expression, to: Literal["year", "month"]) -> Expression:
    """First day of the year or month, keeping the column's type (a datetime at midnight)."""
    is_datetime = ctx.column.kind == "datetime"
    if ctx.dialect == "postgresql":
        truncated = sa.func.date_trunc(sa.literal_column(f"'{to}'"), value, type_=value.type)
        return truncated if is_datetime else sa.cast(truncated, sa.Date)
    if is_mysql(ctx.dialect):
        if to == "year":
            first: Expression = sa.func.makedate(sa.func.year(value), 1, type_=sa.Date)
        else:
            first = sa.func.subdate(sa.cast(value, sa.Date), sa.func.dayofmonth(value) - 1, type_=sa.Date)
        return sa.cast(first, sa.DateTime) if is_datetime else first
    if ctx.dialect == "sqlite":
        # Text in, text out, in the format SQLAlchemy writes and reads back.
        head = sa.func.substr(value, 1, 4 if to == "year" else 7, type_=sa.Text)
        tail = ("-01-01" if to == "year" else "-01") + (" 00:00:00.000000" if is_datetime else "")
        return sa.type_coerce(head.concat(sa.literal(tail, sa.Text)), value.type)
    raise OperatorError(f"generalise has no SQL for dialect {ctx.dialect!r}")
