"""How a request's identifier becomes the values a subject is looked up by.

An identifier is text a person typed or pasted: the subject's key or a lookup value such as the email.

* **Hostile or impossible input.** An identifier that cannot be a value of a column is not compared with
  that column: text that is not an integer in ASCII digits (``'²'``, ``'١٢٣'``) or outside the range of an
  integer column, text longer than a string column holds. One that can be no identifier at all (empty,
  containing NUL, not valid Unicode) matches nobody. So an identifier never reaches the driver in a form it
  would refuse (a driver error quotes the value), and nothing here names the identifier in a message.
* **Pseudonymised subjects.** Retention (or an earlier erasure) may have rewritten a lookup column with the
  ``hmac`` operator: the row no longer holds the email, but the token ``hmac_token(email)``. Lethe holds the
  key, so a lookup by the original email also compares the column with the tokens the policy's ``hmac``
  operators on that column would have written: scope ``store.table.column``, each operator's ``length``,
  every key version from 1 to the current one. The tokens are computed here, in Python, and compared by
  equality, so the lookup still uses the column's index.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from lethe.errors import SchemaMismatchError
from lethe.operators.hmac import HmacOperator, HmacOptions, hmac_token
from lethe.policy.model import Policy, TableRef
from lethe.settings import Settings

_ASCII_INTEGER = re.compile(r"[+-]?[0-9]+")  # int() would also read other scripts' digits
# Bits of integer types by SQL name; SQLite stores every INTEGER in up to 8 bytes.
_INTEGER_BITS = {"TINYINT": 8, "SMALLINT": 16, "MEDIUMINT": 24, "INTEGER": 32, "INT": 32, "BIGINT": 64}


def can_identify(identifier: str) -> bool:
    """False for text that identifies nobody: empty or blank, containing NUL, or not valid Unicode."""
    if not identifier.strip() or "\x00" in identifier:
        return False
    try:
        identifier.encode("utf-8")  # lone surrogates (undecodable bytes of a command line) cannot be stored
    except UnicodeEncodeError:
        return False
    return True


def integer_bounds(sql_type: sa.types.TypeEngine[Any], dialect: str) -> tuple[int, int]:
    """The smallest and largest value an integer column of this type holds on this engine."""
    if dialect == "sqlite" or isinstance(sql_type, sa.BigInteger):
        bits = 64
    elif isinstance(sql_type, sa.SmallInteger):
        bits = 16
    else:
        bits = _INTEGER_BITS.get(str(sql_type.__visit_name__).upper(), 64)
    if getattr(sql_type, "unsigned", False):
        return 0, 2**bits - 1
    return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1


def column_value(column: sa.Column[Any], identifier: str, dialect: str) -> Any:
    """The identifier as a value of the column's type, or None when it cannot be one."""
    sql_type = column.type
    if isinstance(sql_type, sa.Integer):
        text = identifier.strip()
        if not _ASCII_INTEGER.fullmatch(text):
            return None
        low, high = integer_bounds(sql_type, dialect)
        value = int(text)
        return value if low <= value <= high else None
    if isinstance(sql_type, sa.String):
        length = sql_type.length
        return identifier if length is None or len(identifier) <= length else None
    if isinstance(sql_type, sa.Uuid):
        try:
            parsed = uuid.UUID(identifier.strip())
        except ValueError:
            return None
        return parsed if sql_type.as_uuid else str(parsed)
    raise SchemaMismatchError(
        f"identifier column {column.name} has a type ({column.type}) requests cannot match"
    )


@dataclass(frozen=True)
class TokenLookup:
    """The ``hmac`` tokens the policy may have written into the lookup columns of one identity table."""

    master_key: bytes = field(repr=False)
    key_version: int
    table_scope: str  # store.table, as retention and erasure scope their operators
    lengths: dict[str, tuple[int, ...]]  # per lookup column, the digest lengths of its hmac operators

    def tokens(self, column: str, identifier: str) -> list[str]:
        """Every token ``identifier`` may have become in ``column``, for key versions 1..current."""
        scope = f"{self.table_scope}.{column}"
        return [
            hmac_token(self.master_key, scope, identifier, version, length)
            for length in self.lengths.get(column, ())
            for version in range(1, self.key_version + 1)
        ]


def token_lookup(policy: Policy, settings: Settings | None, subject: str, table: str) -> TokenLookup | None:
    """The tokens of ``subject``'s lookup columns (identity table named ``table`` as reflected), or None
    when no ``hmac`` operator of the policy (retention or erasure) writes one, or there is no key."""
    if settings is None or settings.master_key is None:
        return None
    definition = policy.subjects[subject]
    ref = TableRef(store=definition.store, table=definition.table)
    rewrites = [rule.columns for rule in policy.retention if rule.table == ref and rule.action == "anonymise"]
    erasure = definition.erasure.tables.get(ref)
    if erasure is not None:
        rewrites.append(erasure.columns)
    lengths: dict[str, set[int]] = {}
    for columns in rewrites:
        for name in definition.lookup:
            action = columns.get(name)
            if action is not None and action.operator == HmacOperator.name:
                assert isinstance(action.options, HmacOptions)
                lengths.setdefault(name, set()).add(action.options.length)
    if not lengths:
        return None
    return TokenLookup(
        settings.master_key,
        settings.key_version,
        f"{definition.store}.{table}",
        {name: tuple(sorted(found)) for name, found in lengths.items()},
    )


def lookup_values(
    column: sa.Column[Any], identifier: str, dialect: str, tokens: TokenLookup | None = None
) -> list[Any]:
    """The values ``column`` is compared with: the identifier as the column's type, and its tokens."""
    value = column_value(column, identifier, dialect)
    values = [] if value is None else [value]
    if tokens is not None and isinstance(column.type, sa.String):
        values += [t for t in tokens.tokens(column.name, identifier) if column_value(column, t, dialect)]
    return values
