"""Rows of the demo shop: a deterministic generator (see ``lethe.demo.seed`` for the shapes it produces).

One :class:`~lethe.demo.spec.Draws` per spec is shared by the parts of the shop, each in its module:
people (customers and addresses), orders, activity (support tickets and web sessions) and marketing
(consents and newsletter sends).
"""

from __future__ import annotations

from collections.abc import Iterator

from lethe.demo.activity import Activity
from lethe.demo.marketing import Marketing
from lethe.demo.orders import Orders
from lethe.demo.people import People
from lethe.demo.schema import TABLES
from lethe.demo.spec import Chunk, DemoSpec, Draws

CHUNK_CUSTOMERS = 2000


class _Generator:
    """Stateful row factory: one instance generates one spec, customer after customer."""

    def __init__(self, spec: DemoSpec) -> None:
        draws = Draws(spec)
        # Each part draws its pools from the shared Random and Faker as it is built: this order is part of
        # the data, as is the order of the calls in ``customer``.
        self.people = People(draws)
        self.activity = Activity(draws)
        self.orders = Orders(draws)
        self.marketing = Marketing(draws)

    def customer(self, cid: int, out: Chunk) -> None:
        """Append customer ``cid`` and all its child rows (plus some anonymous sessions) to ``out``."""
        customer = self.people.customer(cid, out)
        addresses = self.people.addresses(customer, out)
        order_ids, order_times = self.orders.place(customer, addresses, out)
        self.activity.tickets(customer, order_ids, order_times, out)
        self.marketing.consents(customer, order_times, out)
        self.activity.sessions(customer, out)


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
