"""Does a column look like personal data? Judged by its name and by a sample of its values.

``lethe validate`` reports the columns that look personal but that the data map does not declare. Nothing
here touches a database: the caller passes a column's name, its coarse type kind and the values it sampled.
A :class:`Detection` carries a kind, the evidence, a confidence and counts, never a value.

By name: the name is split into lower-case tokens (``BillingPostalCode`` -> billing, postal, code) and
compared with English names and a few German, French and Spanish ones. Unambiguous words ("email",
"first name", "iban") count anywhere in the name; ambiguous ones ("address", "zip", "fax", "login") only
when they are the whole name once role words ("billing", "home") and "number" are set aside. Plain
"name" and "title" say nothing on their own. By values: a kind is found when at least ``min_matches``
values and ``min_ratio`` of the non-empty ones match it; person names need 0.9 unless the column name is a
generic one ("name", "contact"). Birth dates, postcodes, cities, coordinates and usernames are never decided
by values alone: any date, short code or capitalised word would match.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Literal

from lethe.dpia.detectors import values as v


class PersonalKind(StrEnum):
    """A kind of personal data a column can hold."""

    EMAIL = "email"
    PHONE = "phone"
    PERSON_NAME = "person_name"
    POSTAL_ADDRESS = "postal_address"
    POSTCODE = "postcode"
    CITY = "city"
    IBAN = "iban"
    PAYMENT_CARD = "payment_card"
    IP_ADDRESS = "ip_address"
    BIRTH_DATE = "birth_date"
    NATIONAL_ID = "national_id"
    GEOLOCATION = "geolocation"
    USERNAME = "username"


_K = PersonalKind  # short alias for the tables below

SUGGESTED_CATEGORY: dict[PersonalKind, str] = {
    _K.EMAIL: "user.contact.email",
    _K.PHONE: "user.contact.phone_number",
    _K.PERSON_NAME: "user.name",
    _K.POSTAL_ADDRESS: "user.contact.address",
    _K.POSTCODE: "user.contact.address.postal_code",
    _K.CITY: "user.contact.address.city",
    _K.IBAN: "user.financial.bank_account",
    _K.PAYMENT_CARD: "user.financial.credit_card",
    _K.IP_ADDRESS: "user.device.ip_address",
    _K.BIRTH_DATE: "user.demographic.date_of_birth",
    _K.NATIONAL_ID: "user.government_id",
    _K.GEOLOCATION: "user.location",
    _K.USERNAME: "user.account.username",
}

Evidence = Literal["name", "values", "name+values"]
CONFIDENCE_BOTH = 0.95
CONFIDENCE_NAME = 0.7
CONFIDENCE_CONTRADICTED = 0.4
VALUES_WEIGHT = 0.9  # confidence of a values-only detection = match ratio * this
PERSON_NAME_RATIO = 0.9  # person names by values alone, when the column name is not a generic one
CONTRADICTION_RATIO = 0.2  # below this share of plausible values, the values contradict the name


@dataclass(frozen=True, slots=True)
class Detection:
    """Why a column looks personal; counts only, never a sampled value."""

    kind: PersonalKind
    evidence: Evidence
    confidence: float  # 0..1
    matched: int  # sampled values that matched (0 when the evidence is the name alone)
    sampled: int  # non-null, non-empty values examined

    @property
    def category(self) -> str:
        """The suggested data category."""
        return SUGGESTED_CATEGORY[self.kind]


# --- by name -------------------------------------------------------------------------------------------

_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")

# A column about the data rather than holding it: "email_verified", "phone_type", "is_email", "created_at".
_DISQUALIFY = frozenset(
    {"verified", "confirmed", "validated", "valid", "count", "enabled", "disabled", "opt", "optin", "optout"}
    | {"consent", "status", "type", "kind", "sent", "bounced", "bounce", "template", "format", "frequency"}
    | {"notification", "notifications", "preference", "preferences", "setting", "settings", "provider"}
    | {"domain", "country", "region", "flag", "allowed", "required", "visible", "visibility", "model"}
    | {"brand", "version", "expiry", "expires", "expiration", "issued", "length", "policy", "subject"}
    | {"body", "header", "changed", "updated", "created", "deleted", "modified", "range", "mask"}
)
_LEADING_FLAGS = frozenset(
    {"is", "has", "can", "should", "allow", "use", "uses", "send", "num", "n", "total"}
)
_TEMPORAL = frozenset({"date", "time", "timestamp", "ts", "datetime", "dt", "at", "on", "year", "month"})
_ID_SUFFIX = frozenset({"id", "ids", "fk", "pk", "key", "ref", "uuid", "guid", "idx", "seq"})
# Set aside before an ambiguous word is compared with the whole name: "billing_zip", "mobile_number".
_ROLE_PREFIX = frozenset(
    {"billing", "bill", "shipping", "ship", "delivery", "home", "work", "office", "business", "personal"}
    | {"private", "primary", "secondary", "main", "alt", "alternate", "alternative", "other", "contact"}
    | {"customer", "cust", "user", "client", "member", "employee", "emergency", "current", "permanent"}
    | {"mailing", "residential", "legal", "invoice", "registered", "default", "new", "old", "previous"}
    | {"owner", "holder", "patient", "guest", "buyer", "seller", "recipient", "sender", "person", "profile"}
)
_NUMBER_SUFFIX = frozenset({"number", "numbers", "no", "nr", "num", "nbr", "nummer", "numero"})

_BIRTH_TOKENS = frozenset(
    {"dob", "birthdate", "birthday", "birthdt", "birthyear", "yob", "geburtsdatum", "geburtstag"}
    | {"geburtsjahr", "gebdatum"}
)
_BIRTH_WORDS = frozenset({"birth", "naissance", "nacimiento", "nascita", "geburt"})
_BIRTH_NOT_DATE = frozenset({"place", "city", "country", "town", "location", "name", "lieu", "lugar"})

_PERSON_ROLES = (
    "first|last|full|given|family|middle|maiden|sur|fore|birth|legal|real|display|customer|contact|person"
    "|employee|client|member|patient|owner|holder|cardholder|account holder|recipient|sender|guest|student"
    "|parent|buyer|passenger|driver|applicant|candidate|billing|shipping"
)


@dataclass(frozen=True)
class _NameRule:
    """Names of one kind: token runs that count anywhere, and core names that count only alone."""

    kind: PersonalKind
    anywhere: tuple[tuple[str, ...], ...]
    alone: frozenset[tuple[str, ...]]


def _rule(kind: PersonalKind, anywhere: str, alone: str = "") -> _NameRule:
    """A rule from ``|``-separated, space-tokenised names (readable tables, parsed once at import)."""
    runs = tuple(tuple(p.split()) for p in anywhere.split("|") if p)
    return _NameRule(kind, runs, frozenset(tuple(p.split()) for p in alone.split("|") if p))


# In priority order: "email_address" is an email, "ip_address" an IP address, before "address" is postal.
_RULES: tuple[_NameRule, ...] = (
    _rule(
        _K.NATIONAL_ID,
        "ssn|social security|national id|national identifier|national insurance|nino|ni number|insee|nir"
        "|passport|tax id|tax number|tax identification|steuer id|steuernummer|steuer identifikationsnummer"
        "|personalausweis|ausweisnummer|id card|identity card|identity number|dni|nie|nif|cpf|curp|bsn"
        "|pesel|codice fiscale|personnummer|numero securite sociale|securite sociale|driver license"
        "|drivers license|driving licence|driving license|driver licence",
        "sin|tin",
    ),
    _rule(_K.EMAIL, "email|emails|e mail|courriel|correo electronico|mail address", "mail|mails|correo"),
    _rule(
        _K.IP_ADDRESS,
        "ip|ips|ipv4|ipv6|ip4|ip6|ip address|ipaddr|ip addr|remote addr|remote address|client addr"
        "|client address|forwarded for",
    ),
    _rule(
        _K.USERNAME,
        "username|user name|login name|screen name|nickname|nick name|nicename|user handle|user login"
        "|benutzername|nom utilisateur|nom d utilisateur|nombre usuario|nombre de usuario",
        "login|handle|usuario|nick",
    ),
    _rule(_K.IBAN, "iban|bban|bank account|kontonummer|konto nummer|rib|cuenta bancaria|numero de cuenta"),
    _rule(
        _K.PAYMENT_CARD,
        "card number|card no|card num|credit card|debit card|cc number|cc num|ccnum|cc no|cvv|cvc|cvv2|cvc2"
        "|card pan|kreditkarte|kreditkartennummer|carte bancaire|numero tarjeta",
        "pan",
    ),
    _rule(
        _K.PHONE,
        "phone|phones|telephone|telephones|telefon|telefono|telefone|telefonnummer|telefonnr|handynummer"
        "|mobilnummer|msisdn|mobile number|mobile phone|cell phone|cell number|fax number|telefax|tel no"
        "|tel nr|tel number",
        "mobile|mobil|cell|fax|tel|handy|portable|movil|celular|gsm|landline",
    ),
    _rule(
        _K.PERSON_NAME,
        "|".join(f"{role} name" for role in _PERSON_ROLES.split("|"))
        + "|surname|forename|fname|lname|vorname|nachname|familienname|prenom|apellido|apellidos|cognome"
        "|nom de famille|nombre completo|nombre y apellidos|name first|name last|name full",
        "nom",
    ),
    _rule(
        _K.POSTCODE,
        "postcode|post code|postal code|zip code|zip4|postleitzahl|code postal|codigo postal",
        "zip|plz",
    ),
    _rule(
        _K.POSTAL_ADDRESS,
        "street|streets|street address|address line|addr line|house number|hausnummer|strasse|anschrift"
        "|adresse|direccion|indirizzo|endereco|postal address|mailing address|home address|billing address"
        "|shipping address|delivery address|residential address",
        "address|addresses|addr|rue|calle|domicile|domicilio",
    ),
    # Place names count only as whole words ("BillingCity", "home_town"), so "capacity", "ethnicity" and
    # "township" never match; alone, since "city_code" or "locality_type" describe places, not a person's.
    _rule(
        _K.CITY,
        "city name|town name|postal town|post town|hometown|home town|wohnort|ville de residence",
        "city|town|locality|municipality|ville|ciudad|stadt|ort|wohnort|gemeinde|comune|citta|municipio"
        "|localidad|localite|commune",
    ),
    _rule(
        _K.GEOLOCATION,
        "latitude|longitude|geolocation|geo location|geo point|geo position|coordinates|coords|gps|lat lng"
        "|lat lon|lat long|breitengrad|laengengrad",
        "lat|lon|lng|long|geo",
    ),
)

# Column names under which a capitalised word pair is probably a person ("name", "contact", "customer").
_GENERIC_PERSON = frozenset(
    {"name", "names", "nombre", "nome", "contact", "customer", "person", "people", "owner", "holder"}
    | {"client", "member", "recipient", "sender", "guest", "patient", "employee", "author", "kunde"}
)
_NOT_PERSON = frozenset(
    {"company", "product", "file", "table", "album", "track", "song", "genre", "brand", "category", "city"}
    | {"country", "street", "domain", "host", "server", "app", "business", "organisation", "organization"}
    | {"org", "firm", "shop", "store", "project", "team", "group", "department", "item", "model", "device"}
    | {"role", "plan", "event", "campaign", "bank", "title", "artist", "playlist", "media", "column"}
)


def name_tokens(column: str) -> tuple[str, ...]:
    """Lower-case ASCII tokens of a column name: camelCase, PascalCase, snake_case and kebab-case alike."""
    decomposed = unicodedata.normalize("NFKD", column.replace("ß", "ss").replace("ẞ", "SS"))
    ascii_name = "".join(c for c in decomposed if not unicodedata.combining(c))
    return tuple(t.lower() for t in _CAMEL.findall(ascii_name))


def _contains(tokens: tuple[str, ...], run: tuple[str, ...]) -> bool:
    """``run`` occurs in ``tokens``, as consecutive tokens or written as one ("firstname")."""
    width = len(run)
    if width > 1 and "".join(run) in tokens:
        return True
    return any(tokens[i : i + width] == run for i in range(len(tokens) - width + 1))


def _core(tokens: tuple[str, ...]) -> tuple[str, ...]:
    """The tokens without leading role words and trailing number words or digits."""
    start, end = 0, len(tokens)
    while start < end and tokens[start] in _ROLE_PREFIX:
        start += 1
    while end > start and (tokens[end - 1] in _NUMBER_SUFFIX or tokens[end - 1].isdigit()):
        end -= 1
    return tokens[start:end]


def _is_birth_date_name(tokens: tuple[str, ...]) -> bool:
    """``dob``, ``birth_date``, ``BirthDate``, ``date_of_birth``, ``geburtsdatum``, ``fecha_nacimiento``."""
    if any(t in _BIRTH_TOKENS for t in tokens):
        return True
    return any(t in _BIRTH_WORDS for t in tokens) and not any(t in _BIRTH_NOT_DATE for t in tokens)


def detect_by_name(column: str) -> PersonalKind | None:
    """The kind of personal data a column's name announces, or None when the name alone does not say."""
    tokens = name_tokens(column)
    if not tokens or tokens[0] in _LEADING_FLAGS or any(t in _DISQUALIFY for t in tokens):
        return None
    # Before the temporal check, because a birth date is a date.
    if _is_birth_date_name(tokens):
        return _K.BIRTH_DATE
    if any(t in _TEMPORAL for t in tokens):
        return None  # "email_sent_on", "login_at": when something happened, not who
    core = _core(tokens)
    for rule in _RULES:
        if any(_contains(tokens, run) for run in rule.anywhere) or core in rule.alone:
            return rule.kind
        if rule.kind is _K.NATIONAL_ID and tokens[-1] in _ID_SUFFIX:
            return None  # "email_id", "address_id": a reference to a row, not the data itself
    return None


