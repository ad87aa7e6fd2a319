"""The value predicates of the personal-data detectors (lethe/dpia/detectors/values.py): what each accepts.

Classification by column name, by sampled values, and both combined: test_detectors.py.
"""

from __future__ import annotations

from datetime import date, datetime

import pytest
from support.detectors import (
    ADDRESSES,
    CARDS,
    INTEGER_IDS,
    IPS,
    ISO_TIMESTAMPS,
    NATIONAL_IDS,
    PEOPLE,
    PHONES,
    PRICES,
    SKUS,
)

from lethe.dpia.detectors import values as v

# --- value predicates ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["GB82 WEST 1234 5698 7654 32", "DE89370400440532013000", "NL91ABNA0417164300"]
)
def test_iban_valid(text: str) -> None:
    assert v.is_iban(text)


@pytest.mark.parametrize(
    "text",
    [
        "GB82 WEST 1234 5698 7654 33",  # checksum off by one
        "DE89370400440532013001",  # checksum
        "DE88370400440532013000",  # check digits
        "DE8937040044053201300",  # too short for Germany
        "GB82 WEST 1234 5698 7654 3",
        "XX00",
        "SKU-12345",
        "1234567890123456",
    ],
)
def test_iban_invalid(text: str) -> None:
    assert not v.is_iban(text)


def test_luhn() -> None:
    assert v.luhn_ok("4111111111111111")
    assert v.luhn_ok("79927398713")
    assert not v.luhn_ok("4111111111111112")
    assert not v.luhn_ok("79927398710")


@pytest.mark.parametrize("text", CARDS)
def test_payment_card_valid(text: str) -> None:
    assert v.is_payment_card(text)


@pytest.mark.parametrize(
    "text",
    ["4111 1111 1111 1112", "0000 0000 0000 0000", "1700000000000", "411111111111", "4111 1111 1111 1111 1"],
)
def test_payment_card_invalid(text: str) -> None:
    assert not v.is_payment_card(text)


@pytest.mark.parametrize(
    "text",
    [
        *PHONES, "+442079460958", "(555) 123-4567", "555-123-4567", "555.123.4567", "030 1234567",
        "01711234567", "0049301234567", "06 12 34 56 78", "06.12.34.56.78", "+1-347-582-2275x463",
        "001-241-513-6571 ext. 200",
    ],
)  # fmt: skip
def test_phone_valid(text: str) -> None:
    assert v.is_phone(text)


@pytest.mark.parametrize(
    "text",
    [
        *INTEGER_IDS, *PRICES, *ISO_TIMESTAMPS, *SKUS, "2024-01-15", "15.01.2024", "01/15/2024", "1.2",
        "192.168.10.200", "123-45-6789", "4111 1111 1111 1111", "0000012345", "1234567890", "+0123456789",
        "v1.2.3", "12:30:00", "0x12345678", "SKU#12345678",
    ],
)  # fmt: skip
def test_phone_invalid(text: str) -> None:
    assert not v.is_phone(text)


@pytest.mark.parametrize("text", [*IPS, "255.255.255.255", "::1", "2001:0db8:85a3:0000:0000:8a2e:0370:7334"])
def test_ip_valid(text: str) -> None:
    assert v.is_ip_address(text)


@pytest.mark.parametrize(
    "text", ["1.2", "1.2.3", "256.1.1.1", "12345", "10:00:00", "00:1A:2B:3C:4D:5E", "a::b::c"]
)
def test_ip_invalid(text: str) -> None:
    assert not v.is_ip_address(text)


@pytest.mark.parametrize("text", NATIONAL_IDS)
def test_national_id_valid(text: str) -> None:
    assert v.is_national_id(text)


@pytest.mark.parametrize(
    "text",
    [
        "000-12-3456", "666-12-3456", "912-12-3456", "123-00-6789", "123456789", "GB123456A", "AB123456E",
        "1 84 12 76 451 089 47", "SKU-12345", "2024-01-15",
    ],
)  # fmt: skip
def test_national_id_invalid(text: str) -> None:
    assert not v.is_national_id(text)


@pytest.mark.parametrize("text", PEOPLE)
def test_person_name_valid(text: str) -> None:
    assert v.is_person_name(text)


@pytest.mark.parametrize(
    "text",
    [
        "Balls to the Wall", "For Those About To Rock (We Salute You)", "The Other Side", "Fast As a Shark",
        "JOHN SMITH", "Sales Manager", "IT Staff", "Smith", "AC/DC", "Angus Young, Malcolm Young",
        "van Gogh Vincent", "Maria de", "john smith", "Apple Inc.",
    ],
)  # fmt: skip
def test_person_name_invalid(text: str) -> None:
    assert not v.is_person_name(text)


@pytest.mark.parametrize(
    "text",
    [
        *ADDRESSES[:4],
        *ADDRESSES[6:],
        "123 Main St.",
        "4, Rue Milton",
        "Hauptstr. 5",
        "867 Woods Skyway Apt. 604",
    ],
)
def test_postal_address_valid(text: str) -> None:
    assert v.is_postal_address(text)


@pytest.mark.parametrize(
    "text", ["Main Street", "Road-150 Red, 62", "SKU-12345", "12345", "Klanova", "2024-01-15"]
)
def test_postal_address_invalid(text: str) -> None:
    assert not v.is_postal_address(text)


def test_birth_date_bounds() -> None:
    earliest, latest = v.birth_date_bounds(date(2024, 2, 29))
    assert earliest == date(1900, 1, 1)
    assert latest == date(2011, 2, 28)
    assert v.is_birth_date(date(1980, 5, 17), "", earliest, latest)
    assert v.is_birth_date(datetime(1980, 5, 17, 0, 0), "", earliest, latest)
    assert v.is_birth_date("1980-05-17", "1980-05-17", earliest, latest)
    assert v.is_birth_date("17.05.1980", "17.05.1980", earliest, latest)
    assert not v.is_birth_date(date(2020, 1, 1), "", earliest, latest)
    assert not v.is_birth_date(date(1899, 12, 31), "", earliest, latest)
    assert not v.is_birth_date("1980-02-30", "1980-02-30", earliest, latest)
    assert not v.is_birth_date(1980, "1980", earliest, latest)


@pytest.mark.parametrize(
    "predicate",
    [
        v.is_email, v.is_phone, v.is_payment_card, v.is_iban, v.is_ip_address, v.is_national_id,
        v.is_person_name, v.is_name_part, v.is_postal_address, v.is_address_like, v.is_postcode,
        v.is_coordinate, v.is_username,
    ],
)  # fmt: skip
def test_predicates_accept_empty_text(predicate: object) -> None:
    # Dates, bytes and flags reach the text checks with an empty text.
    assert callable(predicate)
    assert predicate("") is False
