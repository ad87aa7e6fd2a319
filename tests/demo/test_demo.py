"""Tests of the demo shop generator (lethe/demo/): shapes, determinism, integrity, portability."""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from support.databases import create_scratch_database, drop_scratch_database, require_server

from lethe.demo.seed import TABLES, DemoSpec, create_schema, generate, main, metadata, seed

# Reading Numeric back from SQLite goes through float; exact for these two-decimal amounts.
pytestmark = pytest.mark.filterwarnings("ignore:Dialect sqlite\\+pysqlite does \\*not\\* support Decimal")

SPEC = DemoSpec(customers=300)
REPO = Path(__file__).resolve().parents[2]

customers = metadata.tables["customers"]
orders = metadata.tables["orders"]
web_sessions = metadata.tables["web_sessions"]
support_tickets = metadata.tables["support_tickets"]
marketing_consents = metadata.tables["marketing_consents"]
newsletter_sends = metadata.tables["newsletter_sends"]


def _utc(value: datetime) -> datetime:
    """A datetime as UTC-aware: SQLite and MariaDB return naive UTC, PostgreSQL aware in the session zone."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _normalise(value: Any) -> Any:
    """One representation per value whatever the engine returned."""
    if isinstance(value, datetime):
        return _utc(value)
    if isinstance(value, Decimal):
        return value.quantize(Decimal("0.01"))
    return value


def _all_rows(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every demo table, ordered by id and normalised."""
    with engine.connect() as connection:
        return {
            name: [
                tuple(_normalise(v) for v in row)
                for row in connection.execute(sa.select(table).order_by(table.c.id))
            ]
            for name, table in ((name, metadata.tables[name]) for name in TABLES)
        }


def _seed_file(path: Path, spec: DemoSpec) -> tuple[Engine, dict[str, int]]:
    engine = sa.create_engine(f"sqlite:///{path}")
    return engine, seed(engine, spec)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, dict[str, int]]]:
    """The small spec seeded once into a SQLite file; read-only for the tests below."""
    engine, counts = _seed_file(tmp_path_factory.mktemp("demo") / "shop.db", SPEC)
    try:
        yield engine, counts
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def rows(seeded: tuple[Engine, dict[str, int]]) -> dict[str, list[tuple[Any, ...]]]:
    return _all_rows(seeded[0])


def _scalar(engine: Engine, statement: sa.Executable) -> Any:
    with engine.connect() as connection:
        return connection.execute(statement).scalar_one()


# ------------------------------------------------------------------------------------------------- shapes


def test_counts_match_tables_and_expected_ranges(seeded: tuple[Engine, dict[str, int]]) -> None:
    engine, counts = seeded
    with engine.connect() as connection:
        for name in TABLES:
            table = metadata.tables[name]
            assert (
                connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one() == counts[name]
            )
        anonymous = connection.execute(
            sa.select(sa.func.count()).where(web_sessions.c.customer_id.is_(None))
        ).scalar_one()
        consenting = connection.execute(
            sa.select(sa.func.count(sa.distinct(marketing_consents.c.customer_id)))
        ).scalar_one()
    n = SPEC.customers
    assert counts["customers"] == n
    assert 1.3 * n <= counts["addresses"] <= 1.7 * n
    assert 2.5 * n <= counts["orders"] <= 3.6 * n
    assert 2.5 * counts["orders"] <= counts["order_lines"] <= 3.5 * counts["orders"]
    assert 0.35 * n <= counts["support_tickets"] <= 0.7 * n
    assert 0.5 * n <= consenting <= 0.7 * n
    assert 3.0 * consenting <= counts["newsletter_sends"] <= 5.0 * consenting
    assert 5.0 * n <= counts["web_sessions"] - anonymous <= 7.5 * n
    assert 0.06 <= anonymous / counts["web_sessions"] <= 0.14


def test_share_of_customers_inactive_for_three_years(seeded: tuple[Engine, dict[str, int]]) -> None:
    engine, _ = seeded
    # The last sign of life: signup, login, order, session or ticket, whichever is latest.
    moments = sa.union_all(
        sa.select(customers.c.id.label("customer_id"), customers.c.created_at.label("at")),
        sa.select(customers.c.id, customers.c.last_login_at).where(customers.c.last_login_at.is_not(None)),
        sa.select(orders.c.customer_id, orders.c.created_at),
        sa.select(web_sessions.c.customer_id, web_sessions.c.started_at).where(
            web_sessions.c.customer_id.is_not(None)
        ),
        sa.select(support_tickets.c.customer_id, support_tickets.c.opened_at),
    ).subquery()
    last = (
        sa.select(moments.c.customer_id, sa.func.max(moments.c.at).label("last_seen"))
        .group_by(moments.c.customer_id)
        .subquery()
    )
    cutoff = SPEC.as_of.replace(year=SPEC.as_of.year - 3)
    inactive = _scalar(engine, sa.select(sa.func.count()).select_from(last).where(last.c.last_seen < cutoff))
    recent = _scalar(
        engine,
        sa.select(sa.func.count())
        .select_from(last)
        .where(last.c.last_seen >= SPEC.as_of - timedelta(days=30)),
    )
    assert 0.25 <= inactive / SPEC.customers <= 0.35
    assert recent / SPEC.customers >= 0.15  # and plenty are active right now