def _generic_person_name(column: str) -> bool:
    """The column's name is one under which capitalised word pairs are probably people."""
    tokens = set(name_tokens(column))
    return bool(tokens & _GENERIC_PERSON) and not tokens & _NOT_PERSON


# --- by values -----------------------------------------------------------------------------------------

# Kinds found by values alone, by priority when two match as many values (an SSN is not a phone).
VALUE_KINDS: tuple[PersonalKind, ...] = (
    _K.EMAIL, _K.IBAN, _K.PAYMENT_CARD, _K.IP_ADDRESS, _K.NATIONAL_ID, _K.PHONE, _K.POSTAL_ADDRESS,
    _K.PERSON_NAME,
)  # fmt: skip
_PRIORITY = (*VALUE_KINDS, _K.BIRTH_DATE, _K.POSTCODE, _K.CITY, _K.GEOLOCATION, _K.USERNAME)
_STRICT: dict[PersonalKind, v.Check] = {
    _K.EMAIL: v.on_text(v.is_email),
    _K.IBAN: v.on_text(v.is_iban),
    _K.PAYMENT_CARD: v.on_text(v.is_payment_card),
    _K.IP_ADDRESS: v.on_text(v.is_ip_address),
    _K.NATIONAL_ID: v.on_text(v.is_national_id),
    _K.PHONE: v.on_text(v.is_phone),
    _K.POSTAL_ADDRESS: v.on_text(v.is_postal_address),
    _K.PERSON_NAME: v.on_text(v.is_person_name),
}
# Checks that confirm a kind the name announced, looser where one value may be partial ("Smith"); also what
# ``detect_by_values`` runs for kinds that are never decided by values alone.
_CONFIRM: dict[PersonalKind, v.Check] = {
    **_STRICT,
    _K.PERSON_NAME: v.on_text(v.is_name_part),
    _K.POSTAL_ADDRESS: v.on_text(v.is_address_like),
    _K.POSTCODE: v.on_text(v.is_postcode),
    _K.CITY: v.on_text(v.is_name_part),  # "São Paulo", "Saint-Étienne", "St. Louis"
    _K.GEOLOCATION: v.on_text(v.is_coordinate),
    _K.USERNAME: v.on_text(v.is_username),
}
# What any value of the kind must look like; when almost no value does, the values contradict the name.
_PLAUSIBLE: dict[PersonalKind, v.Check] = {
    _K.EMAIL: v.on_text(lambda t: "@" in t),
    _K.PHONE: v.on_text(lambda t: sum(c.isdigit() for c in t) >= 6),
    _K.PERSON_NAME: v.on_text(v.has_letter),
    _K.POSTAL_ADDRESS: v.on_text(v.has_letter),
    _K.POSTCODE: v.on_text(lambda t: len(t) <= 12 and v.has_digit(t)),
    _K.CITY: v.on_text(lambda t: sum(c.isalpha() for c in t) > sum(c.isdigit() for c in t)),
    _K.IBAN: v.on_text(lambda t: t[:2].isalpha() and len(t) >= 15),
    _K.PAYMENT_CARD: v.on_text(v.has_digit),
    _K.IP_ADDRESS: v.on_text(lambda t: "." in t or ":" in t),
    _K.BIRTH_DATE: lambda raw, t: isinstance(raw, date) or v.has_digit(t),
    _K.NATIONAL_ID: v.on_text(v.has_digit),
    _K.GEOLOCATION: v.on_text(v.has_digit),
    _K.USERNAME: v.on_text(bool),
}

