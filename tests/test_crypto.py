"""Tests of the keyed-crypto helpers: HKDF against RFC 5869, fingerprints, canonical JSON."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, date, datetime

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from lethe.crypto import canonical_json, derive_key, fingerprint, key_id

MASTER = bytes(range(32))


def hkdf_by_hand(ikm: bytes, salt: bytes | None, info: bytes, length: int) -> bytes:
    """RFC 5869 HKDF-SHA256 written out with hmac, independent of the cryptography package."""
    prk = hmac.new(salt if salt is not None else bytes(32), ikm, hashlib.sha256).digest()
    okm, block = b"", b""
    for counter in range(1, -(-length // 32) + 1):
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        okm += block
    return okm[:length]


def test_hand_hkdf_matches_rfc5869_case_1() -> None:
    """The reference implementation itself reproduces RFC 5869 test case 1."""
    okm = hkdf_by_hand(
        bytes.fromhex("0b" * 22),
        bytes.fromhex("000102030405060708090a0b0c"),
        bytes.fromhex("f0f1f2f3f4f5f6f7f8f9"),
        42,
    )
    expected = "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
    assert okm.hex() == expected


def test_derive_key_matches_rfc5869_case_3() -> None:
    """Test case 3 has an empty salt (same as None: HMAC pads keys with zeros) and empty info."""
    okm = derive_key(bytes.fromhex("0b" * 22), "", 42)
    expected = "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"
    assert okm.hex() == expected


def test_derive_key_matches_hand_and_library_hkdf() -> None:
    """derive_key is HKDF-SHA256 with salt None and the purpose as info."""
    purpose = "lethe/ledger/v1"
    library = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode()).derive(MASTER)
    assert derive_key(MASTER, purpose) == library == hkdf_by_hand(MASTER, None, purpose.encode(), 32)


def test_derive_key_separates_purposes_and_masters() -> None:
    """Different purpose or master gives an unrelated key; the length is honoured."""
    assert derive_key(MASTER, "a") != derive_key(MASTER, "b")
    assert derive_key(MASTER, "a") != derive_key(bytes(32), "a")
    assert derive_key(MASTER, "a") == derive_key(MASTER, "a")
    assert len(derive_key(MASTER, "a", 64)) == 64


def test_fingerprint_format_and_value() -> None:
    """fp1: plus 32 hex chars of HMAC-SHA256 over scope, separator and value text."""
    key = hkdf_by_hand(MASTER, None, b"lethe/fingerprint/v1", 32)
    expected = "fp1:" + hmac.new(key, b"shop.customers\x1f42", hashlib.sha256).hexdigest()[:32]
    assert fingerprint(MASTER, "shop.customers", 42) == expected
    assert len(expected) == 4 + 32


def test_fingerprint_is_deterministic_and_keyed() -> None:
    """Same inputs agree; another scope, value or master disagree."""
    base = fingerprint(MASTER, "shop.customers", 42)
    assert fingerprint(MASTER, "shop.customers", 42) == base
    assert fingerprint(MASTER, "shop.orders", 42) != base
    assert fingerprint(MASTER, "shop.customers", 43) != base
    assert fingerprint(bytes(32), "shop.customers", 42) != base


def test_fingerprint_canonical_text() -> None:
    """int and str of the same digits agree (stores disagree on types); None and bytes are distinct."""
    assert fingerprint(MASTER, "s", 7) == fingerprint(MASTER, "s", "7")
    assert fingerprint(MASTER, "s", b"\x01\xff") == fingerprint(MASTER, "s", "01ff")
    none = fingerprint(MASTER, "s", None)
    assert none not in {
        fingerprint(MASTER, "s", "None"),
        fingerprint(MASTER, "s", ""),
        fingerprint(MASTER, "s", "null"),
    }


def test_fingerprint_does_not_contain_the_value() -> None:
    """The output never reveals the input."""
    assert "alice" not in fingerprint(MASTER, "crm.contacts", "alice@example.com")


def test_canonical_json_is_sorted_compact_utf8() -> None:
    """Keys sorted, no spaces, non-ASCII kept as UTF-8, datetimes as ISO 8601."""
    when = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
    data = {"b": 1, "a": [True, None], "é": "ü", "t": when, "d": date(2024, 5, 1)}
    out = canonical_json(data)
    assert out == '{"a":[true,null],"b":1,"d":"2024-05-01","t":"2024-05-01T12:30:00+00:00","é":"ü"}'.encode()
    assert json.loads(out) == {**data, "t": when.isoformat(), "d": "2024-05-01"}
    assert canonical_json({"x": 1, "y": 2}) == canonical_json({"y": 2, "x": 1})


def test_canonical_json_rejects_unknown_types() -> None:
    """Anything without a canonical form is an error, not a silent str()."""
    with pytest.raises(TypeError):
        canonical_json({"x": object()})


def test_key_id_is_a_short_keyed_id_computed_by_hand() -> None:
    """key_id: the first 8 bytes of HMAC-SHA256(key, "lethe key id") in hex; different keys, different ids."""
    key, other = bytes.fromhex("a1" * 32), bytes.fromhex("b2" * 32)
    expected = hmac.new(key, b"lethe key id", hashlib.sha256).hexdigest()[:16]
    assert key_id(key) == expected and len(expected) == 16
    assert key_id(other) != key_id(key)
    assert key.hex()[:16] not in key_id(key)
