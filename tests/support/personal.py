"""The personal values of a seeded demo shop, for leak tests: none may appear in a report, draft or ledger."""

from __future__ import annotations

from support.shop import Shop

# Columns whose values identify or describe a person (the data map's, plus free text that may repeat them).
PERSONAL = {
    "customers": ("email", "full_name", "phone", "iban"),
    "addresses": ("street",),
    "web_sessions": ("ip_address",),
}


def personal_values(shop: Shop) -> set[str]:
    """Every value of the personal columns, as text, long enough not to match by chance (8+ characters)."""
    values: set[str] = set()
    for table, columns in PERSONAL.items():
        for row in shop.rows(f"SELECT {', '.join(columns)} FROM {table}"):
            values |= {str(v) for v in row if v is not None and len(str(v)) >= 8}
    return values


def leaked(text: str, values: set[str]) -> list[str]:
    """The values found in ``text`` (a few, for the failure message; never printed when empty)."""
    return sorted(v for v in values if v in text)[:3]
