"""Leaves: a keyed hash per changed key, canonical across types and engines, sorted into one blob."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from datetime import date, datetime
from decimal import Decimal

import pytest

from lethe.crypto import derive_key, key_id
from lethe.ledger.leaves import (
    LEAF_SIZE,
    encode_key,
    encode_part,
    leaf_maker,
    leaves_of,
    leaves_of_scalars,
    pack,
    table_key,
    unpack,
)

MASTER = bytes.fromhex("ab" * 32)


def test_a_leaf_is_the_truncated_hmac_of_the_tagged_key_under_the_tables_derived_key() -> None:
    key = derive_key(MASTER, "lethe/leaf/v1/shop.customers")
    expected = hmac.new(key, b"i5", hashlib.sha256).digest()[:LEAF_SIZE]
    assert table_key(MASTER, "shop", "customers") == key
    assert leaves_of_scalars(MASTER, "shop", "customers", [5]) == [expected]
    assert leaf_maker(MASTER, "shop", "customers")((5,)) == expected and len(expected) == 16


def test_an_int_and_its_digits_as_text_are_different_leaves() -> None:
    (as_int,) = leaves_of_scalars(MASTER, "db", "t", [5])
    (as_text,) = leaves_of_scalars(MASTER, "db", "t", ["5"])
    assert as_int != as_text
    assert encode_part(5) == b"i5" and encode_part("5") == b"s5"


@pytest.mark.parametrize(
    ("value", "same_as"),
    [
        (Decimal("5"), 5),  # NUMERIC keys come back as Decimal on servers, int on SQLite
        (Decimal("5.00"), 5),
        (uuid.UUID("12345678-1234-5678-1234-567812345678"), "12345678-1234-5678-1234-567812345678"),
        (True, 1),
    ],
)
def test_values_engines_return_in_different_types_give_the_same_leaf(value: object, same_as: object) -> None:
    assert encode_part(value) == encode_part(same_as)
    assert leaves_of_scalars(MASTER, "db", "t", [value]) == leaves_of_scalars(MASTER, "db", "t", [same_as])


def test_every_kind_of_part_has_its_own_tag() -> None:
    parts = [None, 7, "7", b"7", Decimal("7.5"), date(2026, 1, 2), datetime(2026, 1, 2, 3, 4)]
    encoded = [encode_part(p) for p in parts]
    assert [e[:1] for e in encoded] == [b"n", b"i", b"s", b"b", b"d", b"t", b"t"]
    assert len(set(encoded)) == len(parts)
    with pytest.raises(TypeError):
        encode_part(object())


def test_composite_keys_are_length_prefixed_so_parts_never_run_together() -> None:
    assert encode_key(("ab", "c")) != encode_key(("a", "bc"))
    assert encode_key((1, "x")) == b"i\x00\x00\x00\x011s\x00\x00\x00\x01x"
    assert encode_key((5,)) == encode_part(5)  # a one-column key is its one part
    assert leaves_of(MASTER, "db", "t", [("ab", "c")]) != leaves_of(MASTER, "db", "t", [("a", "bc")])


def test_tables_and_master_keys_give_different_leaves() -> None:
    base = leaves_of_scalars(MASTER, "db", "t", [1])
    assert base != leaves_of_scalars(MASTER, "db", "u", [1])
    assert base != leaves_of_scalars(MASTER, "other", "t", [1])
    assert base != leaves_of_scalars(bytes.fromhex("cd" * 32), "db", "t", [1])


def test_leaves_are_sorted_and_pack_into_one_blob_that_unpacks_to_them() -> None:
    leaves = leaves_of_scalars(MASTER, "db", "t", range(1000))
    assert leaves == sorted(leaves) and len(set(leaves)) == 1000
    assert leaves == leaves_of(MASTER, "db", "t", [(i,) for i in range(1000)])
    blob = pack(leaves)
    assert len(blob) == 1000 * LEAF_SIZE and unpack(blob) == leaves
    with pytest.raises(ValueError, match="whole number"):
        unpack(blob[:-1])


def test_key_id_is_a_short_stable_name_of_the_master_key() -> None:
    expected = hmac.new(MASTER, b"lethe key id", hashlib.sha256).hexdigest()[:16]
    assert key_id(MASTER) == expected
    assert key_id(bytes.fromhex("cd" * 32)) != expected
