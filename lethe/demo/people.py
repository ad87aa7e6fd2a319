"""Rows of the demo shop: a deterministic generator (see ``lethe.demo.seed`` for the shapes it produces)."""

from __future__ import annotations

import bisect
import ipaddress
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from lethe.demo.schema import TABLES
from lethe.demo.spec import DAY, LOCALES, YEAR, Chunk, DemoSpec, Draws

LOCALE_CUM_WEIGHTS = (40, 65, 85, 100)
COUNTRY = {"en_GB": "GB", "de_DE": "DE", "fr_FR": "FR", "nl_NL": "NL"}
# Reserved by RFC 2606: never a real mailbox.
EMAIL_DOMAINS = ("example.com", "example.org", "example.net")
CHUNK_CUSTOMERS = 2000

# Tuned so that ~30 % of customers have been inactive for more than three years with the default spec.
MEAN_ACTIVE_LIFE = 4.5 * YEAR
LOYAL_SHARE = 0.08  # customers who never drift away
CLOSED_SHARE = 0.2  # of customers whose active life ended more than 180 days ago
WITHDRAW_SHARE = 0.12  # of consents, besides those withdrawn when the account was closed
STALE_SEND_EVERY = 10  # one send after withdrawal per this many withdrawn newsletter consents
SEND_WINDOW = 6 * 3600  # a campaign takes up to six hours to go out

# Cumulative weights of orders per customer (0..15): skewed, mean about 3.
ORDER_CUM_WEIGHTS = tuple(
    sum((18, 20, 16, 12, 9, 7, 5, 3.5, 2.5, 1.8, 1.4, 1, 0.7, 0.5, 0.4, 0.2)[: i + 1]) for i in range(16)
)

ADJECTIVES = ("Classic", "Organic", "Recycled", "Handmade", "Slim", "Everyday", "Vintage", "Travel", "Cosy")
MATERIALS = ("Cotton", "Linen", "Wool", "Leather", "Bamboo", "Ceramic", "Oak", "Steel", "Canvas", "Glass")
NOUNS = (
    ("Tote Bag", "BAG"),
    ("T-Shirt", "TSH"),
    ("Scarf", "SCF"),
    ("Mug", "MUG"),
    ("Notebook", "NTB"),
    ("Lamp", "LMP"),
    ("Cushion", "CSH"),
    ("Wallet", "WLT"),
    ("Water Bottle", "BTL"),
    ("Blanket", "BLK"),
    ("Backpack", "BPK"),
    ("Candle", "CND"),
)
CAMPAIGN_THEMES = (
    "new-arrivals",
    "spring-sale",
    "summer-sale",
    "back-to-school",
    "autumn-edit",
    "black-friday",
    "gift-guide",
    "winter-sale",
    "loyalty-rewards",
    "last-chance",
)
TICKET_TOPICS = (
    ("Where is my order?", "Hi, my order #{order} has not arrived yet. Could you check the tracking?"),
    ("Refund request", "I sent back the items from order #{order} two weeks ago and have not been refunded."),
    ("Damaged item", "One of the items in order #{order} arrived damaged. Can I get a replacement?"),
    ("Invoice needed", "Could you send me a VAT invoice for order #{order}? My employer needs it."),
    ("Change of address", "I have moved, please update my delivery address for future orders."),
    ("Cannot log in", "I cannot log in to my account and the password reset email never arrives."),
    ("Unsubscribe", "Please stop sending me newsletters, I did not ask for them."),
    ("Delete my account", "Please close my account and delete all the data you hold about me."),
)
SOURCES = ("signup_form", "checkout", "preference_centre")


@dataclass(frozen=True)
class _LocalePool:
    """Values drawn once from Faker for one locale, picked from with the Random afterwards."""

    first_names: tuple[str, ...]
    last_names: tuple[str, ...]
    streets: tuple[str, ...]
    places: tuple[tuple[str, str], ...]  # (postcode, city)


