"""``noise``: a bounded offset seeded by key and primary key, so re-runs give the same value.

The offset of a row is a whole number of units, ``units = (u mod (2K + 1)) - K``, where ``u`` is the first 8 hex
characters (32 bits) of HMAC-SHA256(noise key, canonical primary-key text), the noise key is
HKDF(master key, ``lethe/noise/{scope}|v{version}``) and ``K`` is the bound expressed in units:

* integers: unit 1, ``K = floor(amount)``;
* decimals: unit ``10**-scale`` of the column (``DECIMAL(10, 2)``: 0.01), ``K = floor(amount * 10**scale)``;
* dates and datetimes: unit one day (24 hours for a datetime with time zone), ``K = days``.

All of it is integer arithmetic, so SQL and Python agree exactly. The SQL reads the scale from the column's
type, the Python reference from the ``Decimal`` the driver returns (drivers return a decimal column's values
at its scale); columns without a fixed scale (FLOAT, unconstrained NUMERIC) are refused. Not recognisable: a
noised value looks like any other, so rules using noise need a marker column.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, ClassVar

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, model_validator

from lethe.errors import OperatorError
from lethe.operators.base import ColumnShape, Expression, OperatorContext, TypeKind
from lethe.operators.dialects import (
    column_key,
    hex_int_sql,
    hmac_hex,
    hmac_hex_sql,
    is_mysql,
    key_text,
    key_text_sql,
    sql_key,
)
from lethe.operators.keyed import KeyedDigestOperator

PURPOSE = "noise"


class NoiseOptions(BaseModel):
    """``amount`` for numbers (absolute bound), ``days`` for dates."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    amount: float | None = Field(default=None, gt=0)
    days: int | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _exactly_one(self) -> NoiseOptions:
        if (self.amount is None) == (self.days is None):
            raise ValueError("noise takes exactly one of `amount: N` (numbers) or `days: N` (dates)")
        return self


def _bound(options: NoiseOptions, scale: int, scope: str) -> int:
    """``K``: the bound in units of the column (whole days, or ``10**-scale``)."""
    if options.days is not None:
        return options.days
    assert options.amount is not None
    units = int((Decimal(repr(options.amount)).scaleb(scale)).to_integral_value(rounding="ROUND_FLOOR"))
    if units < 1:
        raise OperatorError(f"noise amount {options.amount} is smaller than one unit of column {scope}")
    return units


def _type_scale(sql_type: Any, scope: str) -> int:
    """Decimal places of an integer or fixed-scale decimal column type."""
    if isinstance(sql_type, sa.Integer):
        return 0
    scale = getattr(sql_type, "scale", None)
    if isinstance(sql_type, sa.Float) or scale is None:
        raise OperatorError(
            f"noise `amount` needs an integer or DECIMAL(p, s) column; {scope} has no fixed scale"
        )
    return int(scale)


def _value_scale(value: Any, scope: str) -> int:
    """Decimal places of a value read from an integer or fixed-scale decimal column."""
    if isinstance(value, int):
        return 0
    if isinstance(value, Decimal):
        exponent = value.as_tuple().exponent
        return -exponent if isinstance(exponent, int) and exponent < 0 else 0
    raise OperatorError(
        f"noise `amount` needs an integer or DECIMAL(p, s) column; {scope} holds {type(value).__name__}"
    )


def noise_units(noise_key: bytes, key_values: Sequence[Any], bound: int) -> int:
    """The row's offset in units, in ``[-bound, +bound]``."""
    u = int(hmac_hex(noise_key, key_text(key_values))[:8], 16)
    return u % (2 * bound + 1) - bound


