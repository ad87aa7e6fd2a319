"""``encrypt``: a reversible deterministic pseudonym (AES-SIV) for approved re-identification.

pseudonym = ``~e{version}:`` + base64url, without padding, of AES-SIV(siv key, UTF-8 of the value) with the
associated data ``{scope}|v{version}``: the same value gives the same pseudonym in one column and key version,
a different one elsewhere, and ``decrypt_pseudonym`` with the same key and scope gives the value back.
Neither PostgreSQL nor MariaDB has AES-SIV, so the rows are rewritten in Python (``in_database = False``).
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Sequence
from typing import Any, ClassVar

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from pydantic import BaseModel

from lethe.errors import OperatorError, SettingsError
from lethe.operators.base import ColumnShape, Expression, Operator, OperatorContext, TypeKind, or_null

SIV_PREFIX = "~e{version}:"
_PSEUDONYM = re.compile(r"~e(?P<version>[1-9][0-9]*):(?P<data>[A-Za-z0-9_-]+)")


def ciphertext_length(plaintext_bytes: int, key_version: int = 1) -> int:
    """Characters of a pseudonym for a plaintext of that many bytes: prefix + base64url(16-byte tag + data)."""
    return len(SIV_PREFIX.format(version=key_version)) + math.ceil((16 + plaintext_bytes) * 4 / 3)


def _associated_data(scope: str, key_version: int) -> list[bytes]:
    """What binds a pseudonym to its column and key version."""
    return [f"{scope}|v{key_version}".encode()]


def _siv(siv_key: bytes) -> AESSIV:
    """The AES-256-SIV cipher (a 64-byte key)."""
    if len(siv_key) != 64:
        raise SettingsError(f"the encrypt operator needs a 64-byte LETHE_SIV_KEY, got {len(siv_key)} bytes")
    return AESSIV(siv_key)


def encrypt_pseudonym(siv_key: bytes, scope: str, value: str, key_version: int = 1) -> str:
    """The pseudonym ``encrypt`` writes for ``value`` in column ``scope``."""
    sealed = _siv(siv_key).encrypt(value.encode("utf-8"), _associated_data(scope, key_version))
    return SIV_PREFIX.format(version=key_version) + base64.urlsafe_b64encode(sealed).rstrip(b"=").decode(
        "ascii"
    )


def decrypt_pseudonym(siv_key: bytes, scope: str, token: str) -> str:
    """The original value of a pseudonym of column ``scope`` (approved re-identification only)."""
    match = _PSEUDONYM.fullmatch(token)
    if match is None:
        raise OperatorError("not an encrypt pseudonym (expected ~e<version>:<base64url>)")
    data = match["data"]
    try:
        sealed = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
        plain = _siv(siv_key).decrypt(sealed, _associated_data(scope, int(match["version"])))
    except (InvalidTag, binascii.Error, ValueError):
        # Wrong key, wrong column, or a damaged pseudonym: AES-SIV cannot tell which.
        raise OperatorError(f"the pseudonym does not decrypt under this key for column {scope}") from None
    return plain.decode("utf-8")


class EncryptOperator(Operator):
    """AES-SIV under its own key (``LETHE_SIV_KEY``); ``lethe`` can reverse it with that key."""

    name = "encrypt"
    writes: ClassVar[frozenset[TypeKind]] = frozenset({"text"})
    recognisable = True
    in_database = False  # no AES-SIV in PostgreSQL or MariaDB

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

    @classmethod
    def sql(
        cls, options: BaseModel, value: Expression, key: Sequence[Expression], ctx: OperatorContext
    ) -> Expression:
        """Not available: the engine rewrites ``in_database = False`` operators in Python."""
        raise NotImplementedError("encrypt runs in Python (no AES-SIV in the databases): use python()")

    @classmethod
    def python(cls, options: BaseModel, value: Any, key: tuple[Any, ...], ctx: OperatorContext) -> Any:
        """``encrypt_pseudonym`` of the value; None stays None."""
        if value is None:
            return None
        return encrypt_pseudonym(_siv_key(ctx), ctx.scope, str(value), ctx.key_version)

    @classmethod
    def applied(cls, options: BaseModel, value: Expression, ctx: OperatorContext) -> Expression | None:
        """NULL, or a pseudonym of this or an earlier key version (never encrypted twice).

        ``~``, ``e``, digits and ``:`` are not special in LIKE, so the patterns need no escaping.
        """
        prefixes = [SIV_PREFIX.format(version=v) for v in range(1, ctx.key_version + 1)]
        return or_null(value, sa.or_(*(value.like(prefix + "%") for prefix in prefixes)), ctx)


def _siv_key(ctx: OperatorContext) -> bytes:
    """The SIV key of the context, or the error saying how to set it."""
    if ctx.siv_key is None:
        raise SettingsError("LETHE_SIV_KEY is not set: the encrypt operator needs a 64-byte key")
    return ctx.siv_key
