"""Personal-data detectors: by column name, by sampled values, and combined, with the false-positive traps."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta
from decimal import Decimal
from ipaddress import ip_address

import pytest

from lethe.dpia.detectors import values as v
from lethe.dpia.detectors.classify import Detection, classify_column, detect_by_values
from lethe.dpia.detectors.kinds import SUGGESTED_CATEGORY, PersonalKind
from lethe.dpia.detectors.names import detect_by_name
from lethe.policy.categories import VOCABULARY

K = PersonalKind

# Chinook-like samples: the classic traps for a detector.
TRACK_NAMES = [
    "For Those About To Rock (We Salute You)", "Balls to the Wall", "Fast As a Shark", "Restless and Wild",
    "Princess of the Dawn", "Put The Finger On You", "Let's Get It Up", "Inject The Venom", "Snowballed",
    "Evil Walks", "C.O.D.", "Breaking The Rules", "Night Of The Long Knives", "Spellbound", "Go Down",
    "Dog Eat Dog", "Let There Be Rock", "Bad Boy Boogie", "Problem Child", "Overdose",
]  # fmt: skip
ALBUM_TITLES = [
    "For Those About To Rock We Salute You", "Balls to the Wall", "Restless and Wild", "Let There Be Rock",
    "Big Ones", "Jagged Little Pill", "Facelift", "Warner 25 Anos", "Plays Metallica By Four Cellos",
    "Audioslave", "Out Of Exile", "BackBeat Soundtrack", "The Best Of Billy Cobham",
]  # fmt: skip
COMPOSERS = [
    "Angus Young, Malcolm Young, Brian Johnson", None, "F. Baltes, S. Kaufman, U. Dirkscneider & W. Hoffman",
    "Steven Tyler, Joe Perry", "Jerry Cantrell", "AC/DC", "Billy Cobham", "Tony Iommi, Ozzy Osbourne",
    "Apocalyptica", "Chris Cornell", "Eric Clapton/Jim Gordon",
]  # fmt: skip
EMPLOYEE_TITLES = [
    "General Manager", "Sales Manager", "Sales Support Agent", "Sales Support Agent", "Sales Support Agent",
    "IT Manager", "IT Staff", "IT Staff",
]  # fmt: skip
PEOPLE = [
    "Luís Gonçalves", "Leonie Köhler", "François Tremblay", "Bjørn Hansen", "František Wichterlová",
    "Helena Holý", "Astrid Gruber", "Daan Peeters", "Kara Nielsen", "Eduardo Martins", "Mark Philips",
    "Ludwig van Beethoven", "Maria de la Cruz", "Jean-Luc Picard", "Seán O'Brien", "John F. Kennedy",
]  # fmt: skip
ADDRESSES = [
    "Av. Brigadeiro Faria Lima, 2170", "Theodor-Heuss-Straße 34", "1498 rue Bélanger", "Ullevålsveien 14",
    "Rilská 3174/6", "Rotenturmstraße 4, 1010 Innere Stadt", "Grétrystraat 63", "Sønder Boulevard 51",
    "Rua Dr. Falcão Filho, 155", "700 W Pender Street", "8210 111 ST NW", "1 Microsoft Way",
]  # fmt: skip
EMAILS = [f"user{i}@example.com" for i in range(10)]
PHONES = ["+55 (12) 3923-5555", "+49 0711 2842222", "+1 (514) 721-4711", "+47 22 44 22 22", "0171 1234567"]
IBANS = ["GB82 WEST 1234 5698 7654 32", "DE89370400440532013000", "FR1420041010050500013M02606"]
CARDS = ["4111 1111 1111 1111", "5555-5555-5555-4444", "378282246310005", "6011111111111117"]
IPS = ["192.168.0.1", "10.0.0.254", "2001:db8::1", "fe80::1ff:fe23:4567:890a"]
NATIONAL_IDS = ["123-45-6789", "AB123456C", "AB 12 34 56 C", "1 84 12 76 451 089 46"]
OLD_DATES = [date(1958, 12, 8), date(1973, 8, 29), date(1947, 9, 19), date(1965, 3, 3)]
ISO_TIMESTAMPS = [
    "2024-01-15T10:00:00Z",
    "2023-12-01T08:30:00+01:00",
    "2021-05-05 12:00:00",
    "2020-02-29T23:59:59",
]
INTEGER_IDS = ["1", "42", "1234567", "12345678", "987654321", "1000000001", "4294967295"]
PRICES = ["0.99", "1.99", "12.50", "1234567.89", "1 234 567", "1,234.00"]
SKUS = ["SKU-12345", "SKU-20391", "SKU-77777", "AB-1234-XY", "P/N 4431"]


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


def test_detection_category() -> None:
    assert Detection(K.IBAN, "values", 0.9, 3, 3).category == "user.financial.bank_account"


def test_numbers_stored_as_integers() -> None:
    cards = [4111111111111111, 5555555555554444, 6011111111111117]
    assert classify_column("col", "integer", cards) == Detection(K.PAYMENT_CARD, "values", 0.9, 3, 3)
    epoch_millis = [1700000000000, 1700000000123, 1712345678901, 1723456789012]
    assert classify_column("col", "integer", epoch_millis) is None
    insee = [184127645108946, 184127645108946, 184127645108946]
    assert classify_column("col", "integer", insee) == Detection(K.NATIONAL_ID, "values", 0.9, 3, 3)