_ALL = frozenset(_K)
# Kinds whose value checks can apply to a type kind (no email check on integers); text and other: all.
_CHECKABLE: dict[str, frozenset[PersonalKind]] = {
    "integer": frozenset({_K.PAYMENT_CARD, _K.NATIONAL_ID, _K.POSTCODE, _K.PHONE}),
    "numeric": frozenset({_K.GEOLOCATION}),
    "date": frozenset({_K.BIRTH_DATE}),
    "datetime": frozenset({_K.BIRTH_DATE}),
    "boolean": frozenset(),
    "binary": frozenset(),  # encrypted or encoded: the name decides
}
# Kinds a column of the type can hold at all (text, other, binary: all); the type can contradict a name.
_NUMBER_KINDS = frozenset(
    {_K.PHONE, _K.PAYMENT_CARD, _K.IP_ADDRESS, _K.NATIONAL_ID, _K.POSTCODE, _K.BIRTH_DATE, _K.GEOLOCATION}
)
_CAN_HOLD: dict[str, frozenset[PersonalKind]] = {
    "integer": _NUMBER_KINDS,  # phone numbers, card numbers, IPv4 addresses and years stored as numbers
    "numeric": _NUMBER_KINDS,
    "date": frozenset({_K.BIRTH_DATE}),
    "datetime": frozenset({_K.BIRTH_DATE}),
    "boolean": frozenset(),
}


