"""Orders of the demo shop: a product catalogue drawn once per spec, and each customer's orders and lines."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from lethe.demo.people import Address, Customer
from lethe.demo.spec import DAY, Chunk, Draws

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


def _cents(amount: int) -> Decimal:
    """An amount in cents as a two-decimal Decimal (``1000`` -> ``10.00``)."""
    return Decimal(amount).scaleb(-2)


class Orders:
    """Customers' orders and their lines, from a catalogue of products drawn once per spec."""

    def __init__(self, draws: Draws) -> None:
        self.draws = draws
        self.products = self._catalogue(400)

    def _catalogue(self, count: int) -> tuple[tuple[str, str, int], ...]:
        """Products as (sku, name, price in cents), prices log-uniform between about 4 and 250."""
        rng = self.draws.rng
        products = []
        for number in range(1, count + 1):
            noun, code = rng.choice(NOUNS)
            name = f"{rng.choice(ADJECTIVES)} {rng.choice(MATERIALS)} {noun}"
            euros = int(4 * (250 / 4) ** rng.random())
            cents = euros * 100 + rng.choice((0, 50, 95, 99))
            products.append((f"{code}-{number:05d}", name, cents))
        return tuple(products)

    def place(
        self, customer: Customer, addresses: list[Address], out: Chunk
    ) -> tuple[list[int], list[datetime]]:
        """0-15 orders (mean ~3) with 1-5 lines each; returns their ids and times, oldest first."""
        draws = self.draws
        rng = draws.rng
        count = rng.choices(range(16), cum_weights=ORDER_CUM_WEIGHTS)[0]
        times = sorted(draws.between(customer.created, customer.active_end) for _ in range(count))
        ids = []
        for placed in times:
            order_id = draws.new_id("orders")
            ids.append(order_id)
            age = (draws.end - placed).total_seconds()
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
                        "id": draws.new_id("order_lines"),
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
                    "customer_id": customer.id,
                    "created_at": placed,
                    "status": status,
                    "total": _cents(total),
                    "shipping_address_id": shipping_id,
                }
            )
        return ids, times
