"""The demo shop as request tests use it: seeded on a real database, with its policy, stores, keys and ledger.

``open_shop`` seeds 60 customers of the demo generator into a scratch database of the test (SQLite file,
PostgreSQL or MariaDB) and opens config/demo.yaml on it; the ``shop`` fixture of tests/requests/conftest.py
gives one per test and engine. Nothing is mocked.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from lethe.demo.seed import DemoSpec, seed
from lethe.ledger.chain import Ledger
from lethe.ledger.entry import RecordedEntry
from lethe.policy.loading import parse_policy
from lethe.policy.model import Policy
from lethe.requests.erasure.erase import erase_subject
from lethe.requests.rectification import rectify_subject
from lethe.requests.register import RequestRecord, ensure_register, state_engine
from lethe.requests.tracking import key_fingerprint
from lethe.settings import Settings, load_settings
from lethe.stores.engines import Stores, create_store_engine

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "config" / "demo.yaml"
MASTER_KEY = bytes.fromhex("ab" * 32)
DELETED = ("addresses", "support_tickets", "newsletter_sends", "web_sessions")
KEPT = ("orders", "order_lines", "marketing_consents")


def settings_env(tmp_path: Path) -> dict[str, str]:
    """Fixed keys; the ledger (and the request register) in a SQLite file of the test."""
    return {
        "LETHE_MASTER_KEY": MASTER_KEY.hex(),
        "LETHE_LEDGER_KEY": "cd" * 32,
        "LETHE_LEDGER_URL": f"sqlite:///{tmp_path}/ledger.db",
    }


@dataclass
class Shop:
    """A seeded demo shop (or any store), its policy, open stores, settings and ledger."""

    url: str
    engine: sa.Engine
    policy: Policy
    stores: Stores
    settings: Settings
    ledger: Ledger
    ledger_path: Path

    def rows(self, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        with self.engine.connect() as connection:
            return [tuple(r) for r in connection.execute(sa.text(sql), params)]

    def one(self, sql: str, **params: Any) -> Any:
        return self.rows(sql, **params)[0][0]

    def execute(self, sql: str, **params: Any) -> None:
        with self.engine.begin() as connection:
            connection.execute(sa.text(sql), params)

    def ledger_bytes(self) -> bytes:
        """The state database's files (ledger, register; its WAL too), as stored on disk."""
        return b"".join(p.read_bytes() for p in sorted(self.ledger_path.parent.glob("ledger.db*")))

    def entries(self) -> list[RecordedEntry]:
        return list(self.ledger.entries())

    def register(self) -> list[RequestRecord]:
        engine = state_engine(self.settings)
        try:
            table = ensure_register(engine)
            with engine.connect() as connection:
                rows = connection.execute(sa.select(table).order_by(table.c.received_at)).all()
            return [RequestRecord(*row) for row in rows]
        finally:
            engine.dispose()

    def checksum(self, table: str, where: str = "1 = 1") -> str:
        """SHA-256 of a table's rows (in key order) that match ``where``."""
        rows = self.rows(f"SELECT * FROM {table} WHERE {where} ORDER BY 1")
        return hashlib.sha256(repr(rows).encode()).hexdigest()

    def snapshot(self) -> dict[str, str]:
        return {t: self.checksum(t) for t in ("customers", *DELETED, *KEPT)}

    def run_id(self) -> str:
        return str(uuid.uuid4())


@contextmanager
def open_shop(
    url: str, tmp_path: Path, *, policy_text: str | None = None, seeded: bool = True
) -> Iterator[Shop]:
    """A 60-customer demo shop on ``url`` with config/demo.yaml (or ``policy_text``)."""
    engine = create_store_engine(url)
    if seeded:
        seed(engine, DemoSpec(customers=60))
    policy = parse_policy(
        policy_text or DEMO.read_text(), source="demo.yaml", environ={"LETHE_DEMO_URL": url}
    )
    settings = load_settings(settings_env(tmp_path))
    ledger = Ledger.from_settings(settings)
    stores = Stores(policy)
    try:
        yield Shop(url, engine, policy, stores, settings, ledger, tmp_path / "ledger.db")
    finally:
        stores.close()
        ledger._engine.dispose()
        engine.dispose()


def full_customer(shop: Shop) -> int:
    """A customer without a hold who has rows in every table, and an order shipped to one of its addresses."""
    has = " AND ".join(
        f"EXISTS (SELECT 1 FROM {t} x WHERE x.customer_id = c.id)" for t in (*DELETED, "marketing_consents")
    )
    shipped = (
        "EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id AND o.shipping_address_id IS NOT NULL)"
    )
    return int(shop.one(f"SELECT min(c.id) FROM customers c WHERE NOT c.legal_hold AND {has} AND {shipped}"))


def erase(shop: Shop, identifier: str, **kwargs: Any) -> Any:
    return erase_subject(
        shop.policy, shop.stores, shop.settings, "customer", identifier,
        ledger=shop.ledger, run_id=shop.run_id(), **kwargs,
    )  # fmt: skip


def fingerprint_of(shop: Shop, key: int) -> str:
    return key_fingerprint(shop.policy, shop.settings, "customer", key)


ORDERS = "SELECT id, customer_id, created_at, status, total FROM orders WHERE customer_id = {c} ORDER BY id"


def rectify(shop: Shop, identifier: str, changes: dict[str, str | None]) -> Any:
    return rectify_subject(
        shop.policy, shop.stores, shop.settings, "customer", identifier, changes, ledger=shop.ledger,
        run_id=shop.run_id(),
    )  # fmt: skip