def _pick(
    counts: Mapping[PersonalKind, int], sampled: int, ratios: Mapping[PersonalKind, float], min_matches: int
) -> tuple[PersonalKind, int] | None:
    """The kind with the most matches above its thresholds; ties go to the earlier kind of ``_PRIORITY``."""
    best: tuple[PersonalKind, int] | None = None
    for kind in _PRIORITY:
        matched = counts.get(kind, 0)
        if (
            matched >= min_matches
            and matched / sampled >= ratios[kind]
            and (best is None or matched > best[1])
        ):
            best = (kind, matched)
    return best


def _value_check(kind: PersonalKind) -> v.Check:
    """The check confirming ``kind``; birth dates are judged as of today."""
    return v.birth_check(date.today()) if kind is _K.BIRTH_DATE else _CONFIRM[kind]


def _ratios(min_ratio: float, person_name_ratio: float) -> dict[PersonalKind, float]:
    """Per-kind minimum match ratios."""
    return {kind: max(min_ratio, person_name_ratio) if kind is _K.PERSON_NAME else min_ratio for kind in _K}


def detect_by_values(
    values: Sequence[object],
    *,
    min_ratio: float = 0.6,
    min_matches: int = 3,
    kinds: Collection[PersonalKind] = VALUE_KINDS,
) -> tuple[PersonalKind, int, int] | None:
    """The kind most sampled values match, with (matched, sampled) counts; None below the thresholds.

    Person names need a 0.9 ratio here. ``kinds`` narrows the search; BIRTH_DATE (as of today) may be
    added, but only where the column name supports it.
    """
    samples = v.samples(values)
    if not samples:
        return None
    counts = {kind: v.count(samples, _STRICT.get(kind) or _value_check(kind)) for kind in kinds}
    best = _pick(counts, len(samples), _ratios(min_ratio, PERSON_NAME_RATIO), min_matches)
    return None if best is None else (best[0], best[1], len(samples))


