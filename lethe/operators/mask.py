"""``mask``: keep the last N characters (or an email's domain) and mask the rest."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from lethe.operators.base import Operator, TypeKind


class MaskOptions(BaseModel):
    """Options of ``mask``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    keep_last: int = Field(default=4, ge=0, le=16)
    char: str = Field(default="*", min_length=1, max_length=1)
    keep_email_domain: bool = False


class MaskOperator(Operator):
    """Mask all but the last ``keep_last`` characters; with ``keep_email_domain`` keep ``@domain``."""

    name = "mask"
    options_model = MaskOptions
    # The output is never longer than the input, so any text column fits.
    writes: ClassVar[frozenset[TypeKind]] = frozenset({"text"})
