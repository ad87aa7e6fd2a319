"""Personal-data detectors: by column name, by sampled values, and combined, with the false-positive traps.

The value predicates on their own: test_detectors_values.py.
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta
from decimal import Decimal
from ipaddress import ip_address

import pytest
from support.detectors import (
    ADDRESSES,
    ALBUM_TITLES,
    CARDS,
    COMPOSERS,
    EMAILS,
    EMPLOYEE_TITLES,
    IBANS,
    INTEGER_IDS,
    IPS,
    ISO_TIMESTAMPS,
    NATIONAL_IDS,
    OLD_DATES,
    PEOPLE,
    PHONES,
    PRICES,
    SKUS,
    TRACK_NAMES,
)

from lethe.dpia.detectors.classify import Detection, classify_column, detect_by_values
from lethe.dpia.detectors.kinds import SUGGESTED_CATEGORY, PersonalKind
from lethe.dpia.detectors.names import detect_by_name
from lethe.policy.categories import VOCABULARY

K = PersonalKind


def test_every_kind_has_a_known_category() -> None:
    assert set(SUGGESTED_CATEGORY) == set(PersonalKind)
    assert all(category in VOCABULARY for category in SUGGESTED_CATEGORY.values())
    assert SUGGESTED_CATEGORY[K.EMAIL] == "user.contact.email"
    assert str(K.IP_ADDRESS) == "ip_address"


# --- by name -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "kind"),
    [
        ("email", K.EMAIL), ("Email", K.EMAIL), ("EMail", K.EMAIL), ("e_mail", K.EMAIL),
        ("email_address", K.EMAIL), ("emailAddress", K.EMAIL), ("user_email", K.EMAIL), ("courriel", K.EMAIL),
        ("phone", K.PHONE), ("Phone", K.PHONE), ("Fax", K.PHONE), ("PhoneNumber", K.PHONE),
        ("mobile_number", K.PHONE), ("home_phone", K.PHONE), ("telefon", K.PHONE), ("telefono", K.PHONE),
        ("mobile", K.PHONE), ("cell", K.PHONE),
        ("FirstName", K.PERSON_NAME), ("LastName", K.PERSON_NAME), ("full_name", K.PERSON_NAME),
        ("first_name", K.PERSON_NAME), ("last_name", K.PERSON_NAME), ("surname", K.PERSON_NAME),
        ("customer_name", K.PERSON_NAME), ("contact_name", K.PERSON_NAME), ("firstname", K.PERSON_NAME),
        ("vorname", K.PERSON_NAME), ("nachname", K.PERSON_NAME), ("nom", K.PERSON_NAME),
        ("prenom", K.PERSON_NAME), ("prénom", K.PERSON_NAME), ("apellido", K.PERSON_NAME),
        ("Address", K.POSTAL_ADDRESS), ("address", K.POSTAL_ADDRESS), ("BillingAddress", K.POSTAL_ADDRESS),
        ("billing_address", K.POSTAL_ADDRESS), ("street", K.POSTAL_ADDRESS),
        ("address_line1", K.POSTAL_ADDRESS), ("addr2", K.POSTAL_ADDRESS), ("house_number", K.POSTAL_ADDRESS),
        ("Straße", K.POSTAL_ADDRESS), ("adresse", K.POSTAL_ADDRESS),
        ("PostalCode", K.POSTCODE), ("BillingPostalCode", K.POSTCODE), ("postcode", K.POSTCODE),
        ("zip", K.POSTCODE), ("zip_code", K.POSTCODE), ("ZIPCode", K.POSTCODE), ("postal_code", K.POSTCODE),
        ("plz", K.POSTCODE), ("billing_zip", K.POSTCODE),
        ("iban", K.IBAN), ("IBAN", K.IBAN), ("customerIBAN", K.IBAN), ("bank_account", K.IBAN),
        ("card_number", K.PAYMENT_CARD), ("credit_card", K.PAYMENT_CARD), ("cc_number", K.PAYMENT_CARD),
        ("ip", K.IP_ADDRESS), ("ip_address", K.IP_ADDRESS), ("IPAddress", K.IP_ADDRESS),
        ("remote_addr", K.IP_ADDRESS), ("client_ip", K.IP_ADDRESS), ("last_login_ip", K.IP_ADDRESS),
        ("dob", K.BIRTH_DATE), ("birth_date", K.BIRTH_DATE), ("BirthDate", K.BIRTH_DATE),
        ("date_of_birth", K.BIRTH_DATE), ("birthday", K.BIRTH_DATE), ("geburtsdatum", K.BIRTH_DATE),
        ("fecha_nacimiento", K.BIRTH_DATE), ("date_naissance", K.BIRTH_DATE),
        ("ssn", K.NATIONAL_ID), ("national_id", K.NATIONAL_ID), ("passport_number", K.NATIONAL_ID),
        ("tax_id", K.NATIONAL_ID), ("nino", K.NATIONAL_ID), ("insee", K.NATIONAL_ID), ("SSN", K.NATIONAL_ID),
        ("lat", K.GEOLOCATION), ("latitude", K.GEOLOCATION), ("lon", K.GEOLOCATION),
        ("longitude", K.GEOLOCATION), ("lng", K.GEOLOCATION),
        ("username", K.USERNAME), ("login", K.USERNAME), ("user_login", K.USERNAME), ("UserName", K.USERNAME),
    ],
)  # fmt: skip
def test_names_that_announce_personal_data(column: str, kind: PersonalKind) -> None:
    assert detect_by_name(column) == kind


@pytest.mark.parametrize(
    "column",
    [
        # Chinook
        "Title", "Name", "Composer", "UnitPrice", "Milliseconds", "Bytes", "InvoiceDate", "HireDate",
        "BillingCountry", "BillingState", "State", "Country", "Company", "Total",  # cities: test_detectors_places
        "CustomerId", "SupportRepId", "InvoiceLineId", "ReportsTo",
        # generic columns
        "id", "created_at", "updated_at", "createdAt", "status", "total", "quantity", "unit_price", "name",
        "title", "state", "country", "description", "sku", "order_date", "price", "amount",
        # about personal data, not holding it
        "email_verified", "email_verified_at", "is_email_verified", "has_phone", "phone_type",
        "email_count", "email_template", "address_id", "email_id", "user_id", "last_login_at", "address_type",
        "ip_country", "birth_place",
        # look-alikes
        "mac_address", "wallet_address", "web_address", "company_name", "product_name", "file_name",
        "mobile_app_version", "cell_value", "microphone", "zipper", "shipment", "hotel", "pipeline",
    ],
)  # fmt: skip
def test_names_that_do_not(column: str) -> None:
    assert detect_by_name(column) is None


# --- by values -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "kind"),
    [
        (EMAILS, K.EMAIL),
        (PHONES, K.PHONE),
        (IBANS, K.IBAN),
        (CARDS, K.PAYMENT_CARD),
        (IPS, K.IP_ADDRESS),
        ([ip_address("10.1.2.3"), ip_address("10.1.2.4"), ip_address("::1")], K.IP_ADDRESS),
        (NATIONAL_IDS, K.NATIONAL_ID),
        (ADDRESSES, K.POSTAL_ADDRESS),
        (PEOPLE, K.PERSON_NAME),
    ],
)
def test_values_that_look_personal(values: list[object], kind: PersonalKind) -> None:
    found = detect_by_values(values)
    assert found is not None
    assert found[0] == kind
    assert found[2] == len(values)


@pytest.mark.parametrize(
    "values",
    [
        TRACK_NAMES, ALBUM_TITLES, COMPOSERS, EMPLOYEE_TITLES, ISO_TIMESTAMPS, INTEGER_IDS, PRICES, SKUS,
        [1, 2, 3, 4, 5], [Decimal("0.99"), Decimal("1.99"), Decimal("0.99")], [0.99, 1.99, 12.5],
        [True, False, True], OLD_DATES, ["2024-01-15", "2023-12-01", "1970-01-01"], ["1.2", "1.3", "2.0"],
        ["USA", "Germany", "United Kingdom", "Czech Republic"], ["10115", "75001", "SW1A 1AA"],
        [None, None, "", "  "], [],
    ],
)  # fmt: skip
def test_values_that_do_not(values: list[object]) -> None:
    assert detect_by_values(values) is None


def test_values_thresholds() -> None:
    mixed = [*EMAILS[:3], "n/a", "unknown"]  # 3 of 5 = 0.6
    assert detect_by_values(mixed) == (K.EMAIL, 3, 5)
    assert detect_by_values(mixed, min_ratio=0.7) is None
    assert detect_by_values(EMAILS[:2]) is None  # fewer than min_matches
    assert detect_by_values(EMAILS[:2], min_matches=2) == (K.EMAIL, 2, 2)
    assert detect_by_values([None, "", *EMAILS[:3]]) == (K.EMAIL, 3, 3)  # nulls and blanks are not sampled


def test_person_names_need_a_high_ratio_by_values_alone() -> None:
    seventy_percent = [*PEOPLE[:7], "Acme", "Unknown", "n/a"]
    assert detect_by_values(seventy_percent) is None
    assert detect_by_values([*PEOPLE[:9], "n/a"]) == (K.PERSON_NAME, 9, 10)


def test_kinds_narrow_the_value_search() -> None:
    assert detect_by_values(EMAILS, kinds=[K.PHONE]) is None
    assert detect_by_values(OLD_DATES, kinds=[K.BIRTH_DATE]) == (K.BIRTH_DATE, 4, 4)
    assert detect_by_values(OLD_DATES) is None  # dates alone are never birth dates


def test_ties_go_to_the_more_specific_kind() -> None:
    amex = ["3782 822463 10005", "3714 496353 98431", "3787 344936 71000"]  # also phone-shaped
    assert detect_by_values(amex) == (K.PAYMENT_CARD, 3, 3)


# --- combined ------------------------------------------------------------------------------------------


def test_name_and_values_agree() -> None:
    assert classify_column("Email", "text", EMAILS) == Detection(K.EMAIL, "name+values", 0.95, 10, 10)
    assert classify_column("Phone", "text", PHONES) == Detection(K.PHONE, "name+values", 0.95, 5, 5)
    assert classify_column("iban", "text", IBANS) == Detection(K.IBAN, "name+values", 0.95, 3, 3)


@pytest.mark.parametrize(
    ("column", "type_kind", "values", "kind"),
    [
        ("FirstName", "text", ["Luís", "Leonie", "François", "Bjørn", "Jean-Luc"], K.PERSON_NAME),
        ("LastName", "text", ["Gonçalves", "Köhler", "O'Brien", "Hansen"], K.PERSON_NAME),
        ("Address", "text", ADDRESSES, K.POSTAL_ADDRESS),
        ("PostalCode", "text", ["10115", "SW1A 1AA", "T6G 2C7", "12345-6789"], K.POSTCODE),
        ("PostalCode", "integer", [10115, 75001, 14000], K.POSTCODE),
        ("BirthDate", "datetime", [datetime(1962, 2, 18), datetime(1958, 12, 8), datetime(1973, 8, 29)],
         K.BIRTH_DATE),
        ("birth_date", "text", ["1962-02-18", "1958-12-08 00:00:00", "1973-08-29"], K.BIRTH_DATE),
        ("latitude", "numeric", [Decimal("48.8566"), Decimal("-33.87"), 51.5], K.GEOLOCATION),
        ("username", "text", ["jdoe", "alice_92", "bob.smith"], K.USERNAME),
        ("ip_address", "other", [ip_address("10.0.0.1"), ip_address("10.0.0.2"), ip_address("::1")],
         K.IP_ADDRESS),
    ],
)  # fmt: skip
def test_name_confirmed_by_values(
    column: str, type_kind: str, values: list[object], kind: PersonalKind
) -> None:
    detection = classify_column(column, type_kind, values)
    assert detection is not None
    assert (detection.kind, detection.evidence, detection.confidence) == (kind, "name+values", 0.95)


def test_name_only() -> None:
    assert classify_column("email", "text", []) == Detection(K.EMAIL, "name", 0.7, 0, 0)
    assert classify_column("Fax", "text", [None, None]) == Detection(K.PHONE, "name", 0.7, 0, 0)
    # Recent dates: a birth-date column of children, or test data; the name still counts.
    recent = [date.today() - timedelta(days=d) for d in (10, 200, 400)]
    assert classify_column("birth_date", "date", recent) == Detection(K.BIRTH_DATE, "name", 0.7, 0, 3)
    # Phone numbers stored as integers cannot be confirmed, but do not contradict the name either.
    assert classify_column("phone", "integer", [4915112345678, 4930123456]) == Detection(
        K.PHONE, "name", 0.7, 0, 2
    )
    assert classify_column("email", "binary", [b"\x00\x01", b"\x02"]) == Detection(K.EMAIL, "name", 0.7, 0, 2)


def test_values_contradict_the_name() -> None:
    assert classify_column("email", "text", ["1", "2", "3", "4"]) == Detection(K.EMAIL, "name", 0.4, 0, 4)
    assert classify_column("email", "integer", [1, 2, 3]) == Detection(K.EMAIL, "name", 0.4, 0, 3)
    assert classify_column("email", "boolean", []) == Detection(K.EMAIL, "name", 0.4, 0, 0)
    # When the values say clearly what they are, they win over a misleading name.
    assert classify_column("phone", "text", EMAILS) == Detection(K.EMAIL, "values", 0.9, 10, 10)


def test_values_only() -> None:
    values = [*EMAILS[:8], "n/a", "none"]
    assert classify_column("contact_info", "text", values) == Detection(K.EMAIL, "values", 0.72, 8, 10)
    assert classify_column("notes", "text", IBANS) == Detection(K.IBAN, "values", 0.9, 3, 3)


def test_generic_name_columns_relax_the_person_name_ratio() -> None:
    seventy_percent = [*PEOPLE[:7], "Acme", "Unknown", "n/a"]
    detection = classify_column("Name", "text", seventy_percent)
    assert detection is not None
    assert (detection.kind, detection.evidence, detection.matched) == (K.PERSON_NAME, "values", 7)
    assert classify_column("Title", "text", seventy_percent) is None
    assert classify_column("company_name", "text", seventy_percent) is None


@pytest.mark.parametrize(
    ("column", "type_kind", "values"),
    [
        ("Name", "text", TRACK_NAMES),
        ("Title", "text", ALBUM_TITLES),
        ("Title", "text", EMPLOYEE_TITLES),
        ("Composer", "text", COMPOSERS),
        ("UnitPrice", "numeric", [Decimal("0.99"), Decimal("1.99"), Decimal("0.99")]),
        ("Milliseconds", "integer", [343719, 342562, 230619, 252051]),
        ("Bytes", "integer", [11170334, 5510424, 3990994, 4331779]),
        ("InvoiceDate", "datetime", [datetime(2009, 1, 1), datetime(2009, 1, 2), datetime(2013, 12, 22)]),
        ("HireDate", "datetime", [datetime(1962, 8, 14), datetime(1958, 4, 1), datetime(1973, 3, 4)]),
        ("BillingCountry", "text", ["Germany", "Norway", "Brazil", "Canada", "USA", "United Kingdom"]),
        ("created_at", "text", ISO_TIMESTAMPS),
        ("CustomerId", "integer", [1, 2, 3, 4, 5]),
        ("reference", "text", INTEGER_IDS),
        ("price", "text", PRICES),
        ("sku", "text", SKUS),
        ("active", "boolean", [True, False, True]),
        ("payload", "binary", [b"abc", b"def", b"ghi"]),
    ],
)  # fmt: skip
def test_columns_that_are_not_personal(column: str, type_kind: str, values: list[object]) -> None:
    assert classify_column(column, type_kind, values) is None


def test_type_kind_skips_checks_that_cannot_apply() -> None:
    # A text check never runs on a date column, whatever the (stringly) values.
    assert classify_column("notes", "date", EMAILS) is None
    assert classify_column("notes", "integer", EMAILS) is None
    assert classify_column("notes", "unknown-kind", EMAILS) == Detection(K.EMAIL, "values", 0.9, 10, 10)


def test_a_detection_never_holds_a_value() -> None:
    assert [f.name for f in dataclasses.fields(Detection)] == [
        "kind",
        "evidence",
        "confidence",
        "matched",
        "sampled",
    ]
    marker = "ZQXMARKER"
    samples = {
        "email": [f"{marker}{i}@example.com" for i in range(5)],
        "full_name": [f"Jane {marker.title()}" for _ in range(5)],
        "notes": [f"{i} {marker} Street" for i in range(5)],
    }
    for column, values in samples.items():
        detection = classify_column(column, "text", values)
        assert detection is not None
        text = repr(detection) + str(dataclasses.asdict(detection))
        assert marker.lower() not in text.lower()


def test_detection_category() -> None:
    assert Detection(K.IBAN, "values", 0.9, 3, 3).category == "user.financial.bank_account"


def test_numbers_stored_as_integers() -> None:
    cards = [4111111111111111, 5555555555554444, 6011111111111117]
    assert classify_column("col", "integer", cards) == Detection(K.PAYMENT_CARD, "values", 0.9, 3, 3)
    epoch_millis = [1700000000000, 1700000000123, 1712345678901, 1723456789012]
    assert classify_column("col", "integer", epoch_millis) is None
    insee = [184127645108946, 184127645108946, 184127645108946]
    assert classify_column("col", "integer", insee) == Detection(K.NATIONAL_ID, "values", 0.9, 3, 3)