def classify_column(
    column: str, type_kind: str, values: Sequence[object], *, min_ratio: float = 0.6, min_matches: int = 3
) -> Detection | None:
    """Whether a column looks personal, from its name, its type kind and sampled values; None if not."""
    named = detect_by_name(column)
    checkable = _CHECKABLE.get(type_kind, _ALL)
    samples = v.samples(values)
    sampled = len(samples)
    found: tuple[PersonalKind, int] | None = None
    if sampled and checkable:
        counts = {kind: v.count(samples, _STRICT[kind]) for kind in VALUE_KINDS if kind in checkable}
        person_ratio = min_ratio if _generic_person_name(column) else PERSON_NAME_RATIO
        found = _pick(counts, sampled, _ratios(min_ratio, person_ratio), min_matches)
    if named is None:
        if found is None:
            return None
        kind, matched = found
        return Detection(kind, "values", round(matched / sampled * VALUES_WEIGHT, 3), matched, sampled)

    contradicted = named not in _CAN_HOLD.get(type_kind, _ALL)
    if sampled and named in checkable:
        confirmed = v.count(samples, _value_check(named))
        if confirmed >= min_matches and confirmed / sampled >= min_ratio:
            return Detection(named, "name+values", CONFIDENCE_BOTH, confirmed, sampled)
        plausible = v.count(samples, _PLAUSIBLE[named])
        contradicted = contradicted or (sampled >= min_matches and plausible / sampled < CONTRADICTION_RATIO)
    if contradicted:
        if found is not None:  # the values say clearly what the column holds, whatever its name says
            kind, matched = found
            return Detection(kind, "values", round(matched / sampled * VALUES_WEIGHT, 3), matched, sampled)
        return Detection(named, "name", CONFIDENCE_CONTRADICTED, 0, sampled)
    return Detection(named, "name", CONFIDENCE_NAME, 0, sampled)
