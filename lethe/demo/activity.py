"""What customers do besides buying: support tickets (whose text leaks contact details) and web sessions."""

from __future__ import annotations

import bisect
import ipaddress
from datetime import datetime, timedelta

from lethe.demo.people import Customer
from lethe.demo.spec import DAY, Chunk, Draws

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


class Activity:
    """Support tickets and web sessions; the browsers' user agents are drawn once per spec."""

    def __init__(self, draws: Draws) -> None:
        self.draws = draws
        self.user_agents = self._user_agents(300)

    def _user_agents(self, count: int) -> tuple[str, ...]:
        """Browser user agent strings."""
        fake = self.draws.fake["en_GB"]
        return tuple(fake.user_agent()[:200] for _ in range(count))

    def _ip(self) -> str:
        """A public-looking IPv4 (70 %) or IPv6 (30 %) address."""
        rng = self.draws.rng
        if rng.random() < 0.7:
            # First octets outside private, loopback, link-local, CGNAT and multicast ranges.
            first = rng.choice((2, 5, 31, 37, 46, 62, 77, 78, 80, 81, 82, 84, 85, 86, 87, 88, 89, 90, 91, 93))
            return f"{first}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        prefix = 0x2A00 + rng.randrange(0x10)  # 2a00::/12, RIPE region
        return str(ipaddress.IPv6Address((prefix << 112) | rng.getrandbits(112)))

    def tickets(
        self, customer: Customer, order_ids: list[int], order_times: list[datetime], out: Chunk
    ) -> None:
        """0-4 support tickets (mean ~0.5) whose free text sometimes leaks the email, phone or name."""
        draws = self.draws
        rng = draws.rng
        count = rng.choices((0, 1, 2, 3, 4), cum_weights=(66, 88, 96, 99, 100))[0]
        for _ in range(count):
            opened = draws.between(customer.created, customer.active_end)
            earlier = bisect.bisect_right(order_times, opened)
            topics = TICKET_TOPICS if earlier else TICKET_TOPICS[4:]  # order topics need an order
            subject, template = rng.choice(topics)
            body = template.format(order=order_ids[rng.randrange(earlier)] if earlier else 0)
            # Customers write their contact details into free text: realistic leakage for scanners.
            if rng.random() < 0.25:
                body += f" My account email is {customer.email}."
            if customer.phone is not None and rng.random() < 0.12:
                body += f" You can call me back on {customer.phone}."
            if rng.random() < 0.4:
                body += f"\n\nKind regards,\n{customer.full_name}"
            closed_at: datetime | None = None
            resolved = opened + timedelta(seconds=rng.randint(600, 10 * DAY))
            if resolved <= draws.end and (draws.end - opened > timedelta(days=14) or rng.random() < 0.5):
                closed_at, status = resolved, "closed"
            else:
                status = rng.choice(("open", "pending"))
            out["support_tickets"].append(
                {
                    "id": draws.new_id("support_tickets"),
                    "customer_id": customer.id,
                    "opened_at": opened,
                    "closed_at": closed_at,
                    "subject": subject,
                    "body": body,
                    "status": status,
                }
            )

    def sessions(self, customer: Customer, out: Chunk) -> None:
        """Sessions from signup to the customer's last login, plus 0-2 anonymous sessions anywhere in time."""
        draws = self.draws
        rng = draws.rng
        created, active_end, count = customer.created, customer.active_end, customer.session_count
        home_ips = [self._ip() for _ in range(rng.choice((1, 1, 2, 3)))]
        agents = [rng.choice(self.user_agents) for _ in range(rng.choice((1, 1, 2)))]
        times = [created]
        if count > 1:
            times += sorted(draws.between(created, active_end) for _ in range(count - 2))
            times.append(active_end)
        for started in times:
            out["web_sessions"].append(
                {
                    "id": draws.new_id("web_sessions"),
                    "customer_id": customer.id,
                    "started_at": started,
                    # Mostly from home, sometimes from a phone network or a café.
                    "ip_address": rng.choice(home_ips) if rng.random() < 0.8 else self._ip(),
                    "user_agent": rng.choice(agents),
                }
            )
        for _ in range(rng.choices((0, 1, 2), cum_weights=(50, 90, 100))[0]):
            out["web_sessions"].append(
                {
                    "id": draws.new_id("web_sessions"),
                    "customer_id": None,
                    "started_at": draws.start + timedelta(seconds=rng.randrange(draws.span)),
                    "ip_address": self._ip(),
                    "user_agent": rng.choice(self.user_agents),
                }
            )
