"""``encrypt``: a reversible deterministic pseudonym (AES-SIV) for approved re-identification."""

from __future__ import annotations

import math
from typing import ClassVar

from pydantic import BaseModel

from lethe.operators.base import ColumnShape, Operator, TypeKind

SIV_PREFIX = "~e{version}:"


def ciphertext_length(plaintext_bytes: int, key_version: int = 1) -> int:
    """Characters of a pseudonym for a plaintext of that many bytes: prefix + base64url(16-byte tag + data)."""
    return len(SIV_PREFIX.format(version=key_version)) + math.ceil((16 + plaintext_bytes) / 3) * 4


class EncryptOperator(Operator):
    """AES-SIV under its own key (``LETHE_SIV_KEY``); ``lethe`` can reverse it with that key."""

    name = "encrypt"
    writes: ClassVar[frozenset[TypeKind]] = frozenset({"text"})
    recognisable = True

    @classmethod
    def check(cls, options: BaseModel, column: ColumnShape) -> str | None:
        """The pseudonym of the longest (ASCII) value the column can hold must fit the same column."""
        problem = super().check(options, column)
        if problem is None and column.length is not None:
            needed = ciphertext_length(column.length, key_version=99)
            if needed > column.length:
                problem = (
                    f"encrypt output of a {column.length}-character value needs {needed} characters: "
                    "use a TEXT column or hmac"
                )
        return problem