@dataclass(frozen=True)
class _Address:
    """What orders need to know about an address generated for the current customer."""

    id: int
    kind: str
    created_at: datetime


_ASCII_FOLD = str.maketrans({"ß": "ss", "æ": "ae", "ø": "o", "œ": "oe", "ł": "l", "đ": "d"})


def _slug(text: str) -> str:
    """Lower-case ASCII letters of a name, for the local part of an email address."""
    folded = unicodedata.normalize("NFKD", text.lower().translate(_ASCII_FOLD))
    return "".join(ch for ch in folded if "a" <= ch <= "z") or "x"


def _cents(amount: int) -> Decimal:
    """An amount in cents as a two-decimal Decimal (``1000`` -> ``10.00``)."""
    return Decimal(amount).scaleb(-2)


class _Generator:
    """Stateful row factory: one instance generates one spec, customer after customer."""

    def __init__(self, spec: DemoSpec) -> None:
        self.draws = draws = Draws(spec)
        self.rng, self.fake = draws.rng, draws.fake
        self.start, self.end, self.span = draws.start, draws.end, draws.span
        self.pools = {locale: self._locale_pool(locale) for locale in LOCALES}
        self.user_agents = self._user_agents(300)
        self.products = self._catalogue(400)
        self.campaigns = self._campaigns()
        self.campaign_times = [moment for moment, _ in self.campaigns]
        self.withdrawn_newsletters = 0
        self.hold_offset = 0

    # -- pools, built once per spec ------------------------------------------------------------------

    def _locale_pool(self, locale: str) -> _LocalePool:
        """Names, streets and places of one locale; Faker is slow, so it is asked only here."""
        fake = self.fake[locale]  # an explicit locale: the multi-locale proxy picks with the global random
        return _LocalePool(
            first_names=tuple(fake.first_name() for _ in range(400)),
            last_names=tuple(fake.last_name() for _ in range(800)),
            streets=tuple(fake.street_address()[:200] for _ in range(1000)),
            places=tuple((fake.postcode()[:16], fake.city()[:100]) for _ in range(500)),
        )

    def _user_agents(self, count: int) -> tuple[str, ...]:
        """Browser user agent strings."""
        fake = self.fake["en_GB"]
        return tuple(fake.user_agent()[:200] for _ in range(count))

    def _catalogue(self, count: int) -> tuple[tuple[str, str, int], ...]:
        """Products as (sku, name, price in cents), prices log-uniform between about 4 and 250."""
        rng = self.rng
        products = []
        for number in range(1, count + 1):
            noun, code = rng.choice(NOUNS)
            name = f"{rng.choice(ADJECTIVES)} {rng.choice(MATERIALS)} {noun}"
            euros = int(4 * (250 / 4) ** rng.random())
            cents = euros * 100 + rng.choice((0, 50, 95, 99))
            products.append((f"{code}-{number:05d}", name, cents))
        return tuple(products)

    def _campaigns(self) -> list[tuple[datetime, str]]:
        """Newsletter campaigns on the 3rd and 17th of every month at 09:00 UTC, oldest first."""
        campaigns = []
        year, month = self.start.year, self.start.month
        while (year, month) <= (self.end.year, self.end.month):
            for day in (3, 17):
                moment = datetime(year, month, day, 9, tzinfo=UTC)
                if self.start <= moment and moment + timedelta(seconds=SEND_WINDOW) <= self.end:
                    theme = self.rng.choice(CAMPAIGN_THEMES)
                    campaigns.append((moment, f"{year}-{month:02d}-{day:02d}-{theme}"))
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return campaigns

    # -- helpers ---------------------------------------------------------------------------------------

    def _ip(self) -> str:
        """A public-looking IPv4 (70 %) or IPv6 (30 %) address."""
        rng = self.rng
        if rng.random() < 0.7:
            # First octets outside private, loopback, link-local, CGNAT and multicast ranges.
            first = rng.choice((2, 5, 31, 37, 46, 62, 77, 78, 80, 81, 82, 84, 85, 86, 87, 88, 89, 90, 91, 93))
            return f"{first}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        prefix = 0x2A00 + rng.randrange(0x10)  # 2a00::/12, RIPE region
        return str(ipaddress.IPv6Address((prefix << 112) | rng.getrandbits(112)))

    # -- one customer and all their rows -------------------------------------------------------------

    def customer(self, cid: int, out: Chunk) -> None:
        """Append customer ``cid`` and all its child rows (plus some anonymous sessions) to ``out``."""
        rng = self.rng
        end = self.end
        locale = rng.choices(LOCALES, cum_weights=LOCALE_CUM_WEIGHTS)[0]
        pool = self.pools[locale]
        fake = self.fake[locale]
        first, last = rng.choice(pool.first_names), rng.choice(pool.last_names)
        full_name = f"{first} {last}"
        email = f"{_slug(first)}.{_slug(last)}.{cid}@{rng.choice(EMAIL_DOMAINS)}"
        phone = fake.phone_number()[:40] if rng.random() < 0.85 else None
        iban = fake.iban()[:34] if rng.random() < 0.4 else None
        postcode, city = rng.choice(pool.places)
        country = COUNTRY[locale]
        created = self.start + timedelta(seconds=rng.randrange(self.span - DAY))
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
            closed_at = self.draws.between(active_end, min(active_end + timedelta(days=90), end))
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

        addresses = self._addresses(cid, created, active_end, pool, postcode, city, country, out)
        order_ids, order_times = self._orders(cid, created, active_end, addresses, out)
        self._tickets(cid, created, active_end, email, phone, full_name, order_ids, order_times, out)
        self._consents(cid, created, active_end, closed_at, order_times, out)
        self._sessions(cid, created, active_end, session_count, out)

    def _addresses(
        self,
        cid: int,
        created: datetime,
        active_end: datetime,
        pool: _LocalePool,
        postcode: str,
        city: str,
        country: str,
        out: Chunk,
    ) -> list[_Address]:
        """0-3 addresses (mean 1.5): the first is the billing address at signup, the others shipping."""
        rng = self.rng
        count = rng.choices((0, 1, 2, 3), cum_weights=(5, 50, 95, 100))[0]
        result = []
        for index in range(count):
            address_id = self.draws.new_id("addresses")
            if index == 0:
                kind, place, at = "billing", (postcode, city), created
            else:
                # Half of the extra addresses are in the customer's own town (a workplace, a neighbour).
                place = (postcode, city) if rng.random() < 0.5 else rng.choice(pool.places)
                kind, at = "shipping", self.draws.between(created, active_end)
            out["addresses"].append(
                {
                    "id": address_id,
                    "customer_id": cid,
                    "kind": kind,
                    "street": rng.choice(pool.streets),
                    "postcode": place[0],
                    "city": place[1],
                    "country": country,
                    "created_at": at,
                }
            )
            result.append(_Address(address_id, kind, at))
        return result

    def _orders(
        self, cid: int, created: datetime, active_end: datetime, addresses: list[_Address], out: Chunk
    ) -> tuple[list[int], list[datetime]]:
        """0-15 orders (mean ~3) with 1-5 lines each; returns their ids and times, oldest first."""
        rng = self.rng
        count = rng.choices(range(16), cum_weights=ORDER_CUM_WEIGHTS)[0]
        times = sorted(self.draws.between(created, active_end) for _ in range(count))
        ids = []
        for placed in times:
            order_id = self.draws.new_id("orders")
            ids.append(order_id)
            age = (self.end - placed).total_seconds()
            if age < 2 * DAY:
                status = "paid"
            elif age < 10 * DAY:
                status = rng.choice(("paid", "shipped"))
            else:
                status = rng.choices(("shipped", "cancelled", "refunded"), cum_weights=(86, 93, 100))[0]
            shipping_id: int | None = None
            if addresses and rng.random() < 0.97:  # the rest is click & collect
                known = [a for a in addresses if a.created_at <= placed]
                shipping = [a for a in known if a.kind == "shipping"]
                shipping_id = (shipping[-1] if shipping else (known or addresses)[0]).id
            total = 0
            for sku, name, price in rng.sample(self.products, 1 + rng.randrange(5)):
                quantity = rng.choices((1, 2, 3, 4), cum_weights=(75, 93, 98, 100))[0]
                total += quantity * price
                out["order_lines"].append(
                    {
                        "id": self.draws.new_id("order_lines"),
                        "order_id": order_id,
                        "sku": sku,
                        "product_name": name,
                        "quantity": quantity,
                        "unit_price": _cents(price),
                    }
                )
            out["orders"].append(
                {
                    "id": order_id,
                    "customer_id": cid,
                    "created_at": placed,
                    "status": status,
                    "total": _cents(total),
                    "shipping_address_id": shipping_id,
                }
            )
        return ids, times

    def _tickets(
        self,
        cid: int,
        created: datetime,
        active_end: datetime,
        email: str,
        phone: str | None,
        full_name: str,
        order_ids: list[int],
        order_times: list[datetime],
        out: Chunk,
    ) -> None:
        """0-4 support tickets (mean ~0.5) whose free text sometimes leaks the email, phone or name."""
        rng = self.rng
        count = rng.choices((0, 1, 2, 3, 4), cum_weights=(66, 88, 96, 99, 100))[0]
        for _ in range(count):
            opened = self.draws.between(created, active_end)
            earlier = bisect.bisect_right(order_times, opened)
            topics = TICKET_TOPICS if earlier else TICKET_TOPICS[4:]  # order topics need an order
            subject, template = rng.choice(topics)
            body = template.format(order=order_ids[rng.randrange(earlier)] if earlier else 0)
            # Customers write their contact details into free text: realistic leakage for scanners.
            if rng.random() < 0.25:
                body += f" My account email is {email}."
            if phone is not None and rng.random() < 0.12:
                body += f" You can call me back on {phone}."
            if rng.random() < 0.4:
                body += f"\n\nKind regards,\n{full_name}"
            closed_at: datetime | None = None
            resolved = opened + timedelta(seconds=rng.randint(600, 10 * DAY))
            if resolved <= self.end and (self.end - opened > timedelta(days=14) or rng.random() < 0.5):
                closed_at, status = resolved, "closed"
            else:
                status = rng.choice(("open", "pending"))
            out["support_tickets"].append(
                {
                    "id": self.draws.new_id("support_tickets"),
                    "customer_id": cid,
                    "opened_at": opened,
                    "closed_at": closed_at,
                    "subject": subject,
                    "body": body,
                    "status": status,
                }
            )

    def _consents(
        self,
        cid: int,
        created: datetime,
        active_end: datetime,
        closed_at: datetime | None,
        order_times: list[datetime],
        out: Chunk,
    ) -> None:
        """Newsletter consent for ~60 % (a third also profiling), withdrawals, and the newsletter sends."""
        rng = self.rng
        if rng.random() >= 0.6:
            return
        source = rng.choice(SOURCES)
        if source == "checkout" and order_times:
            granted = order_times[0]
        elif source == "preference_centre":
            granted = self.draws.between(created, active_end)
        else:
            source, granted = "signup_form", created
        purposes = ("newsletter", "profiling") if rng.random() < 0.33 else ("newsletter",)
        for purpose in purposes:
            withdrawn = self._withdrawal(granted, closed_at)
            out["marketing_consents"].append(
                {
                    "id": self.draws.new_id("marketing_consents"),
                    "customer_id": cid,
                    "purpose": purpose,
                    "granted_at": granted,
                    "withdrawn_at": withdrawn,
                    "source": source,
                    # Which form version and which request recorded it; nothing about the person.
                    "evidence": f"{source}:v{granted.year}.{1 + (granted.month - 1) // 4}"
                    f";req={rng.getrandbits(64):016x}",
                }
            )
            if purpose == "newsletter":
                self._sends(cid, granted, withdrawn, out)

    def _withdrawal(self, granted: datetime, closed_at: datetime | None) -> datetime | None:
        """When a consent is withdrawn: at account closure, for some others at a random later time."""
        if closed_at is not None and closed_at > granted:
            return closed_at
        latest = self.end - timedelta(days=2)
        if self.rng.random() < WITHDRAW_SHARE and granted + timedelta(days=1) < latest:
            return self.draws.between(granted + timedelta(days=1), latest)
        return None

    def _sends(self, cid: int, granted: datetime, withdrawn: datetime | None, out: Chunk) -> None:
        """~4 campaigns sent while the consent held, and every tenth withdrawal one stale send after it."""
        rng = self.rng
        window = SEND_WINDOW
        until = (withdrawn or self.end) - timedelta(seconds=window)
        low = bisect.bisect_left(self.campaign_times, granted)
        high = bisect.bisect_right(self.campaign_times, until)
        wanted = min(high - low, rng.randint(1, 8)) if high > low else 0
        picked = sorted(rng.sample(range(low, high), wanted))
        if withdrawn is not None:
            # A mailing list exported before the withdrawal and used afterwards: the bug a consent check
            # must catch. Counting withdrawals makes the set exact for a given spec.
            stale = bisect.bisect_right(self.campaign_times, withdrawn + timedelta(days=1))
            if stale < len(self.campaigns):
                self.withdrawn_newsletters += 1
                if self.withdrawn_newsletters % STALE_SEND_EVERY == 1:
                    picked.append(stale)
        for index in picked:
            moment, campaign = self.campaigns[index]
            out["newsletter_sends"].append(
                {
                    "id": self.draws.new_id("newsletter_sends"),
                    "customer_id": cid,
                    "campaign": campaign,
                    "sent_at": moment + timedelta(seconds=rng.randrange(window)),
                }
            )

    def _sessions(self, cid: int, created: datetime, active_end: datetime, count: int, out: Chunk) -> None:
        """``count`` sessions from signup to the last login, plus 0-2 anonymous sessions anywhere in time."""
        rng = self.rng
        home_ips = [self._ip() for _ in range(rng.choice((1, 1, 2, 3)))]
        agents = [rng.choice(self.user_agents) for _ in range(rng.choice((1, 1, 2)))]
        times = [created]
        if count > 1:
            times += sorted(self.draws.between(created, active_end) for _ in range(count - 2))
            times.append(active_end)
        for started in times:
            out["web_sessions"].append(
                {
                    "id": self.draws.new_id("web_sessions"),
                    "customer_id": cid,
                    "started_at": started,
                    # Mostly from home, sometimes from a phone network or a café.
                    "ip_address": rng.choice(home_ips) if rng.random() < 0.8 else self._ip(),
                    "user_agent": rng.choice(agents),
                }
            )
        for _ in range(rng.choices((0, 1, 2), cum_weights=(50, 90, 100))[0]):
            out["web_sessions"].append(
                {
                    "id": self.draws.new_id("web_sessions"),
                    "customer_id": None,
                    "started_at": self.start + timedelta(seconds=rng.randrange(self.span)),
                    "ip_address": self._ip(),
                    "user_agent": rng.choice(self.user_agents),
                }
            )


def generate(
    spec: DemoSpec = DemoSpec(), *, chunk_size: int = CHUNK_CUSTOMERS
) -> Iterator[tuple[int, Chunk]]:
    """Yield (customers done, rows per table) chunk by chunk; the rows do not depend on ``chunk_size``."""
    if chunk_size < 1:
        raise ValueError("chunk_size must be at least 1")
    generator = _Generator(spec)
    for first in range(1, spec.customers + 1, chunk_size):
        last = min(first + chunk_size - 1, spec.customers)
        chunk: Chunk = {name: [] for name in TABLES}
        for cid in range(first, last + 1):
            generator.customer(cid, chunk)
        yield last, chunk