def test_legal_hold_is_one_customer_in_a_hundred(seeded: tuple[Engine, dict[str, int]]) -> None:
    engine, _ = seeded
    held = _scalar(engine, sa.select(sa.func.count()).where(customers.c.legal_hold.is_(True)))
    assert held == SPEC.customers // 100


def test_closed_and_deleted_customers(rows: dict[str, list[tuple[Any, ...]]]) -> None:
    columns = customers.c.keys()
    people = [dict(zip(columns, row, strict=True)) for row in rows["customers"]]
    assert {p["status"] for p in people} == {"active", "closed"}
    assert any(p["deleted_at"] is not None for p in people)
    assert all(p["status"] == "closed" for p in people if p["deleted_at"] is not None)
    assert 0.3 <= sum(p["iban"] is not None for p in people) / len(people) <= 0.5
    assert any(p["last_login_at"] is None for p in people)


def test_some_newsletters_were_sent_after_withdrawal(seeded: tuple[Engine, dict[str, int]]) -> None:
    engine, counts = seeded
    joined = newsletter_sends.join(
        marketing_consents,
        sa.and_(
            marketing_consents.c.customer_id == newsletter_sends.c.customer_id,
            marketing_consents.c.purpose == "newsletter",
        ),
    )
    late = _scalar(
        engine,
        sa.select(sa.func.count())
        .select_from(joined)
        .where(newsletter_sends.c.sent_at > marketing_consents.c.withdrawn_at),
    )
    early = _scalar(
        engine,
        sa.select(sa.func.count())
        .select_from(joined)
        .where(newsletter_sends.c.sent_at < marketing_consents.c.granted_at),
    )
    withdrawn = _scalar(
        engine, sa.select(sa.func.count()).where(marketing_consents.c.withdrawn_at.is_not(None))
    )
    assert late >= 1
    assert late / counts["newsletter_sends"] <= 0.015
    assert early == 0
    assert 0.12 <= withdrawn / counts["marketing_consents"] <= 0.3


def test_sessions_older_than_90_days_exist_in_bulk(seeded: tuple[Engine, dict[str, int]]) -> None:
    engine, counts = seeded
    old = _scalar(
        engine,
        sa.select(sa.func.count()).where(web_sessions.c.started_at < SPEC.as_of - timedelta(days=90)),
    )
    assert old / counts["web_sessions"] >= 0.6


def test_ip_addresses_are_valid_v4_and_v6(rows: dict[str, list[tuple[Any, ...]]]) -> None:
    index = web_sessions.c.keys().index("ip_address")
    versions = {ipaddress.ip_address(row[index]).version for row in rows["web_sessions"]}
    assert versions == {4, 6}


def test_emails_are_unique_and_on_reserved_domains(rows: dict[str, list[tuple[Any, ...]]]) -> None:
    index = customers.c.keys().index("email")
    emails = [row[index] for row in rows["customers"]]
    assert len(set(emails)) == len(emails)
    for email in emails:
        local, domain = email.split("@")
        assert domain in {"example.com", "example.org", "example.net"}
        assert local.isascii() and local == local.lower()


def test_ticket_bodies_leak_contact_details(rows: dict[str, list[tuple[Any, ...]]]) -> None:
    columns = customers.c.keys()
    contact = {row[0]: dict(zip(columns, row, strict=True)) for row in rows["customers"]}
    body_index = support_tickets.c.keys().index("body")
    leaks_email = leaks_phone = 0
    for ticket in rows["support_tickets"]:
        person = contact[ticket[1]]
        leaks_email += person["email"] in ticket[body_index]
        leaks_phone += person["phone"] is not None and person["phone"] in ticket[body_index]
    assert leaks_email >= 1
    assert leaks_phone >= 1


def test_timestamps_lie_in_the_span_at_second_precision(rows: dict[str, list[tuple[Any, ...]]]) -> None:
    start = SPEC.as_of.replace(year=SPEC.as_of.year - SPEC.years)
    for name in TABLES:
        table = metadata.tables[name]
        positions = [i for i, column in enumerate(table.columns) if isinstance(column.type, sa.DateTime)]
        if not positions:  # order_lines
            continue
        values = [row[i] for row in rows[name] for i in positions if row[i] is not None]
        assert values, name
        assert all(start <= value <= SPEC.as_of for value in values), name
        assert all(value.microsecond == 0 for value in values), name


def test_allowed_values(rows: dict[str, list[tuple[Any, ...]]]) -> None:
    def values(table: sa.Table, column: str) -> set[Any]:
        index = table.c.keys().index(column)
        return {row[index] for row in rows[table.name]}

    assert values(orders, "status") == {"paid", "shipped", "cancelled", "refunded"}
    assert values(metadata.tables["addresses"], "kind") == {"billing", "shipping"}
    assert values(marketing_consents, "purpose") == {"newsletter", "profiling"}
    assert values(marketing_consents, "source") == {"signup_form", "checkout", "preference_centre"}
    assert values(support_tickets, "status") <= {"open", "pending", "closed"}
    assert values(customers, "country") == {"GB", "DE", "FR", "NL"}


