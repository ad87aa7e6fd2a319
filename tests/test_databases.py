"""Tests of the database fixtures themselves (tests/conftest.py, tests/support/databases.py and chinook.py)."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url
from support.chinook import ChinookDb, chinook_dir
from support.databases import (
    ENV_VARS,
    MARIADB_COLLATION,
    create_scratch_database,
    drop_scratch_database,
    make_engine,
    require_server,
    server_admin_url,
    servers_required,
    unreachable_reason,
)

SERVER_PARAMS = [
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    pytest.param("mariadb", id="mariadb", marks=pytest.mark.mariadb),
]

CHINOOK_TABLES = [
    "Album",
    "Artist",
    "Customer",
    "Employee",
    "Genre",
    "Invoice",
    "InvoiceLine",
    "MediaType",
    "Playlist",
    "PlaylistTrack",
    "Track",
]


def _dialect(engine_name: str) -> str:
    return {"sqlite": "sqlite", "postgresql": "postgresql", "mariadb": "mysql"}[engine_name]


def _tables(engine: Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


# --------------------------------------------------------------------------------------- db_url / db_engine


def test_each_engine_connects(db_engine: Engine, request: pytest.FixtureRequest) -> None:
    engine_name = request.node.callspec.params["db_url"]
    assert db_engine.dialect.name == _dialect(engine_name)
    with db_engine.connect() as conn:
        assert conn.execute(sa.text("SELECT 1")).scalar_one() == 1
    assert _tables(db_engine) == set()  # a fresh, empty database


def test_scratch_databases_are_isolated(db_url: str, db_engine: Engine, tmp_path: Path) -> None:
    with db_engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE isolation_probe (id INTEGER PRIMARY KEY)"))
    assert "isolation_probe" in _tables(db_engine)

    url = make_url(db_url)
    if url.get_backend_name() == "sqlite":
        other_url, drop = f"sqlite:///{tmp_path}/other.db", False
    else:
        other_url, drop = (
            create_scratch_database("postgresql" if url.get_backend_name() == "postgresql" else "mariadb"),
            True,
        )
    other = make_engine(other_url)
    try:
        assert other_url != db_url
        assert "isolation_probe" not in _tables(other)
    finally:
        other.dispose()
        if drop:
            drop_scratch_database(other_url)


def test_foreign_keys_are_enforced_on_every_engine(db_engine: Engine) -> None:
    with db_engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE parent (id INTEGER PRIMARY KEY)"))
        conn.execute(
            sa.text("CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent (id))")
        )
    with pytest.raises(sa.exc.IntegrityError), db_engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO child (id, parent_id) VALUES (1, 42)"))


def test_string_equality_is_exact_on_every_engine(db_engine: Engine) -> None:
    """Case, accents and trailing spaces all count, on MariaDB too (utf8mb4_nopad_bin)."""
    values = ["alice", "Alice", "alice ", "alicé"]
    with db_engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE names (id INTEGER PRIMARY KEY, name VARCHAR(20) NOT NULL)"))
        conn.execute(
            sa.text("INSERT INTO names (id, name) VALUES (:id, :name)"),
            [{"id": i, "name": v} for i, v in enumerate(values)],
        )
        hits = conn.execute(sa.text("SELECT name FROM names WHERE name = :v"), {"v": "alice"}).scalars().all()
        ordered = conn.execute(sa.text("SELECT name FROM names ORDER BY name")).scalars().all()
    assert hits == ["alice"]
    assert ordered == sorted(values)  # code point order, like Python's


@pytest.mark.parametrize("engine_name", SERVER_PARAMS)
def test_scratch_database_is_dropped(engine_name: str) -> None:
    require_server(engine_name)
    url = create_scratch_database(engine_name)
    name = make_url(url).database
    assert name is not None and name.startswith("lethe_t_") and len(name) == len("lethe_t_") + 8
    holder = make_engine(url)
    conn = holder.connect()  # a connection left open must not block the drop
    conn.execute(sa.text("SELECT 1"))
    try:
        drop_scratch_database(url)
    finally:
        conn.invalidate()
        holder.dispose()
    admin = make_engine(server_admin_url(engine_name) or "")
    try:
        with admin.connect() as c:
            if engine_name == "postgresql":
                query = "SELECT count(*) FROM pg_database WHERE datname = :n"
            else:
                query = "SELECT count(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = :n"
            assert c.execute(sa.text(query), {"n": name}).scalar_one() == 0
    finally:
        admin.dispose()
    drop_scratch_database(url)  # dropping twice is harmless


@pytest.mark.postgres
def test_postgresql_scratch_database_has_pgcrypto() -> None:
    require_server("postgresql")
    url = create_scratch_database("postgresql")
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            digest = conn.execute(
                sa.text("SELECT encode(hmac(CAST(:msg AS text), CAST(:key AS text), 'sha256'), 'hex')"),
                {"msg": "subject-42", "key": "k3y"},
            ).scalar_one()
    finally:
        engine.dispose()
        drop_scratch_database(url)
    assert digest == hmac.new(b"k3y", b"subject-42", hashlib.sha256).hexdigest()


@pytest.mark.mariadb
def test_mariadb_scratch_database_is_utf8mb4_binary() -> None:
    require_server("mariadb")
    url = create_scratch_database("mariadb")
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            charset, collation = conn.execute(
                sa.text(
                    "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME "
                    "FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = DATABASE()"
                )
            ).one()
    finally:
        engine.dispose()
        drop_scratch_database(url)
    assert (charset, collation) == ("utf8mb4", MARIADB_COLLATION)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://postgres@127.0.0.1:5432/lethe_test",
        "postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
        "mysql+pymysql://root@127.0.0.1:3306/lethe_test",
        "mysql+pymysql://root@127.0.0.1:3306/lethe_t_xyz",
    ],
)
def test_drop_refuses_databases_that_are_not_scratch(url: str) -> None:
    with pytest.raises(ValueError, match="refusing to drop"):
        drop_scratch_database(url)


# -------------------------------------------------------------------------------------------------- chinook


CHINOOK_COUNTS = {"Customer": 59, "Invoice": 412, "InvoiceLine": 2240, "Track": 3503}


def test_chinook_counts(chinook_url: ChinookDb) -> None:
    engine = make_engine(chinook_url.url)
    try:
        with engine.connect() as conn:
            counts = {
                table: conn.execute(
                    sa.select(sa.func.count()).select_from(sa.table(chinook_url.name(table)))
                ).scalar_one()
                for table in CHINOOK_COUNTS
            }
    finally:
        engine.dispose()
    assert counts == CHINOOK_COUNTS


def test_chinook_naming_and_text(chinook_url: ChinookDb) -> None:
    engine = make_engine(chinook_url.url)
    try:
        assert _tables(engine) == {chinook_url.name(t) for t in CHINOOK_TABLES}
        customer = sa.table(
            chinook_url.name("Customer"),
            sa.column(chinook_url.name("CustomerId")),
            sa.column(chinook_url.name("FirstName")),
            sa.column(chinook_url.name("LastName")),
        )
        with engine.connect() as conn:
            row = conn.execute(
                sa.select(
                    customer.c[chinook_url.name("FirstName")], customer.c[chinook_url.name("LastName")]
                ).where(customer.c[chinook_url.name("CustomerId")] == 1)
            ).one()
    finally:
        engine.dispose()
    assert tuple(row) == ("Luís", "Gonçalves")  # non-ASCII survives every loader


def test_chinook_name_mapping() -> None:
    snake = ChinookDb(url="x", engine_name="postgresql", naming="snake")
    pascal = ChinookDb(url="x", engine_name="sqlite", naming="pascal")
    assert snake.name("InvoiceLine") == "invoice_line"
    assert snake.name("MediaTypeId") == "media_type_id"
    assert snake.name("BillingPostalCode") == "billing_postal_code"
    assert snake.name("Customer") == "customer"
    assert pascal.name("InvoiceLine") == "InvoiceLine"


@pytest.mark.parametrize("chinook_url", ["sqlite"], indirect=True)
def test_chinook_sqlite_is_a_private_copy(chinook_url: ChinookDb) -> None:
    path = Path(make_url(chinook_url.url).database or "")
    assert path.is_file()
    assert not path.resolve().is_relative_to(chinook_dir().resolve())
    assert path.stat().st_mode & 0o200  # a writable copy, outside the repository's data folder


# --------------------------------------------------------------------------------------------- skip or fail


@pytest.mark.parametrize(
    ("engine_name", "label", "env"),
    [
        ("postgresql", "PostgreSQL", "LETHE_TEST_POSTGRES_URL"),
        ("mariadb", "MariaDB", "LETHE_TEST_MARIADB_URL"),
    ],
)
def test_unreachable_reason_names_server_and_variable(
    engine_name: str, label: str, env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed = {
        "postgresql": "postgresql+psycopg://postgres@127.0.0.1:1/postgres",
        "mariadb": "mysql+pymysql://root@127.0.0.1:1/",
    }[engine_name]
    monkeypatch.setenv(env, closed)
    reason = unreachable_reason(engine_name)
    assert reason is not None
    assert reason.startswith(f"{label} not reachable at 127.0.0.1:1 (set {env}); ")
    assert unreachable_reason(engine_name) == reason  # cached per URL

    monkeypatch.setenv(env, "")
    assert unreachable_reason(engine_name) == f"{label} tests switched off ({env} is empty)"


def test_require_server_skips_or_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LETHE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:1/postgres")
    monkeypatch.delenv("LETHE_REQUIRE_SERVERS", raising=False)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"PostgreSQL not reachable at 127\.0\.0\.1:1 "):
        require_server("postgresql")
    monkeypatch.setenv("LETHE_REQUIRE_SERVERS", "1")
    with pytest.raises(pytest.fail.Exception, match="failing instead of skipping"):
        require_server("postgresql")
    require_server("sqlite")  # never needs a server


def test_servers_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LETHE_REQUIRE_SERVERS", raising=False)
    monkeypatch.delenv("CI", raising=False)
    assert not servers_required()
    monkeypatch.setenv("CI", "true")
    assert servers_required()
    monkeypatch.setenv("CI", "false")
    monkeypatch.setenv("LETHE_REQUIRE_SERVERS", "1")
    assert servers_required()


def test_server_admin_url_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for env in ENV_VARS.values():
        monkeypatch.delenv(env, raising=False)
    assert server_admin_url("postgresql") == "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    assert server_admin_url("mariadb") == "mysql+pymysql://root@127.0.0.1:3306/"
    assert server_admin_url("sqlite") is None
    monkeypatch.setenv("LETHE_TEST_MARIADB_URL", "mysql+pymysql://u:p@db:3307/x")
    assert server_admin_url("mariadb") == "mysql+pymysql://u:p@db:3307/x"