class NoiseOperator(KeyedDigestOperator):
    """Add a deterministic offset in [-bound, +bound]; not recognisable, so rules need a marker column."""

    name = "noise"
    purpose = PURPOSE
    options_model = NoiseOptions
    writes: ClassVar[frozenset[TypeKind]] = frozenset({"integer", "numeric", "date", "datetime"})

    @classmethod
    def check(cls, options: BaseModel, column: ColumnShape) -> str | None:
        """``days`` needs a date column, ``amount`` a number column."""
        assert isinstance(options, NoiseOptions)
        if options.days is not None and column.kind not in {"date", "datetime"}:
            return f"noise `days` applies to date columns, not {column.kind}"
        if options.amount is not None and column.kind not in {"integer", "numeric"}:
            return f"noise `amount` applies to number columns, not {column.kind}"
        return None

    @classmethod
    def sql(
        cls, options: BaseModel, value: Expression, key: Sequence[Expression], ctx: OperatorContext
    ) -> Expression:
        """``value`` plus the offset, computed from the primary key in SQL; NULL stays NULL."""
        assert isinstance(options, NoiseOptions)
        scale = 0 if options.days is not None else _type_scale(value.type, ctx.scope)
        bound = _bound(options, scale, ctx.scope)
        noise_key = sql_key(ctx.master_key, PURPOSE, ctx.scope, ctx.key_version)
        u = hex_int_sql(ctx.dialect, hmac_hex_sql(ctx.dialect, key_text_sql(key), noise_key, 8))
        units = (u % (2 * bound + 1)) - bound
        if options.amount is not None:
            if scale == 0:
                return value + units
            step = sa.literal(Decimal(1).scaleb(-scale), sa.Numeric)
            if ctx.dialect == "sqlite":
                # SQLite stores decimals as REAL: round the float sum back to the column's scale.
                return sa.func.round(value + units * step, scale, type_=value.type)
            return value + units * step
        return _shift_days_sql(ctx, value, units)

    @classmethod
    def python(cls, options: BaseModel, value: Any, key: tuple[Any, ...], ctx: OperatorContext) -> Any:
        """The reference: the same offset from the primary-key values."""
        assert isinstance(options, NoiseOptions)
        if value is None:
            return None
        scale = 0 if options.days is not None else _value_scale(value, ctx.scope)
        noise_key = column_key(ctx.master_key, PURPOSE, ctx.scope, ctx.key_version)
        units = noise_units(noise_key, key, _bound(options, scale, ctx.scope))
        if options.amount is not None:
            return value + units if scale == 0 else value + units * Decimal(1).scaleb(-scale)
        shift = dt.timedelta(days=units)
        if isinstance(value, dt.datetime) and value.tzinfo is not None:
            # 24 hours of elapsed time, as PostgreSQL adds an interval in hours to a timestamptz.
            return (value.astimezone(dt.UTC) + shift).astimezone(value.tzinfo)
        return value + shift


def _shift_days_sql(ctx: OperatorContext, value: Expression, units: Expression) -> Expression:
    """A date or datetime moved by ``units`` days."""
    is_datetime = ctx.column.kind == "datetime"
    if ctx.dialect == "postgresql":
        days = sa.cast(units, sa.Integer)
        if is_datetime:
            return value + days.op("*")(sa.literal_column("INTERVAL '24 hours'"))
        return value + days  # date + integer is a date
    if is_mysql(ctx.dialect):
        return sa.func.adddate(value, units, type_=value.type)
    if ctx.dialect == "sqlite":
        # Dates are text: shift the 'YYYY-MM-DD' part and keep the time text as SQLAlchemy wrote it.
        # CAST, not bare units: SQLite binds || tighter than -, so `a - b || ' days'` would subtract a text.
        modifier = sa.cast(units, sa.String).concat(sa.literal(" days", sa.Text))
        shifted: Expression = sa.func.date(sa.func.substr(value, 1, 10), modifier, type_=sa.Text)
        if is_datetime:
            shifted = shifted.concat(sa.func.substr(value, 11, type_=sa.Text))
        return sa.type_coerce(shifted, value.type)
    raise OperatorError(f"noise has no SQL for dialect {ctx.dialect!r}")
