"""What export tests share: the demo policy, fixed keys and passphrase, the busiest customer, a folder's files."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

DEMO_POLICY = Path(__file__).resolve().parents[2] / "config" / "demo.yaml"
MASTER_HEX, LEDGER_HEX = "ab" * 32, "cd" * 32
PASSPHRASE = "correct horse battery staple"


def busiest_customer(engine: sa.Engine) -> tuple[int, str]:
    """(id, email) of the customer with the most orders (ties: lowest id)."""
    with engine.connect() as conn:
        key = conn.execute(
            sa.text("SELECT customer_id FROM orders GROUP BY customer_id ORDER BY COUNT(*) DESC, customer_id")
        ).first()[0]  # type: ignore[index]
        email = conn.execute(sa.text("SELECT email FROM customers WHERE id = :k"), {"k": key}).scalar_one()
    return int(key), str(email)


def only_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir()) if folder.exists() else []
