"""``hmac``: a keyed, deterministic token, recognisable by its versioned prefix."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from lethe.operators.base import ColumnShape, Operator, TypeKind

TOKEN_PREFIX = "~h{version}:"


class HmacOptions(BaseModel):
    """Options of ``hmac``: ``length`` hex characters of the digest (default all 64)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    length: int = Field(default=64, ge=8, le=64)


def token_length(options: HmacOptions, key_version: int = 1) -> int:
    """Characters of a token: prefix plus digest."""
    return len(TOKEN_PREFIX.format(version=key_version)) + options.length


class HmacOperator(Operator):
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
