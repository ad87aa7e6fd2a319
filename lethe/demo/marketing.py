"""Marketing in the demo shop: newsletter campaigns, customers' consents and withdrawals, and the sends."""

from __future__ import annotations

import bisect
from datetime import UTC, datetime, timedelta

from lethe.demo.people import Customer
from lethe.demo.spec import Chunk, Draws

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
SOURCES = ("signup_form", "checkout", "preference_centre")
WITHDRAW_SHARE = 0.12  # of consents, besides those withdrawn when the account was closed
STALE_SEND_EVERY = 10  # one send after withdrawal per this many withdrawn newsletter consents
SEND_WINDOW = 6 * 3600  # a campaign takes up to six hours to go out


def notice_version(granted: datetime) -> str:
    """The privacy notice in force when consent was given: a new version every four months."""
    return f"v{granted.year}.{1 + (granted.month - 1) // 4}"


class Marketing:
    """Consents and newsletter sends; the campaigns are drawn once per spec."""

    def __init__(self, draws: Draws) -> None:
        self.draws = draws
        self.campaigns = self._campaigns()
        self.campaign_times = [moment for moment, _ in self.campaigns]
        self.withdrawn_newsletters = 0

    def _campaigns(self) -> list[tuple[datetime, str]]:
        """Newsletter campaigns on the 3rd and 17th of every month at 09:00 UTC, oldest first."""
        start, end = self.draws.start, self.draws.end
        campaigns = []
        year, month = start.year, start.month
        while (year, month) <= (end.year, end.month):
            for day in (3, 17):
                moment = datetime(year, month, day, 9, tzinfo=UTC)
                if start <= moment and moment + timedelta(seconds=SEND_WINDOW) <= end:
                    theme = self.draws.rng.choice(CAMPAIGN_THEMES)
                    campaigns.append((moment, f"{year}-{month:02d}-{day:02d}-{theme}"))
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return campaigns

    def consents(self, customer: Customer, order_times: list[datetime], out: Chunk) -> None:
        """Newsletter consent for ~60 % (a third also profiling), withdrawals, and the newsletter sends."""
        draws = self.draws
        rng = draws.rng
        if rng.random() >= 0.6:
            return
        source = rng.choice(SOURCES)
        if source == "checkout" and order_times:
            granted = order_times[0]
        elif source == "preference_centre":
            granted = draws.between(customer.created, customer.active_end)
        else:
            source, granted = "signup_form", customer.created
        purposes = ("newsletter", "profiling") if rng.random() < 0.33 else ("newsletter",)
        for purpose in purposes:
            withdrawn = self._withdrawal(granted, customer.closed_at)
            out["marketing_consents"].append(
                {
                    "id": draws.new_id("marketing_consents"),
                    "customer_id": customer.id,
                    "purpose": purpose,
                    "granted_at": granted,
                    "withdrawn_at": withdrawn,
                    "source": source,
                    # Which form version and which request recorded it; nothing about the person.
                    "evidence": f"{source}:{notice_version(granted)};req={rng.getrandbits(64):016x}",
                    "notice_version": notice_version(granted),
                }
            )
            if purpose == "newsletter":
                self._sends(customer.id, granted, withdrawn, out)

    def _withdrawal(self, granted: datetime, closed_at: datetime | None) -> datetime | None:
        """When a consent is withdrawn: at account closure, for some others at a random later time."""
        if closed_at is not None and closed_at > granted:
            return closed_at
        latest = self.draws.end - timedelta(days=2)
        if self.draws.rng.random() < WITHDRAW_SHARE and granted + timedelta(days=1) < latest:
            return self.draws.between(granted + timedelta(days=1), latest)
        return None

    def _sends(self, cid: int, granted: datetime, withdrawn: datetime | None, out: Chunk) -> None:
        """~4 campaigns sent while the consent held, and every tenth withdrawal one stale send after it."""
        rng = self.draws.rng
        window = SEND_WINDOW
        until = (withdrawn or self.draws.end) - timedelta(seconds=window)
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
