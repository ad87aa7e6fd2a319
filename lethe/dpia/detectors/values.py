"""Per-value predicates behind ``lethe.dpia.detectors.classify``: each looks at one sample and answers yes or no.

Every predicate takes the sample's text already stripped (and, where the type matters, the raw value), and
returns a boolean only, so nothing that calls them can pass a value on. They are cheap on purpose: a
coverage report runs them on up to about a thousand values for hundreds of columns, so patterns are
precompiled, a cheap first test comes before any regex, and no exception is raised on the common path.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal

# Local part and domain without whitespace, brackets or separators; the top-level domain is letters only.
_EMAIL = re.compile(r"[^\s@<>()\[\],;:\"]+@[^\s@<>()\[\],;:\".][^\s@<>()\[\],;:\"]*\.[A-Za-z]{2,63}")

_PHONE_CHARS = re.compile(r"\+?[0-9 ().\-/]+")
_EXTENSION = re.compile(r"(.+?)\s*(?:x|ext\.?|#)\s*[0-9]{1,6}", re.IGNORECASE)  # "555-1234 x312", "ext. 12"
_DIGIT_GROUPS = re.compile(r"[0-9]+")
_SEPARATORS = re.compile(r"[^0-9]+")
# d-m-y, y-m-d, m/d/y and the US social security layout ddd-dd-dddd all have a 1-2 digit middle group.
_DATE_LIKE = re.compile(r"[0-9]{1,4}[-./ ][0-9]{1,2}[-./ ][0-9]{1,4}")

_CARD = re.compile(r"[0-9](?:[ -]?[0-9]){12,18}")

_IBAN = re.compile(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}")
_IBAN_DIGITS = str.maketrans({chr(ord("A") + i): str(10 + i) for i in range(26)})
# ISO 13616 lengths of the countries most likely to show up; other countries only get the 15-34 range.
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AT": 20, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29, "CH": 21, "CY": 28,
    "CZ": 24, "DE": 22, "DK": 18, "EE": 20, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22,
    "GI": 23, "GL": 18, "GR": 27, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IS": 26, "IT": 27, "JO": 30,
    "KW": 30, "KZ": 20, "LB": 28, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22,
    "MK": 19, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PT": 25, "QA": 29, "RO": 24,
    "RS": 22, "SA": 24, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "TN": 24, "TR": 26, "UA": 29, "XK": 20,
}  # fmt: skip

_IPV4 = re.compile(r"([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})")
_IPV6_CHARS = re.compile(r"[0-9A-Fa-f:.]+")

_SSN = re.compile(r"(?!000|666|9)[0-9]{3}-(?!00)[0-9]{2}-(?!0000)[0-9]{4}")
_NINO = re.compile(r"(?!BG|GB|NK|KN|TN|NT|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z][0-9]{6}[A-D]")
# sex, year, month (01-12, or 20-99 for unknown or special births), department (2A/2B: Corsica), 6, key.
_INSEE = re.compile(r"[12][0-9]{2}(?:0[1-9]|1[0-2]|[2-9][0-9])(?:[0-9]{2}|2[AB])[0-9]{8}")

_PARTICLES = frozenset(
    {"de", "del", "della", "der", "den", "di", "da", "das", "do", "dos", "du", "la", "le", "van", "von"}
    | {"ten", "ter", "bin", "ibn", "al", "el", "y", "zu", "af", "av"}
)
# Capitalised function words mark a title ("The Other Side", "Fast As a Shark"), not a name.
_STOPWORDS = frozenset(
    {"the", "a", "an", "of", "and", "or", "on", "in", "to", "for", "with", "at", "by", "from", "is", "it"}
    | {"my", "your", "you", "me", "we", "our", "this", "that", "all", "not", "no", "be", "are", "as", "so"}
    | {"up", "out", "into", "over", "under", "what", "when", "where", "who", "how", "let", "go", "get"}
)
# Job titles and organisations are capitalised word pairs too ("Sales Manager", "Acme Records").
_NOT_NAME_WORDS = frozenset(
    {"manager", "agent", "staff", "director", "support", "sales", "engineer", "assistant", "officer"}
    | {"president", "department", "team", "group", "service", "services", "company", "music", "records"}
    | {"street", "road", "avenue", "city", "band", "orchestra", "quartet", "ensemble", "shop", "store"}
)
_NAME_PART_EXTRA = frozenset(" -'\u2019.")  # U+2019: the typographic apostrophe

_STREET_WORDS = frozenset(
    {"street", "st", "road", "rd", "avenue", "ave", "av", "avda", "lane", "ln", "way", "drive", "dr"}
    | {"boulevard", "blvd", "bd", "court", "ct", "place", "pl", "square", "sq", "terrace", "crescent"}
    | {"close", "parkway", "pkwy", "highway", "hwy", "circle", "cir", "loop", "alley", "row", "trail"}
    | {"broadway", "strasse", "straße", "str", "weg", "gasse", "allee", "platz", "rue", "chemin", "allée"}
    | {"impasse", "quai", "cours", "route", "calle", "c/", "avenida", "plaza", "paseo", "camino", "ronda"}
    | {"carrera", "rua", "praça", "travessa", "largo", "alameda", "via", "viale", "piazza", "corso"}
    | {"vicolo", "straat", "laan", "gracht", "plein", "vej", "gade", "gata", "gatan", "krt", "ul", "utca"}
    | {"apt", "apartment", "suite", "ste", "unit", "flat", "rambla", "piso", "kade", "singel", "dreef"}
)
# Compound street names: "Theodor-Heuss-Straße", "Hauptstr.", "Ullevålsveien", "Porthaninkatu".
_STREET_SUFFIXES = (
    "strasse", "straße", "str", "weg", "gasse", "allee", "platz", "straat", "laan", "gracht", "plein",
    "vej", "gade", "gatan", "vägen", "veien", "vegen", "katu", "tie", "utca", "ulica", "dreef", "kade",
    "singel", "steeg", "boulevard",
)  # fmt: skip
_HOUSE_NUMBER = re.compile(r"[0-9]{1,5}[a-z]{0,2}|[0-9]{1,5}[/-][0-9]{1,5}[a-z]?")
_ADDRESS_SPLIT = re.compile(r"[\s,]+")
_HAS_DIGIT = re.compile(r"[0-9]")

_ISO_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})(?:[T ][0-9:.]+(?:Z|[+-][0-9:]+)?)?")
_DMY_DATE = re.compile(r"([0-9]{1,2})[./-]([0-9]{1,2})[./-]([0-9]{4})")

_POSTCODE = re.compile(r"(?=.*[0-9])[A-Za-z0-9][A-Za-z0-9 \-]{2,9}")
_COORDINATE = re.compile(r"([+-]?[0-9]{1,3}(?:\.[0-9]+)?)(?:\s*[,;]\s*[+-]?[0-9]{1,3}(?:\.[0-9]+)?)?")
_USERNAME = re.compile(r"(?=.*[A-Za-z])[A-Za-z0-9._@+\-]{2,64}")


def is_email(text: str) -> bool:
    """An email address (``local@domain.tld``)."""
    return "@" in text and _EMAIL.fullmatch(text) is not None


def is_phone(text: str) -> bool:
    """A telephone number: ``+`` and 8-15 digits, or 7-15 digits with separators, or 10-15 starting with 0."""
    maybe_extension = text[-1:].isdigit() and ("x" in text or "X" in text or "#" in text)
    extension = _EXTENSION.fullmatch(text) if maybe_extension else None
    if extension is not None:
        text = extension.group(1)
    if not text or text[0] not in "+(0123456789" or _PHONE_CHARS.fullmatch(text) is None:
        return False
    groups = _DIGIT_GROUPS.findall(text)
    digits = sum(len(g) for g in groups)
    if not 7 <= digits <= 15:
        return False
    if text[0] == "+":
        return digits >= 8 and text[1:2] != "0"
    if len(groups) == 1:
        # Bare digits: only a national number with its trunk 0 (or the 00 international prefix), because
        # integer ids, amounts and zero-padded codes ("0000012345") are bare digits too.
        return digits >= 10 and text[0] == "0" and not text.startswith("000") and text.isdigit()
    if text[0] == "(":
        return text.count("(") == 1 and text.count(")") == 1
    return not _looks_numeric_not_phone(text, groups)


def _looks_numeric_not_phone(text: str, groups: list[str]) -> bool:
    """Dates, dotted quads, decimals and thousands-grouped amounts, which share a phone's characters."""
    if _DATE_LIKE.fullmatch(text):
        return True
    separators = set(_SEPARATORS.findall(text))
    if separators == {"."} and (len(groups) in (2, 4)):
        return True  # "1234567.89", "192.168.10.200"
    thousands = len(separators) == 1 and separators <= {" ", "."} and len(groups[0]) <= 3
    return thousands and text[0] != "0" and all(len(g) == 3 for g in groups[1:])


