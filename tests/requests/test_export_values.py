"""Exports of hand-made tables on all three engines: values as JSON, two keys to the subject, the HTML page.

The demo shop, Chinook, encryption and the command line: test_export.py.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from support.exports import check_archive, members

from lethe.errors import SubjectError
from lethe.policy.loading import parse_policy
from lethe.requests.export.archive import export_subject
from lethe.requests.export.facts import facts_for
from lethe.requests.export.html import render_index
from lethe.settings import load_settings
from lethe.stores.engines import Stores

# ------------------------------------------------------------------------------------------ value types

TYPES_POLICY = """\
version: 1
controller: {name: Test Ltd, dpo: {name: DPO, email: dpo@test.example}}
stores:
  db: {url: "${DB_URL}", timezone: Europe/Berlin}
subjects:
  person: {store: db, table: people, key: id, lookup: [email]}
"""


def test_values_are_json_safe_on_every_engine(db_url: str, db_engine: sa.Engine, tmp_path: Path) -> None:
    md = sa.MetaData()
    people = sa.Table(
        "people",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("email", sa.String(100), nullable=False),
        sa.Column("balance", sa.Numeric(12, 4)),
        sa.Column("photo", sa.LargeBinary),
        sa.Column("born", sa.Date),
        sa.Column("seen_at", sa.DateTime),  # naive: read in the store's zone, Europe/Berlin
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("score", sa.Float),
        sa.Column("note", sa.String(200)),
    )
    visits = sa.Table(
        "visits",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("person_id", sa.Integer, sa.ForeignKey("people.id"), nullable=False),
    )
    md.create_all(db_engine)
    evil = '<img src="https://evil.example/x.png"><script>alert(1)</script>'
    with db_engine.begin() as conn:
        conn.execute(
            people.insert().values(
                id=1,
                email="a@example.org",
                balance=Decimal("12.34"),
                photo=b"\x00\x01\xff",
                born=date(1990, 2, 3),
                seen_at=datetime(2026, 1, 1, 12, 0),
                active=True,
                score=0.5,
                note=evil,
            )
        )
        conn.execute(people.insert().values(id=2, email="b@example.org", active=False))
        conn.execute(
            visits.insert(), [{"id": 1, "person_id": 1}, {"id": 2, "person_id": 1}, {"id": 3, "person_id": 2}]
        )
    policy = parse_policy(TYPES_POLICY, environ={"DB_URL": db_url})
    with Stores(policy) as stores:  # no ledger: no keys needed at all
        result = export_subject(
            policy,
            stores,
            "person",
            "a@example.org",
            tmp_path,
            settings=load_settings({}),
            ledger=None,
            run_id="t",
        )
    files = members(result.path)
    data = check_archive(files, {"db.people": 1, "db.visits": 2})
    (row,) = data["tables"]["db.people"]["rows"]
    assert row == {
        "id": 1, "email": "a@example.org", "balance": "12.3400", "photo": "AAH/", "born": "1990-02-03",
        "seen_at": "2026-01-01T11:00:00+00:00", "active": True, "score": 0.5, "note": evil,
    }  # fmt: skip
    assert data["tables"]["db.visits"]["references"] == [
        {"columns": ["person_id"], "table": "db.people", "ref_columns": ["id"]}
    ]
    html = files["index.html"].decode()
    assert "<img" not in html and "&lt;script&gt;" in html  # shown as text, never as markup


def test_a_table_with_two_keys_to_the_subject_is_refused_until_the_policy_names_one(
    db_url: str, db_engine: sa.Engine, tmp_path: Path
) -> None:
    """Orders have a buyer and a referrer: an export must not hand a customer the orders it only referred."""
    md = sa.MetaData()
    sa.Table(
        "people", md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("email", sa.String(100), nullable=False),
    )  # fmt: skip
    orders = sa.Table(
        "orders", md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("referrer_id", sa.Integer, sa.ForeignKey("people.id"), nullable=True),
        sa.Column("buyer_id", sa.Integer, sa.ForeignKey("people.id"), nullable=False),
    )  # fmt: skip
    md.create_all(db_engine)
    with db_engine.begin() as conn:
        conn.execute(
            md.tables["people"].insert(),
            [{"id": 1, "email": "a@example.org"}, {"id": 2, "email": "b@example.org"}],
        )
        # Person 2 bought orders 10 and 11; person 1 only referred them, and bought order 12.
        conn.execute(
            orders.insert(),
            [{"id": 10, "referrer_id": 1, "buyer_id": 2}, {"id": 11, "referrer_id": 1, "buyer_id": 2},
             {"id": 12, "referrer_id": None, "buyer_id": 1}],
        )  # fmt: skip

    def export(policy_text: str) -> dict[str, Any]:
        policy = parse_policy(policy_text, environ={"DB_URL": db_url})
        with Stores(policy) as stores:
            result = export_subject(
                policy, stores, "person", "a@example.org", tmp_path, settings=load_settings({}), ledger=None,
                run_id="t",
            )  # fmt: skip
        return check_archive(members(result.path), {"db.people": 1, "db.orders": 1})

    with pytest.raises(SubjectError, match=r"orders has 2 foreign keys to people \(.*\).*subject_column"):
        export(TYPES_POLICY)
    named = TYPES_POLICY + "data_map:\n  db.orders: {subject: person, subject_column: buyer_id}\n"
    assert [row["id"] for row in export(named)["tables"]["db.orders"]["rows"]] == [12]


def test_render_index_escapes_and_links_nothing() -> None:
    facts = facts_for(parse_policy(TYPES_POLICY, environ={"DB_URL": "sqlite://"}), "person").as_dict()
    html = render_index(
        {"subject": "person", "exported_at": "now", "policy_hash": "h"},
        facts,
        [("db.t", ["a"], [["//x.example"]])],
    )
    assert "mailto:dpo@test.example" in html and 'src="//' not in html and 'href="//' not in html
