"""The kinds of personal data the detectors look for, and the data category each one suggests.

The categories are terms of the policy's vocabulary (``lethe.policy.categories``), as a data map writes them.
"""

from __future__ import annotations

from enum import StrEnum


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


SUGGESTED_CATEGORY: dict[PersonalKind, str] = {
    PersonalKind.EMAIL: "user.contact.email",
    PersonalKind.PHONE: "user.contact.phone_number",
    PersonalKind.PERSON_NAME: "user.name",
    PersonalKind.POSTAL_ADDRESS: "user.contact.address",
    PersonalKind.POSTCODE: "user.contact.address.postal_code",
    PersonalKind.CITY: "user.contact.address.city",
    PersonalKind.IBAN: "user.financial.bank_account",
    PersonalKind.PAYMENT_CARD: "user.financial.credit_card",
    PersonalKind.IP_ADDRESS: "user.device.ip_address",
    PersonalKind.BIRTH_DATE: "user.demographic.date_of_birth",
    PersonalKind.NATIONAL_ID: "user.government_id",
    PersonalKind.GEOLOCATION: "user.location",
    PersonalKind.USERNAME: "user.account.username",
}
