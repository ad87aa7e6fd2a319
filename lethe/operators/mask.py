"""``mask``: keep the last N characters (or an email's domain) and mask the rest.

Lengths count characters (code points), never bytes, on every engine. A value no longer than ``keep_last``
is masked whole, so a short value is never left in clear. With ``keep_email_domain`` a value containing
``@`` keeps everything from its first ``@`` on and has its local part masked whole. Not recognisable: a
masked value looks like any other text (masking it again would be harmless, but cannot be told apart).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field

from lethe.operators.base import Expression, Operator, OperatorContext, TypeKind
from lethe.operators.dialects import char_length_sql, position_sql, register_sqlite_functions


class MaskOptions(BaseModel):
    """Options of ``mask``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    keep_last: int = Field(default=4, ge=0, le=16)
    char: str = Field(default="*", min_length=1, max_length=1)
    keep_email_domain: bool = False


def mask_text(value: str | None, keep_last: int, char: str, keep_email_domain: bool) -> str | None:
    """The masked form of ``value`` (the reference every SQL version matches); None stays None."""
    if value is None:
        return None
    if keep_email_domain and "@" in value:
        at = value.index("@")
        return char * at + value[at:]
    keep = keep_last if len(value) > keep_last else 0
    return char * (len(value) - keep) + value[len(value) - keep :]


def _sqlite_mask(value: Any, keep_last: int, char: str, keep_email_domain: int) -> str | None:
    """SQLite's ``lethe_mask(value, keep_last, char, keep_email_domain)``."""
    return mask_text(None if value is None else str(value), keep_last, char, bool(keep_email_domain))


class MaskOperator(Operator):
    """Mask all but the last ``keep_last`` characters; with ``keep_email_domain`` keep ``@domain``."""

    name = "mask"
    options_model = MaskOptions
    # The output is never longer than the input, so any text column fits.
    writes: ClassVar[frozenset[TypeKind]] = frozenset({"text"})

    @classmethod
    def sql(
        cls, options: BaseModel, value: Expression, key: Sequence[Expression], ctx: OperatorContext
    ) -> Expression:
        """REPEAT/RIGHT/CHAR_LENGTH on PostgreSQL and MariaDB; SQLite (no REPEAT) calls ``lethe_mask``."""
        assert isinstance(options, MaskOptions)
        if ctx.dialect == "sqlite":
            return sa.func.lethe_mask(
                value, options.keep_last, options.char, int(options.keep_email_domain), type_=sa.Text
            )
        char = sa.literal(options.char, sa.String)
        length = char_length_sql(ctx.dialect, value)
        kept = sa.func.right(value, options.keep_last, type_=sa.Text)
        masked: Expression = sa.case(
            (
                length > options.keep_last,
                sa.func.repeat(char, length - options.keep_last, type_=sa.Text).concat(kept),
            ),
            else_=sa.func.repeat(char, length, type_=sa.Text),
        )
        if options.keep_email_domain:
            at = position_sql(ctx.dialect, "@", value)
            domain = sa.func.substr(value, at, type_=sa.Text)
            masked = sa.case(
                (at > 0, sa.func.repeat(char, at - 1, type_=sa.Text).concat(domain)), else_=masked
            )
        return masked

    @classmethod
    def python(cls, options: BaseModel, value: Any, key: tuple[Any, ...], ctx: OperatorContext) -> Any:
        """``mask_text`` with the options."""
        assert isinstance(options, MaskOptions)
        return mask_text(value, options.keep_last, options.char, options.keep_email_domain)

    @classmethod
    def prepare(cls, dbapi_connection: Any, ctx: OperatorContext) -> None:
        """On SQLite, register ``lethe_mask``."""
        if ctx.dialect == "sqlite":
            register_sqlite_functions(dbapi_connection, {"lethe_mask": (4, _sqlite_mask)})
