"""Stores (lethe/stores.py): engines built from URLs, and the schemas reflected from them, on the three engines.

Reflection is checked on the Chinook sample database as each engine really reports it, and on small tables
made for the test in a scratch database. Passwords must never reach a message.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from support.databases import ChinookDb

from lethe.errors import SchemaMismatchError, SettingsError, StoreError
from lethe.operators.base import ColumnShape
from lethe.policy.loading import parse_policy
from lethe.policy.model import Policy, TableRef
from lethe.policy.urls import safe_url
from lethe.stores.engines import Stores, create_store_engine, ensure_table
from lethe.stores.schema import ForeignKey, SchemaInfo, reflect_schema

CHINOOK_TABLES = (
    "Album", "Artist", "Customer", "Employee", "Genre", "Invoice", "InvoiceLine", "MediaType", "Playlist",
    "PlaylistTrack", "Track",
)  # fmt: skip
PASSWORD = "s3cret-pw"
# Nothing listens on port 1: the connection is refused at once, no timeout to wait for.
UNREACHABLE = {
    "postgresql": f"postgresql+psycopg://lethe:{PASSWORD}@127.0.0.1:1/chinook",
    "mariadb": f"mysql+pymysql://lethe:{PASSWORD}@127.0.0.1:1/chinook",
}


def _policy(url: str) -> Policy:
    """A policy with one store ``shop`` at ``url``, and nothing else."""
    text = "version: 1\ncontroller:\n  name: Test Ltd\nstores:\n  shop:\n    url: ${SHOP_URL}\n"
    return parse_policy(text, source="stores.yaml", environ={"SHOP_URL": url})


@pytest.fixture(scope="module")
def chinook(chinook_url: ChinookDb) -> SchemaInfo:
    """The reflected Chinook schema of each engine (reflected once per module and engine)."""
    engine = create_store_engine(chinook_url.url)
    try:
        return reflect_schema(engine)
    finally:
        engine.dispose()


def _fk(db: ChinookDb, column: str, table: str, ref_column: str) -> ForeignKey:
    return ForeignKey((db.name(column),), db.name(table), (db.name(ref_column),))


# ----------------------------------------------------------------------------------------------- reflection


def test_reflects_the_eleven_chinook_tables(chinook_url: ChinookDb, chinook: SchemaInfo) -> None:
    assert list(chinook.tables) == sorted(chinook_url.name(t) for t in CHINOOK_TABLES)


def test_customer_columns_have_kinds_lengths_and_nullability(
    chinook_url: ChinookDb, chinook: SchemaInfo
) -> None:
    db = chinook_url
    customer = chinook.table(db.name("Customer"))
    assert list(customer.columns) == [
        db.name(c)
        for c in (
            "CustomerId", "FirstName", "LastName", "Company", "Address", "City", "State", "Country",
            "PostalCode", "Phone", "Fax", "Email", "SupportRepId",
        )
    ]  # fmt: skip
    key = customer.column(db.name("CustomerId"))
    assert (key.kind, key.sql_type, key.length, key.nullable) == ("integer", "INTEGER", None, False)
    email = customer.column(db.name("Email"))
    assert (email.kind, email.length, email.nullable) == ("text", 60, False)
    # The SQLite file keeps the script's NVARCHAR; PostgreSQL's script says VARCHAR; the MariaDB fixture loads
    # NVARCHAR as VARCHAR (so that it takes the database's utf8mb4 charset, see tests/support/chinook.py).
    expected_type = {"sqlite": "NVARCHAR(60)", "postgresql": "VARCHAR(60)", "mariadb": "VARCHAR(60)"}
    assert email.sql_type == expected_type[db.engine_name]
    assert email.shape == ColumnShape(kind="text", length=60, nullable=False)
    phone = customer.column(db.name("Phone"))
    assert (phone.kind, phone.length, phone.nullable) == ("text", 24, True)
    rep = customer.column(db.name("SupportRepId"))
    assert (rep.kind, rep.length, rep.nullable) == ("integer", None, True)


def test_timestamps_and_amounts_as_each_engine_reports_them(
    chinook_url: ChinookDb, chinook: SchemaInfo
) -> None:
    """All three report InvoiceDate as a datetime (none as a date), each under its own type name.

    SQLite has no date type: the column is declared DATETIME (values are ISO text) and SQLAlchemy maps the
    declared name to DATETIME. PostgreSQL's script declares TIMESTAMP (without time zone), MariaDB's DATETIME.
    Amounts are NUMERIC(10,2) everywhere, which MariaDB reports as DECIMAL.
    """
    db = chinook_url
    invoice = chinook.table(db.name("Invoice"))
    date_type = {"sqlite": "DATETIME", "postgresql": "TIMESTAMP", "mariadb": "DATETIME"}[db.engine_name]
    invoice_date = invoice.column(db.name("InvoiceDate"))
    assert (invoice_date.kind, invoice_date.sql_type, invoice_date.nullable) == ("datetime", date_type, False)
    birth = chinook.table(db.name("Employee")).column(db.name("BirthDate"))
    assert (birth.kind, birth.sql_type, birth.nullable) == ("datetime", date_type, True)
    total = invoice.column(db.name("Total"))
    money_type = "DECIMAL(10, 2)" if db.engine_name == "mariadb" else "NUMERIC(10, 2)"
    assert (total.kind, total.sql_type, total.length) == ("numeric", money_type, None)


def test_primary_keys(chinook_url: ChinookDb, chinook: SchemaInfo) -> None:
    db = chinook_url
    for table in CHINOOK_TABLES:
        if table != "PlaylistTrack":
            assert chinook.table(db.name(table)).primary_key == (db.name(f"{table}Id"),)
    # the only composite key: a playlist holds a track once
    assert chinook.table(db.name("PlaylistTrack")).primary_key == (db.name("PlaylistId"), db.name("TrackId"))


def test_foreign_keys(chinook_url: ChinookDb, chinook: SchemaInfo) -> None:
    db = chinook_url
    line = chinook.table(db.name("InvoiceLine"))
    assert set(line.foreign_keys) == {
        _fk(db, "InvoiceId", "Invoice", "InvoiceId"),
        _fk(db, "TrackId", "Track", "TrackId"),
    }
    assert chinook.table(db.name("Customer")).foreign_keys == (
        _fk(db, "SupportRepId", "Employee", "EmployeeId"),
    )
    assert chinook.table(db.name("Invoice")).foreign_keys == (
        _fk(db, "CustomerId", "Customer", "CustomerId"),
    )
    assert chinook.table(db.name("Employee")).foreign_keys == (
        _fk(db, "ReportsTo", "Employee", "EmployeeId"),
    )
    assert chinook.table(db.name("Artist")).foreign_keys == ()


def test_children_of(chinook_url: ChinookDb, chinook: SchemaInfo) -> None:
    db = chinook_url

    def children(parent: str) -> set[tuple[str, tuple[str, ...]]]:
        return {(table.name, fk.columns) for table, fk in chinook.children_of(db.name(parent))}

    assert children("Invoice") == {(db.name("InvoiceLine"), (db.name("InvoiceId"),))}
    assert children("Customer") == {(db.name("Invoice"), (db.name("CustomerId"),))}
    # self-reference included: an employee reports to an employee
    assert children("Employee") == {
        (db.name("Customer"), (db.name("SupportRepId"),)),
        (db.name("Employee"), (db.name("ReportsTo"),)),
    }
    assert children("Track") == {
        (db.name("InvoiceLine"), (db.name("TrackId"),)),
        (db.name("PlaylistTrack"), (db.name("TrackId"),)),
    }
    assert children("InvoiceLine") == set()


def test_unknown_table_suggests_the_close_names(chinook_url: ChinookDb, chinook: SchemaInfo) -> None:
    right = chinook_url.name("Customer")
    wrong_case = "customer" if chinook_url.naming == "pascal" else "Customer"
    with pytest.raises(SchemaMismatchError, match=rf"no table '{wrong_case}' \(did you mean '{right}'\?\)"):
        chinook.table(wrong_case)
    with pytest.raises(SchemaMismatchError, match=rf"\(did you mean '{right}'\?\)"):
        chinook.table(chinook_url.name("Custmer"))
    with pytest.raises(SchemaMismatchError) as caught:
        chinook.table("zzz_nothing_like_it")
    assert str(caught.value) == "no table 'zzz_nothing_like_it'"


def test_unknown_column_suggests_the_close_names(chinook_url: ChinookDb, chinook: SchemaInfo) -> None:
    customer = chinook.table(chinook_url.name("Customer"))
    right = chinook_url.name("Email")
    wrong_case = "email" if chinook_url.naming == "pascal" else "Email"
    with pytest.raises(SchemaMismatchError) as caught:
        customer.column(wrong_case)
    assert (
        str(caught.value) == f"table {customer.name} has no column '{wrong_case}' (did you mean '{right}'?)"
    )
    with pytest.raises(SchemaMismatchError, match=rf"has no column '\w+' \(did you mean '{right}'\?\)"):
        customer.column(chinook_url.name("Emial"))


def test_stores_table_names_the_store_and_suggests(chinook_url: ChinookDb) -> None:
    with Stores(_policy(chinook_url.url)) as stores:
        ref = TableRef(store="shop", table=chinook_url.name("InvoiceLines"))
        with pytest.raises(SchemaMismatchError) as caught:
            stores.table(ref)
        right = chinook_url.name("InvoiceLine")
        assert str(caught.value).startswith(f"store shop: no table '{ref.table}' (did you mean '{right}'")
        assert stores.table(TableRef(store="shop", table=right)).name == right
        with pytest.raises(SchemaMismatchError, match=r"unknown store 'shops' \(did you mean 'shop'\?\)"):
            stores.engine("shops")


def test_reflecting_an_empty_database_and_forgetting_after_ddl(db_url: str, db_engine: Engine) -> None:
    with Stores(_policy(db_url)) as stores:
        first = stores.schema("shop")
        assert first.tables == {}
        with db_engine.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE t (id INTEGER PRIMARY KEY)")
        assert stores.schema("shop") is first  # cached until told otherwise
        stores.forget()
        assert list(stores.schema("shop").tables) == ["t"]


# --------------------------------------------------------------------------------------------- type kinds


BOOLEAN_DDL = {
    # MariaDB spells BOOLEAN as TINYINT(1): `flag` is declared BOOLEAN, `hold` TINYINT(1) by hand; a plain
    # TINYINT (display width 4) is a small number, not a flag.
    "mariadb": "CREATE TABLE flags (id INTEGER PRIMARY KEY, flag BOOLEAN NOT NULL, hold TINYINT(1), level TINYINT)",
    "postgresql": "CREATE TABLE flags (id INTEGER PRIMARY KEY, flag boolean NOT NULL, hold bool, level smallint)",
    "sqlite": "CREATE TABLE flags (id INTEGER PRIMARY KEY, flag BOOLEAN NOT NULL, hold BOOLEAN, level SMALLINT)",
}


def test_boolean_kinds(db_url: str, db_engine: Engine) -> None:
    with db_engine.begin() as connection:
        connection.exec_driver_sql(BOOLEAN_DDL[db_engine.dialect.name.replace("mysql", "mariadb")])
    engine = create_store_engine(db_url)
    try:
        flags = reflect_schema(engine).table("flags")
    finally:
        engine.dispose()
    assert {name: c.kind for name, c in flags.columns.items()} == {
        "id": "integer",
        "flag": "boolean",
        "hold": "boolean",
        "level": "integer",
    }
    assert (flags.columns["flag"].nullable, flags.columns["hold"].nullable) == (False, True)
    if db_engine.dialect.name == "mysql":
        # What the kind is read from: BOOLEAN and TINYINT(1) come back as TINYINT of display width 1,
        # a plain TINYINT with width 4.
        reflected = {c["name"]: c["type"] for c in sa.inspect(db_engine).get_columns("flags")}
        assert [getattr(reflected[n], "display_width", None) for n in ("flag", "hold", "level")] == [1, 1, 4]


# ------------------------------------------------------------------------------------------------ engines


def test_safe_url_hides_the_password() -> None:
    for url in UNREACHABLE.values():
        shown = safe_url(url)
        assert PASSWORD not in shown
        assert shown.startswith(url.split("://")[0] + "://lethe:***@127.0.0.1:1/")
    assert safe_url(sa.make_url(UNREACHABLE["postgresql"])) == safe_url(UNREACHABLE["postgresql"])
    assert safe_url("sqlite:///var/shop.db") == "sqlite:///var/shop.db"
    assert safe_url(f"not a url {PASSWORD}") == "<unparseable URL>"


@pytest.mark.parametrize(
    "url",
    [
        f"nosuchdb://lethe:{PASSWORD}@db.example/shop",  # unknown dialect
        f"postgresql+nosuchdriver://lethe:{PASSWORD}@db.example/shop",  # unknown driver
        f"lethe:{PASSWORD}@db.example/shop",  # not a URL at all
    ],
)
def test_create_store_engine_on_a_bad_url_hides_the_password(url: str) -> None:
    with pytest.raises(SettingsError, match="cannot use database URL") as caught:
        create_store_engine(url)
    assert PASSWORD not in str(caught.value)
    assert caught.value.__cause__ is None  # the driver's text (which may echo the URL) is not chained


def test_sqlite_file_in_a_directory_that_cannot_be_made_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError, match="cannot use database URL"):
        create_store_engine(f"sqlite:///{blocker}/sub/shop.db")


def test_stores_name_the_store_whose_url_is_unusable() -> None:
    policy = _policy(f"postgresql+nosuchdriver://lethe:{PASSWORD}@db.example/shop")
    with Stores(policy) as stores, pytest.raises(SettingsError) as caught:
        stores.ping("shop")
    assert str(caught.value).startswith(
        "store shop: cannot use database URL postgresql+nosuchdriver://lethe:***@db.example/shop: "
        "unknown driver 'postgresql+nosuchdriver'; use one of sqlite:///PATH, postgresql+psycopg://"
    )
    assert caught.value.exit_code == 2


@pytest.mark.parametrize("engine_name", ["postgresql", "mariadb"])
def test_ping_on_an_unreachable_server_names_the_store_not_the_password(engine_name: str) -> None:
    with Stores(_policy(UNREACHABLE[engine_name])) as stores, pytest.raises(StoreError) as caught:
        stores.ping("shop")
    message = str(caught.value)
    assert message.startswith("store shop: cannot connect to ")
    assert "127.0.0.1:1" in message
    assert PASSWORD not in message
    assert caught.value.exit_code == 3


def test_reflecting_an_unreachable_server_hides_the_password() -> None:
    engine = create_store_engine(UNREACHABLE["postgresql"])
    try:
        with pytest.raises(StoreError, match="cannot read the schema of") as caught:
            reflect_schema(engine)
    finally:
        engine.dispose()
    assert PASSWORD not in str(caught.value)


def test_sqlite_engines_enforce_foreign_keys(tmp_path: Path) -> None:
    engine = create_store_engine(f"sqlite:///{tmp_path}/nested/dir/shop.db")  # directories are made
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
            connection.exec_driver_sql(
                "CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER NOT NULL REFERENCES parent (id))"
            )
            connection.exec_driver_sql("INSERT INTO parent (id) VALUES (1)")
            connection.exec_driver_sql("INSERT INTO child (id, parent_id) VALUES (1, 1)")
        with pytest.raises(sa.exc.IntegrityError, match="FOREIGN KEY constraint failed"), engine.begin() as c:
            c.exec_driver_sql("INSERT INTO child (id, parent_id) VALUES (2, 99)")
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as c:
            c.exec_driver_sql("DELETE FROM parent WHERE id = 1")
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("SELECT count(*) FROM child").scalar() == 1
    finally:
        engine.dispose()


def test_ensure_table_creates_once_and_names_the_table_when_it_cannot(tmp_path: Path) -> None:
    table = sa.Table("lethe_probe", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True))
    path = tmp_path / "s.db"
    engine = sa.create_engine(f"sqlite:///{path}")
    ensure_table(engine, table)
    ensure_table(engine, table)  # already there: nothing to do
    assert sa.inspect(engine).has_table("lethe_probe")
    engine.dispose()
    other = sa.Table("lethe_other", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True))
    reader = sa.create_engine(f"sqlite:///file:{path}?mode=ro&uri=true")
    try:
        with pytest.raises(
            StoreError, match=r"cannot create lethe_other in sqlite:///file.*s.db.*\(OperationalError\)"
        ):
            ensure_table(reader, other)
    finally:
        reader.dispose()
