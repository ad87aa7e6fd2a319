"""Small keyed-crypto helpers shared by tokens, fingerprints and the evidence ledger.

Everything derives from one secret per purpose via HKDF, so a key is never reused across purposes, and
nothing here can be reversed: fingerprints name a key value in logs and in the ledger without revealing it.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import date, datetime, time

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

FINGERPRINT_PREFIX = "fp1:"
_FINGERPRINT_PURPOSE = "lethe/fingerprint/v1"
# Unit separator: cannot appear in a scope like "shop.customers", so scope and value never run together.
_SCOPE_SEPARATOR = b"\x1f"
# A text no str(value) of a real key produces, so None never collides with the string "None".
_NULL_TEXT = "\x00null"


def derive_key(master: bytes, purpose: str, length: int = 32) -> bytes:
    """Derive a per-purpose key (HKDF-SHA256) so one master key serves tokens, fingerprints and the
    ledger without reuse."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=purpose.encode("utf-8"))
    return hkdf.derive(master)


def _canonical_text(value: object) -> str:
    """Text form of a key value; int and str of the same digits agree, since stores disagree on types."""
    if value is None:
        return _NULL_TEXT
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    return str(value)


@functools.lru_cache(maxsize=8)
def _fingerprint_key(master: bytes) -> bytes:
    """The fingerprint key of a master key, derived once: runs fingerprint keys by the million."""
    return derive_key(master, _FINGERPRINT_PURPOSE)


def fingerprint(master: bytes, scope: str, value: object) -> str:
    """Keyed, irreversible fingerprint of a key value in a scope (e.g. ``shop.customers``)."""
    key = _fingerprint_key(master)
    message = scope.encode("utf-8") + _SCOPE_SEPARATOR + _canonical_text(value).encode("utf-8")
    # 128 bits is plenty to tell keys apart and keeps log lines short.
    return FINGERPRINT_PREFIX + hmac.new(key, message, hashlib.sha256).hexdigest()[:32]


def _json_default(obj: object) -> str:
    """Serialise datetimes as ISO 8601; anything else unknown is a programming error."""
    if isinstance(obj, datetime | date | time):
        return obj.isoformat()
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def canonical_json(obj: object) -> bytes:
    """Deterministic UTF-8 JSON (sorted keys, no spaces) for hashing and MACs."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_json_default)
    return text.encode("utf-8")


def fingerprinter(master: bytes, scope: str) -> Callable[[object], str]:
    """A fast ``fingerprint`` for many values of one scope: the key is derived once, not per value."""
    key = derive_key(master, _FINGERPRINT_PURPOSE)
    base = hmac.new(key, scope.encode("utf-8") + _SCOPE_SEPARATOR, hashlib.sha256)

    def fingerprint_one(value: object) -> str:
        mac = base.copy()
        mac.update(_canonical_text(value).encode("utf-8"))
        return FINGERPRINT_PREFIX + mac.hexdigest()[:32]

    return fingerprint_one


_KEY_ID_MESSAGE = b"lethe key id"


@functools.lru_cache(maxsize=8)
def key_id(master_key: bytes) -> str:
    """A short public name of a master key (16 hex digits of ``HMAC(key, "lethe key id")``).

    Recorded with evidence so that a key changed mid-way shows as a different id; it reveals nothing of the key.
    """
    return hmac.new(master_key, _KEY_ID_MESSAGE, hashlib.sha256).hexdigest()[:16]
