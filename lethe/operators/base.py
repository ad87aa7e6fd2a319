"""What every anonymisation operator is: a name, an options model, the column types it can write.

An operator is one small class in its own file, registered by hand in ``OPERATORS``
(``lethe/operators/__init__.py``): no import side effects, so the registry is exactly what you read.
``check`` runs before any change, when the policy is validated against the live schema; the SQL and Python
implementations that rewrite values live in the same class.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict

TypeKind = Literal["text", "integer", "numeric", "date", "datetime", "boolean", "binary", "other"]
# Where keyed tokens (hmac, noise, fake) are computed: in the database's SQL, or in the Lethe process for
# stores whose observers (statement logs, activity views, binlogs) must not see key material at all.
Tokens = Literal["in_database", "in_process"]


class NoOptions(BaseModel):
    """Options of an operator that takes none."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class ColumnShape:
    """What validation knows of a target column: coarse type, maximum length, nullability."""

    kind: TypeKind
    length: int | None
    nullable: bool


@dataclass(frozen=True)
class OperatorContext:
    """What an operator needs to rewrite one column of one table.

    ``scope`` is ``store.table.column``: per-column keys are derived from the master key with it, so the
    same value gets different tokens in different columns unless a policy asks otherwise.
    """

    dialect: str  # SQLAlchemy dialect name: "sqlite", "postgresql" or "mysql" (MariaDB)
    scope: str
    column: ColumnShape
    master_key: bytes | None = field(default=None, repr=False)
    key_version: int = 1
    siv_key: bytes | None = field(default=None, repr=False)
    tokens: Tokens = "in_database"


@dataclass(frozen=True)
class ColumnKey:
    """A derived key as SQL uses it: statements name it (``name``, not secret); ``secret`` is bound once per
    transaction in a short statement of its own (``dialects.bind_keys``)."""

    name: str
    secret: bytes = field(repr=False)


Expression = sa.ColumnElement[Any]


def or_null(value: Expression, done: Expression, ctx: OperatorContext) -> Expression:
    """``done``, or NULL when the column can hold one: a NULL holds nothing to anonymise.

    Left out on NOT NULL columns, where it could never be true and would only cost a test per row.
    """
    return sa.or_(value.is_(None), done) if ctx.column.nullable else done


class Operator:
    """Base of anonymisation operators; subclasses set the class variables and implement the methods.

    ``sql`` builds the new value as an expression evaluated inside the database (set-based UPDATE);
    ``python`` is the reference implementation, which must give the same result for deterministic
    operators and is used where the database cannot compute the value (``in_database = False``);
    ``applied`` is a predicate true when a value is already in its anonymised form, so re-runs skip it.
    """

    name: ClassVar[str]
    options_model: ClassVar[type[BaseModel]] = NoOptions
    writes: ClassVar[frozenset[TypeKind]]
    # True when the operator's output can be recognised in SQL, so a rule can tell rows it already
    # handled from rows it has not (what makes re-runs idempotent without a marker column).
    recognisable: ClassVar[bool] = False

    # False when some dialect cannot compute the value in SQL: rows are then rewritten in Python, per batch.
    in_database: ClassVar[bool] = True
    # True when the value is computed under a key derived from the master key (hmac, noise, fake): such
    # operators run in Python as well on a store whose policy says ``tokens: in_process``.
    keyed: ClassVar[bool] = False

    @classmethod
    def in_python(cls, ctx: OperatorContext) -> bool:
        """True when the engine must compute this column's values in Python, not in SQL."""
        return not cls.in_database or (cls.keyed and ctx.tokens == "in_process")

    @classmethod
    def keys(cls, ctx: OperatorContext) -> tuple[ColumnKey, ...]:
        """The keys ``sql`` names, to bind in the transaction before its statements run."""
        return ()

    @classmethod
    def sql(
        cls, options: BaseModel, value: Expression, key: Sequence[Expression], ctx: OperatorContext
    ) -> Expression:
        """The anonymised value of ``value`` as a SQL expression (``key``: the row's primary-key columns)."""
        raise NotImplementedError(f"operator {cls.name!r} has no SQL implementation")

    @classmethod
    def python(cls, options: BaseModel, value: Any, key: tuple[Any, ...], ctx: OperatorContext) -> Any:
        """The anonymised value of ``value`` computed in Python (``key``: the row's primary-key values)."""
        raise NotImplementedError(f"operator {cls.name!r} has no Python implementation")

    @classmethod
    def applied(cls, options: BaseModel, value: Expression, ctx: OperatorContext) -> Expression | None:
        """A predicate true when ``value`` is already anonymised; None when that cannot be told.

        A NULL holds nothing to anonymise, so it counts as applied (see ``or_null``).
        """
        return None

    @classmethod
    def prepare(cls, dbapi_connection: Any, ctx: OperatorContext) -> None:
        """Prepare a raw connection before statements run (e.g. register SQLite functions)."""

    @classmethod
    def ensure(cls, connection: sa.Connection, ctx: OperatorContext) -> None:
        """Raise ``OperatorError`` saying what to install when the database lacks what ``sql`` calls."""

    @classmethod
    def check(cls, options: BaseModel, column: ColumnShape) -> str | None:
        """Return why this operator cannot write ``column``, or None when it can."""
        if column.kind not in cls.writes:
            kinds = ", ".join(sorted(cls.writes))
            return f"operator {cls.name!r} writes {kinds} columns, not {column.kind}"
        return None

    @staticmethod
    def fits(length: int | None, needed: int) -> bool:
        """True when a string column of ``length`` (None = unbounded) holds ``needed`` characters."""
        return length is None or length >= needed
