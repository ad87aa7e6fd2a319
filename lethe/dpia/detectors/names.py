"""Does a column's name announce personal data? Tokens of the name against words in a few languages.

The name is split into lower-case tokens (``BillingPostalCode`` -> billing, postal, code) and compared with
English names and a few German, French and Spanish ones. Unambiguous words ("email", "first name", "iban")
count anywhere in the name; ambiguous ones ("address", "zip", "fax", "login") only when they are the whole
name once role words ("billing", "home") and "number" are set aside. Plain "name" and "title" say nothing on
their own. Birth dates are told apart from other dates by their words ("dob", "date_of_birth").
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from lethe.dpia.detectors.kinds import PersonalKind

_K = PersonalKind  # short alias for the tables below

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


def generic_person_name(column: str) -> bool:
    """The column's name is one under which capitalised word pairs are probably people."""
    tokens = set(name_tokens(column))
    return bool(tokens & _GENERIC_PERSON) and not tokens & _NOT_PERSON
