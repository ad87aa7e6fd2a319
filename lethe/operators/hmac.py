"""``hmac``: a keyed, deterministic token, recognisable by its versioned prefix.

token = ``~h{version}:`` + the first ``length`` lower-case hex characters of HMAC-SHA256(column key, UTF-8 of
the value), where the column key is HKDF(master key, ``lethe/hmac/{scope}|v{version}``). The SQL of each
engine (see ``dialects.hmac_hex_sql``) gives the very same token as ``hmac_token``. NULL stays NULL.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field

from lethe.operators.base import ColumnShape, Expression, OperatorContext, TypeKind, or_null
from lethe.operators.dialects import (
    char_length_sql,
    column_key,
    hmac_hex,
    hmac_hex_sql,
    sql_key,
)
from lethe.operators.keyed import KeyedDigestOperator

TOKEN_PREFIX = "~h{version}:"
PURPOSE = "hmac"
MIN_LENGTH, MAX_LENGTH = 8, 64  # hex characters of the digest a token keeps
MAX_VERSION = 99  # validation keeps room in columns for prefixes up to ``~h99:``
PREFIX_ROOM = len(TOKEN_PREFIX.format(version=MAX_VERSION))


class HmacOptions(BaseModel):
    """Options of ``hmac``: ``length`` hex characters of the digest (default all 64)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    length: int = Field(default=MAX_LENGTH, ge=MIN_LENGTH, le=MAX_LENGTH)


def token_length(options: HmacOptions, key_version: int = 1) -> int:
    """Characters of a token: prefix plus digest."""
    return len(TOKEN_PREFIX.format(version=key_version)) + options.length


def hmac_token(master_key: bytes, scope: str, value: str, key_version: int = 1, length: int = 64) -> str:
    """The token ``hmac`` writes for ``value`` in column ``scope`` (e.g. to find a subject's rows)."""
    key = column_key(master_key, PURPOSE, scope, key_version)
    return TOKEN_PREFIX.format(version=key_version) + hmac_hex(key, value)[:length]


class HmacOperator(KeyedDigestOperator):
    """HMAC-SHA256 under a per-column key (HKDF of the master key), computed inside the database."""

    name = "hmac"
    purpose = PURPOSE
    options_model = HmacOptions
    writes: ClassVar[frozenset[TypeKind]] = frozenset({"text"})
    recognisable = True

    @classmethod
    def check(cls, options: BaseModel, column: ColumnShape) -> str | None:
        """The token must fit the column, its prefix sized for key versions up to 99 (``~h99:``)."""
        assert isinstance(options, HmacOptions)
        problem = super().check(options, column)
        if problem is not None or column.length is None:
            return problem
        needed = PREFIX_ROOM + options.length
        if column.length >= needed:
            return None
        # Sized for two-digit versions so that a key rotation never makes tokens outgrow a column that
        # validated: a VARCHAR sized for ``~h1:`` would refuse the ``~h10:`` tokens of a later rotation.
        room = (
            f"{PREFIX_ROOM} for the prefix `~h<key version>:`, room kept for key versions up to {MAX_VERSION}"
        )
        digest = column.length - PREFIX_ROOM
        if digest >= MIN_LENGTH:
            return (
                f"an hmac token of `length: {options.length}` takes {needed} characters ({room}) but the "
                f"column holds {column.length}: set `length: {digest}` or widen the column"
            )
        return (
            f"no hmac token fits a column of {column.length} characters: the shortest takes "
            f"{PREFIX_ROOM + MIN_LENGTH} ({room}, and {MIN_LENGTH} hex characters); widen the column to at "
            f"least {PREFIX_ROOM + MIN_LENGTH} characters or use an operator that writes short values: "
            "redact (a value that fits), mask, generalise (`keep: N`), or null on a nullable column"
        )

    @classmethod
    def sql(
        cls, options: BaseModel, value: Expression, key: Sequence[Expression], ctx: OperatorContext
    ) -> Expression:
        """The prefix followed by the digest computed in SQL; NULL stays NULL (concatenation with NULL)."""
        assert isinstance(options, HmacOptions)
        digest = hmac_hex_sql(
            ctx.dialect, value, sql_key(ctx.master_key, PURPOSE, ctx.scope, ctx.key_version), options.length
        )
        return sa.literal(TOKEN_PREFIX.format(version=ctx.key_version), sa.String).concat(digest)

    @classmethod
    def python(cls, options: BaseModel, value: Any, key: tuple[Any, ...], ctx: OperatorContext) -> Any:
        """``hmac_token`` of the value; None stays None."""
        assert isinstance(options, HmacOptions)
        if value is None:
            return None
        key_ = column_key(ctx.master_key, PURPOSE, ctx.scope, ctx.key_version)
        return TOKEN_PREFIX.format(version=ctx.key_version) + hmac_hex(key_, str(value))[: options.length]

    @classmethod
    def applied(cls, options: BaseModel, value: Expression, ctx: OperatorContext) -> Expression | None:
        """NULL, or a token of this or an earlier key version: its prefix and exactly its length.

        Earlier versions count as handled so that a key rotation does not hash old tokens again: they stay
        findable with ``hmac_token(..., key_version=old)``. ``~``, ``h``, digits and ``:`` are not special in
        LIKE, so the patterns need no escaping.
        """
        assert isinstance(options, HmacOptions)
        length = char_length_sql(ctx.dialect, value)
        tokens = [
            sa.and_(value.like(TOKEN_PREFIX.format(version=v) + "%"), length == token_length(options, v))
            for v in range(1, ctx.key_version + 1)
        ]
        return or_null(value, sa.or_(*tokens), ctx)
