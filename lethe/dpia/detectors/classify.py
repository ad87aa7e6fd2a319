"""Does a column look like personal data? Judged by its name and by a sample of its values, never kept.

``lethe validate`` reports the columns that look personal but that the data map does not declare. Nothing
here touches a database: the caller passes a column's name, its coarse type kind and the values it sampled.
A :class:`Detection` carries a kind, the evidence, a confidence and counts, never a value.

By name: ``lethe.dpia.detectors.names``. By values: a kind is found when at least ``min_matches`` values and
``min_ratio`` of the non-empty ones match it; person names need 0.9 unless the column name is a generic one
("name", "contact"). Birth dates, postcodes, cities, coordinates and usernames are never decided by values
alone: any date, short code or capitalised word would match. The type kind can contradict a name (an email
column of integers), and so can values that hardly look like the named kind.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal

from lethe.dpia.detectors import values as v
from lethe.dpia.detectors.kinds import SUGGESTED_CATEGORY, PersonalKind
from lethe.dpia.detectors.names import detect_by_name, generic_person_name

_K = PersonalKind  # short alias for the tables below

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
        person_ratio = min_ratio if generic_person_name(column) else PERSON_NAME_RATIO
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
