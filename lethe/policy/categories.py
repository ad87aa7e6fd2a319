"""The data-category vocabulary: dotted names such as ``user.contact.email``.

A category names what a column holds, from general to specific. A policy may use any listed name exactly
(so a typo such as ``user.contact.emial`` is an error, not a new category), and may declare its own names
or families under ``categories:``; a family covers its dotted children (``custom.loyalty`` covers
``custom.loyalty.tier``). The names
follow Fides' fideslang where it has one, so data maps can be exchanged. Special categories (GDPR
Art. 9) and criminal-offence data (Art. 10) are flagged, because the DPIA and the RoPA treat them apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

VOCABULARY: dict[str, str] = {
    "user": "data about a natural person",
    "user.name": "a person's name (first, last, full)",
    "user.contact": "contact data",
    "user.contact.email": "email address",
    "user.contact.phone_number": "telephone or fax number",
    "user.contact.address": "postal address",
    "user.contact.address.street": "street and house number",
    "user.contact.address.city": "city or town",
    "user.contact.address.postal_code": "postcode or ZIP",
    "user.contact.address.country": "country",
    "user.demographic": "demographic data",
    "user.demographic.date_of_birth": "date of birth",
    "user.demographic.age": "age or age range",
    "user.demographic.gender": "gender",
    "user.demographic.language": "preferred language",
    "user.government_id": "national identifier, passport, tax or social security number",
    "user.financial": "financial data",
    "user.financial.bank_account": "bank account number or IBAN",
    "user.financial.credit_card": "payment card number",
    "user.account": "account data",
    "user.account.username": "user name or login",
    "user.account.password": "password or password hash",
    "user.account.settings": "account settings and preferences",
    "user.unique_id": "an identifier assigned to the person (customer number, user id)",
    "user.device": "device data",
    "user.device.ip_address": "IP address",
    "user.device.cookie_id": "cookie or advertising identifier",
    "user.device.user_agent": "browser or device description",
    "user.location": "geolocation",
    "user.behavior": "behavioural data",
    "user.behavior.browsing_history": "pages visited, sessions",
    "user.behavior.purchase_history": "orders and purchases",
    "user.content": "content the person wrote (messages, tickets, reviews)",
    "user.consent": "consent records",
    "user.health": "health data (Art. 9)",
    "user.biometric": "biometric data for identification (Art. 9)",
    "user.genetic": "genetic data (Art. 9)",
    "user.racial_ethnic_origin": "racial or ethnic origin (Art. 9)",
    "user.political_opinion": "political opinions (Art. 9)",
    "user.religious_belief": "religious or philosophical beliefs (Art. 9)",
    "user.trade_union_membership": "trade union membership (Art. 9)",
    "user.sexual_orientation": "sex life or sexual orientation (Art. 9)",
    "user.criminal_record": "criminal convictions and offences (Art. 10)",
}

SPECIAL_CATEGORIES: frozenset[str] = frozenset(
    {
        "user.health",
        "user.biometric",
        "user.genetic",
        "user.racial_ethnic_origin",
        "user.political_opinion",
        "user.religious_belief",
        "user.trade_union_membership",
        "user.sexual_orientation",
        "user.criminal_record",
    }
)


# Fideslang's family of data about systems rather than people: a data map may list such columns (declared
# under `categories:`), and they are not personal data that erasure must remove.
NOT_PERSONAL_FAMILIES: frozenset[str] = frozenset({"system"})


def is_personal(category: str) -> bool:
    """True unless the category belongs to a family of data about systems, not people (``system.*``)."""
    return category.split(".", 1)[0] not in NOT_PERSONAL_FAMILIES


def is_known(category: str, extra: Iterable[str] = ()) -> bool:
    """True when ``category`` is in the vocabulary, or it or a dotted ancestor is declared in ``extra``."""
    if category in VOCABULARY:
        return True
    declared = set(extra)
    parts = category.split(".")
    return any(".".join(parts[:i]) in declared for i in range(len(parts), 0, -1))


def is_special(category: str) -> bool:
    """True for Art. 9 special categories and Art. 10 criminal data (and their children)."""
    return any(category == s or category.startswith(s + ".") for s in SPECIAL_CATEGORIES)


def describe(category: str, extra: Mapping[str, str] | None = None) -> str:
    """A human description of the category, from its nearest described ancestor."""
    table = {**VOCABULARY, **(extra or {})}
    parts = category.split(".")
    for i in range(len(parts), 0, -1):
        name = ".".join(parts[:i])
        if name in table:
            return table[name]
    return category
