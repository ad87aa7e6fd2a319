"""What export tests share: the demo policy, fixed keys and passphrase, the busiest customer, a folder's files.

``check_archive`` holds what every export archive must satisfy (schema, manifest, CSV, a page that loads
nothing); tests/conftest.py has pytest rewrite its asserts, so they fail as a test's own asserts do.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import jsonschema
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


def members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def check_archive(files: dict[str, bytes], counts: dict[str, int]) -> dict[str, Any]:
    """Everything every export must satisfy; returns data.json."""
    data = json.loads(files["data.json"])
    schema = json.loads(files["data.schema.json"])
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(data)
    manifest = json.loads(files["manifest.json"])
    listed = {f["name"]: f for f in manifest["files"]}
    assert set(listed) == set(files) - {"manifest.json"}
    for name, entry in listed.items():
        assert entry["sha256"] == hashlib.sha256(files[name]).hexdigest(), name
        assert entry["bytes"] == len(files[name])
    assert manifest["tables"] == counts == {name: len(t["rows"]) for name, t in data["tables"].items()}
    assert manifest["policy_hash"] == data["policy_hash"] and len(data["policy_hash"]) == 64
    for name, table in data["tables"].items():
        rows = list(csv.reader(io.StringIO(files[f"csv/{name}.csv"].decode("utf-8"), newline="")))
        assert rows[0] == table["columns"] and len(rows) == 1 + len(table["rows"])
    page = Page()
    page.feed(files["index.html"].decode("utf-8"))
    assert "script" not in page.tags and "img" not in page.tags and "link" not in page.tags
    assert page.links and all(link.startswith(("#", "mailto:")) for link in page.links)
    return data


class Page(HTMLParser):
    """The tags of a page and the values of every attribute that can load or link something."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.links += [
            v or "" for k, v in attrs if k in ("href", "src", "action", "srcset", "data", "poster")
        ]
