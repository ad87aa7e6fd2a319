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
)
from lethe.operators.keyed import KeyedDigestOperator

TOKEN_PREFIX = "~h{version}:"
PURPOSE = "hmac"


class HmacOptions(BaseModel):
    """Options of ``hmac``: ``length`` hex characters of the digest (default all 64)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    length: int = Field(default=64, ge=8, le=64)


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
    options_model = HmacOptions
    writes: ClassVar[frozenset[TypeKind]] = frozenset({"text"})
    recognisable = True

    @classmethod
    def check(cls, options: BaseModel, column: ColumnShape) -> str | None:
        """The token (prefix and digest) must fit the column; key versions up to 99 are assumed."""
        assert isinstance(options, HmacOptions)
        problem = super().check(options, column)
        needed = token_length(options, key_version=99)
        if problem is None and not cls.fits(column.length, needed):
            problem = (
                f"an hmac token has {needed} characters but the column holds {column.length}: "
                f"set `length: {max(8, (column.length or 0) - (needed - options.length))}` or widen the column"
            )
        return problem

    @classmethod
    def sql(
        cls, options: BaseModel, value: Expression, key: Sequence[Expression], ctx: OperatorContext
    ) -> Expression:
        """The prefix followed by the digest computed in SQL; NULL stays NULL (concatenation with NULL)."""
        assert isinstance(options, HmacOptions)
        key_ = column_key(ctx.master_key, PURPOSE, ctx.scope, ctx.key_version)
        digest = hmac_hex_sql(ctx.dialect, value, key_, options.length)
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