# ------------------------------------------------------------------------------------------------ integrity


def test_foreign_keys_hold_and_are_enforced(seeded: tuple[Engine, dict[str, int]], tmp_path: Path) -> None:
    engine, _ = seeded
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA foreign_key_check").all() == []
        assert connection.exec_driver_sql("PRAGMA integrity_check").scalar_one() == "ok"
    fresh = sa.create_engine(f"sqlite:///{tmp_path / 'fk.db'}")
    try:
        create_schema(fresh)
        with fresh.connect() as connection:
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")
            with pytest.raises(sa.exc.IntegrityError):
                connection.execute(
                    orders.insert(),
                    {"customer_id": 1, "created_at": SPEC.as_of, "status": "paid", "total": Decimal("1.00")},
                )
    finally:
        fresh.dispose()


def test_seed_replaces_existing_tables(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'twice.db'}")
    try:
        seed(engine, DemoSpec(customers=30))
        counts = seed(engine, DemoSpec(customers=20))
        assert _scalar(engine, sa.select(sa.func.count()).select_from(customers)) == 20 == counts["customers"]
        with engine.begin() as connection:  # ids continue after the explicit ones
            result = connection.execute(
                web_sessions.insert(),
                {"started_at": SPEC.as_of, "ip_address": "192.0.2.1", "user_agent": "test"},
            )
            assert result.inserted_primary_key == (counts["web_sessions"] + 1,)
    finally:
        engine.dispose()


# ------------------------------------------------------------------------------------------------ determinism


def test_same_spec_gives_identical_rows_in_another_process(
    rows: dict[str, list[tuple[Any, ...]]], tmp_path: Path
) -> None:
    # A second process with a different hash seed: set or dict ordering must not leak into the data.
    target = tmp_path / "again.db"
    command = [sys.executable, "-m", "lethe.demo.seed", "--url", f"sqlite:///{target}", "--customers", "300"]
    done = subprocess.run(
        command, cwd=REPO, env={**os.environ, "PYTHONHASHSEED": "12345"}, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "customers" in done.stdout and "300" in done.stdout
    assert "300/300 customers" in done.stderr
    engine = sa.create_engine(f"sqlite:///{target}")
    try:
        assert _all_rows(engine) == rows
    finally:
        engine.dispose()


def test_different_seed_gives_different_rows(rows: dict[str, list[tuple[Any, ...]]], tmp_path: Path) -> None:
    engine, _ = _seed_file(tmp_path / "other.db", DemoSpec(customers=300, seed=7))
    try:
        other = _all_rows(engine)
    finally:
        engine.dispose()
    assert other["customers"] != rows["customers"]
    assert other["orders"] != rows["orders"]


def test_rows_do_not_depend_on_chunk_size() -> None:
    spec = DemoSpec(customers=60)

    def flatten(chunk_size: int) -> dict[str, list[dict[str, Any]]]:
        merged: dict[str, list[dict[str, Any]]] = {name: [] for name in TABLES}
        for _, chunk in generate(spec, chunk_size=chunk_size):
            for name in TABLES:
                merged[name].extend(chunk[name])
        return merged

    assert flatten(7) == flatten(2000)


def test_progress_and_cli_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    calls: list[tuple[int, int]] = []
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'progress.db'}")
    try:
        seed(engine, DemoSpec(customers=5), progress=lambda done, total: calls.append((done, total)))
    finally:
        engine.dispose()
    assert calls == [(5, 5)]
    with pytest.raises(SystemExit):
        main(["--url", f"sqlite:///{tmp_path / 'x.db'}", "--customers", "-1"])
    assert "must not be negative" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------ servers


@pytest.mark.parametrize(
    "engine_name",
    [
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
        pytest.param("mariadb", id="mariadb", marks=pytest.mark.mariadb),
    ],
)
def test_server_rows_equal_sqlite_rows(engine_name: str, tmp_path: Path) -> None:
    require_server(engine_name)  # skips with the reason, or fails when CI=true
    spec = DemoSpec(customers=200)
    local, _ = _seed_file(tmp_path / "reference.db", spec)
    try:
        expected = _all_rows(local)
    finally:
        local.dispose()
    url = create_scratch_database(engine_name)
    try:
        engine = sa.create_engine(url)
        try:
            counts = seed(engine, spec)
            assert _all_rows(engine) == expected
            assert counts == {name: len(expected[name]) for name in TABLES}
            with engine.begin() as connection:  # the sequences moved past the explicit ids
                result = connection.execute(
                    web_sessions.insert(),
                    {"started_at": spec.as_of, "ip_address": "192.0.2.1", "user_agent": "test"},
                )
                assert result.inserted_primary_key == (counts["web_sessions"] + 1,)
        finally:
            engine.dispose()
    finally:
        drop_scratch_database(url)
