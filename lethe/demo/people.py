"""Customers of the demo shop: who they are, how long they stay active, and their addresses."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from lethe.demo.spec import DAY, LOCALES, YEAR, Chunk, Draws

LOCALE_CUM_WEIGHTS = (40, 65, 85, 100)
COUNTRY = {"en_GB": "GB", "de_DE": "DE", "fr_FR": "FR", "nl_NL": "NL"}
# Reserved by RFC 2606: never a real mailbox.
EMAIL_DOMAINS = ("example.com", "example.org", "example.net")

# Tuned so that ~30 % of customers have been inactive for more than three years with the default spec.
MEAN_ACTIVE_LIFE = 4.5 * YEAR
LOYAL_SHARE = 0.08  # customers who never drift away
CLOSED_SHARE = 0.2  # of customers whose active life ended more than 180 days ago


@dataclass(frozen=True)
class LocalePool:
    """Values drawn once from Faker for one locale, picked from with the Random afterwards."""

    first_names: tuple[str, ...]
    last_names: tuple[str, ...]
    streets: tuple[str, ...]
    places: tuple[tuple[str, str], ...]  # (postcode, city)


@dataclass(frozen=True)
class Customer:
    """What the rest of a customer's rows are drawn from; the customer's own row is already written."""

    id: int
    pool: LocalePool
    full_name: str
    email: str
    phone: str | None
    postcode: str
    city: str
    country: str
    created: datetime
    active_end: datetime
    closed_at: datetime | None
    session_count: int


@dataclass(frozen=True)
class Address:
    """What orders need to know about an address generated for the current customer."""

    id: int
    kind: str
    created_at: datetime


_ASCII_FOLD = str.maketrans({"ß": "ss", "æ": "ae", "ø": "o", "œ": "oe", "ł": "l", "đ": "d"})


def _slug(text: str) -> str:
    """Lower-case ASCII letters of a name, for the local part of an email address."""
    folded = unicodedata.normalize("NFKD", text.lower().translate(_ASCII_FOLD))
    return "".join(ch for ch in folded if "a" <= ch <= "z") or "x"


class People:
    """Customers and their addresses; names, streets and places are drawn once per spec."""

    def __init__(self, draws: Draws) -> None:
        self.draws = draws
        self.pools = {locale: self._locale_pool(locale) for locale in LOCALES}
        self.hold_offset = 0

    def _locale_pool(self, locale: str) -> LocalePool:
        """Names, streets and places of one locale; Faker is slow, so it is asked only here."""
        fake = self.draws.fake[
            locale
        ]  # an explicit locale: the multi-locale proxy picks with the global random
        return LocalePool(
            first_names=tuple(fake.first_name() for _ in range(400)),
            last_names=tuple(fake.last_name() for _ in range(800)),
            streets=tuple(fake.street_address()[:200] for _ in range(1000)),
            places=tuple((fake.postcode()[:16], fake.city()[:100]) for _ in range(500)),
        )

    def customer(self, cid: int, out: Chunk) -> Customer:
        """Append customer ``cid``'s row to ``out``; returns what its other rows are drawn from."""
        draws = self.draws
        rng = draws.rng
        end = draws.end
        locale = rng.choices(LOCALES, cum_weights=LOCALE_CUM_WEIGHTS)[0]
        pool = self.pools[locale]
        fake = draws.fake[locale]
        first, last = rng.choice(pool.first_names), rng.choice(pool.last_names)
        full_name = f"{first} {last}"
        email = f"{_slug(first)}.{_slug(last)}.{cid}@{rng.choice(EMAIL_DOMAINS)}"
        phone = fake.phone_number()[:40] if rng.random() < 0.85 else None
        iban = fake.iban()[:34] if rng.random() < 0.4 else None
        postcode, city = rng.choice(pool.places)
        country = COUNTRY[locale]
        created = draws.start + timedelta(seconds=rng.randrange(draws.span - DAY))
        birth_date: date | None = None
        if rng.random() < 0.7:
            birth_date = created.date() - timedelta(days=rng.randint(18 * 365 + 5, 80 * 365))

        # The active life ends some time after signup (or never, for loyal customers); every order,
        # login, session and ticket falls inside it, which is what inactivity rules look at.
        recent = end - timedelta(seconds=rng.randrange(14 * DAY))
        if rng.random() < LOYAL_SHARE:
            active_end = recent
        else:
            active_end = min(created + timedelta(seconds=int(rng.expovariate(1 / MEAN_ACTIVE_LIFE))), recent)
        active_end = max(active_end, created)

        closed_at: datetime | None = None
        if active_end < end - timedelta(days=180) and rng.random() < CLOSED_SHARE:
            closed_at = draws.between(active_end, min(active_end + timedelta(days=90), end))
        deleted_at = closed_at if closed_at is not None and rng.random() < 0.5 else None

        # Exactly one legal hold per block of 100 ids, at a random position in the block.
        if (cid - 1) % 100 == 0:
            self.hold_offset = rng.randrange(100)
        legal_hold = (cid - 1) % 100 == self.hold_offset

        session_count = min(1 + int(rng.expovariate(1 / 5.5)), 60)
        last_login_at = active_end if session_count > 1 else None  # one session: signed up, never back

        out["customers"].append(
            {
                "id": cid,
                "email": email,
                "full_name": full_name,
                "phone": phone,
                "birth_date": birth_date,
                "postcode": postcode,
                "city": city,
                "country": country,
                "iban": iban,
                "created_at": created,
                "last_login_at": last_login_at,
                "status": "closed" if closed_at is not None else "active",
                "deleted_at": deleted_at,
                "legal_hold": legal_hold,
            }
        )
        return Customer(
            id=cid,
            pool=pool,
            full_name=full_name,
            email=email,
            phone=phone,
            postcode=postcode,
            city=city,
            country=country,
            created=created,
            active_end=active_end,
            closed_at=closed_at,
            session_count=session_count,
        )

    def addresses(self, customer: Customer, out: Chunk) -> list[Address]:
        """0-3 addresses (mean 1.5): the first is the billing address at signup, the others shipping."""
        rng = self.draws.rng
        pool, postcode, city = customer.pool, customer.postcode, customer.city
        count = rng.choices((0, 1, 2, 3), cum_weights=(5, 50, 95, 100))[0]
        result = []
        for index in range(count):
            address_id = self.draws.new_id("addresses")
            if index == 0:
                kind, place, at = "billing", (postcode, city), customer.created
            else:
                # Half of the extra addresses are in the customer's own town (a workplace, a neighbour).
                place = (postcode, city) if rng.random() < 0.5 else rng.choice(pool.places)
                kind, at = "shipping", self.draws.between(customer.created, customer.active_end)
            out["addresses"].append(
                {
                    "id": address_id,
                    "customer_id": customer.id,
                    "kind": kind,
                    "street": rng.choice(pool.streets),
                    "postcode": place[0],
                    "city": place[1],
                    "country": customer.country,
                    "created_at": at,
                }
            )
            result.append(Address(address_id, kind, at))
        return result