def luhn_ok(digits: str) -> bool:
    """The Luhn (mod 10) check of a string of ASCII digits."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def is_payment_card(text: str) -> bool:
    """A payment card number: 13-19 digits (spaces or dashes allowed), a card-network first digit, Luhn."""
    if not 13 <= len(text) <= 23 or not text[0].isdigit() or _CARD.fullmatch(text) is None:
        return False
    digits = text.replace(" ", "").replace("-", "")
    # Networks start with 2-6 (Mastercard, Amex/Diners, Visa, Mastercard, Discover); a repeated digit is
    # a placeholder ("0000 0000 0000 0000" passes Luhn).
    if digits[0] not in "23456" or digits.count(digits[0]) == len(digits):
        return False
    return luhn_ok(digits)


def iban_checksum_ok(compact: str) -> bool:
    """The ISO 7064 mod-97 check of an IBAN without spaces, upper case."""
    rearranged = (compact[4:] + compact[:4]).translate(_IBAN_DIGITS)
    return rearranged.isdigit() and int(rearranged) % 97 == 1


def is_iban(text: str) -> bool:
    """An IBAN (spaces allowed): country, check digits, 11-30 alphanumerics, known length, mod 97 == 1."""
    if len(text) < 15 or not text[:2].isalpha():
        return False
    compact = text.replace(" ", "").upper()
    if _IBAN.fullmatch(compact) is None:
        return False
    expected = IBAN_LENGTHS.get(compact[:2])
    if expected is not None and len(compact) != expected:
        return False
    return iban_checksum_ok(compact)


def is_ip_address(text: str) -> bool:
    """A single IPv4 (dotted quad) or IPv6 address; versions such as ``1.2`` and integers are not."""
    quad = _IPV4.fullmatch(text)
    if quad is not None:
        return all(int(octet) <= 255 for octet in quad.groups())
    colons = text.count(":")
    # A full IPv6 address has 7 colons and a shortened one has "::"; times ("10:00:00") have neither.
    if colons < 2 or ("::" not in text and colons != 7) or _IPV6_CHARS.fullmatch(text) is None:
        return False
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def is_national_id(text: str) -> bool:
    """A US social security number (ddd-dd-dddd), a UK NINO or a French INSEE number with a valid key."""
    if len(text) == 11 and text[3:4] == "-":
        return _SSN.fullmatch(text) is not None
    compact = text.replace(" ", "").upper()
    if len(compact) == 9:
        return _NINO.fullmatch(compact) is not None
    if len(compact) == 15 and _INSEE.fullmatch(compact) is not None:
        body = int(compact[:13].replace("2A", "19").replace("2B", "18"))
        return 97 - body % 97 == int(compact[13:])
    return False


def _is_name_word(word: str) -> bool:
    """A capitalised name word ("Zoë", "O'Brien", "Jean-Luc", "McDonald") or an initial ("F.")."""
    if len(word) == 2 and word[1] == "." and word[0].isupper():
        return True
    if len(word) < 2 or not word[0].isupper() or word.isupper():
        return False
    letters = word.replace("-", "").replace("'", "").replace("\u2019", "")
    lowered = word.lower()
    return letters.isalpha() and lowered not in _STOPWORDS and lowered not in _NOT_NAME_WORDS


def is_person_name(text: str) -> bool:
    """A full name: 2-3 capitalised words, with lower-case particles ("van", "de") only inside."""
    if len(text) > 60 or not text[:1].isupper():
        return False
    words = text.split()
    if not 2 <= len(words) <= 5:
        return False
    capitalised = 0
    last = len(words) - 1
    for position, word in enumerate(words):
        if 0 < position < last and word in _PARTICLES:
            continue
        if not _is_name_word(word):
            return False
        capitalised += 1
    return 2 <= capitalised <= 3


def is_name_part(text: str) -> bool:
    """Loosely name-shaped: letters, spaces, hyphens, apostrophes and dots only, at most five words."""
    if len(text) > 80 or text.count(" ") > 4:
        return False
    return any(c.isalpha() for c in text) and all(c.isalpha() or c in _NAME_PART_EXTRA for c in text)


def is_postal_address(text: str) -> bool:
    """A street line: a house number and a street-type word ("Road", "Straße", "Rue", "Calle"...)."""
    if not 5 <= len(text) <= 200 or _HAS_DIGIT.search(text) is None:
        return False
    words = [w.strip(".;#").lower() for w in _ADDRESS_SPLIT.split(text) if w]
    if not 2 <= len(words) <= 14:
        return False
    has_number = any(_HOUSE_NUMBER.fullmatch(w) for w in words)
    return has_number and any(
        w in _STREET_WORDS or (len(w) > 5 and w.endswith(_STREET_SUFFIXES)) for w in words
    )


def is_address_like(text: str) -> bool:
    """Loosely address-shaped: some letters and some digits."""
    return _HAS_DIGIT.search(text) is not None and any(c.isalpha() for c in text)


def as_date(raw: object, text: str) -> date | None:
    """The calendar date of a date, a datetime, or an ISO (y-m-d) or d.m.y / m/d/y string; else None."""
    if isinstance(raw, datetime):
        return raw.date()
    if isinstance(raw, date):
        return raw
    if not 8 <= len(text) <= 35 or not text[0].isdigit():
        return None
    match = _ISO_DATE.fullmatch(text)
    if match is not None:
        year, month, day = (int(g) for g in match.groups())
    else:
        match = _DMY_DATE.fullmatch(text)
        if match is None:
            return None
        day, month, year = (int(g) for g in match.groups())
        if month > 12:  # the US order: m/d/y
            day, month = month, day
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    try:
        return date(year, month, day)
    except ValueError:  # only for impossible days such as 31 April: rare, so outside the hot path
        return None


def birth_date_bounds(today: date) -> tuple[date, date]:
    """The earliest and latest plausible birth dates: 1 Jan 1900 and the day someone turned 13."""
    year = today.year - 13
    latest = today.replace(year=year) if (today.month, today.day) != (2, 29) else date(year, 2, 28)
    return date(1900, 1, 1), latest


def is_birth_date(raw: object, text: str, earliest: date, latest: date) -> bool:
    """A date between ``earliest`` and ``latest`` (a recent date is a record date, not a birth date)."""
    day = as_date(raw, text)
    return day is not None and earliest <= day <= latest


def is_postcode(text: str) -> bool:
    """Postcode-shaped: 3-10 letters, digits, spaces or dashes with at least one digit."""
    return _POSTCODE.fullmatch(text) is not None


def is_coordinate(text: str) -> bool:
    """A latitude or longitude in degrees, or a "lat, lon" pair."""
    match = _COORDINATE.fullmatch(text)
    return match is not None and abs(float(match.group(1))) <= 180


def is_username(text: str) -> bool:
    """Username-shaped: 2-64 letters, digits and ``._@+-`` with at least one letter, no spaces."""
    return _USERNAME.fullmatch(text) is not None


# --- samples and checks --------------------------------------------------------------------------------

Sample = tuple[object, str]  # a value and the text the checks read
Check = Callable[[object, str], bool]


def samples(values: Sequence[object]) -> list[Sample]:
    """Non-null, non-empty values with the text the checks read (empty for dates, bytes and flags)."""
    kept: list[Sample] = []
    for value in values:
        if value is None:
            continue
        if isinstance(value, str):
            text = value.strip()
            if not text:
                continue
        elif isinstance(value, bool):
            text = ""  # before int, since a bool is an int; a flag is never personal data by itself
        elif isinstance(value, int | float | Decimal | ipaddress.IPv4Address | ipaddress.IPv6Address):
            text = str(value)
        else:
            text = ""
        kept.append((value, text))
    return kept


def count(kept: list[Sample], check: Check) -> int:
    """How many samples pass ``check``."""
    return sum(1 for raw, text in kept if check(raw, text))


def on_text(predicate: Callable[[str], bool]) -> Check:
    """A check that only reads the sample's text."""

    def check(raw: object, text: str) -> bool:
        return predicate(text)

    return check


def birth_check(today: date) -> Check:
    """A check for plausible birth dates as of ``today``."""
    earliest, latest = birth_date_bounds(today)

    def check(raw: object, text: str) -> bool:
        return is_birth_date(raw, text, earliest, latest)

    return check


def has_digit(text: str) -> bool:
    """At least one digit."""
    return any(c.isdigit() for c in text)


def has_letter(text: str) -> bool:
    """At least one letter."""
    return any(c.isalpha() for c in text)
