"""Tests of the anonymisation operators on real SQLite, PostgreSQL and MariaDB databases, no mocks.

The central guarantee: for every deterministic operator the value written by the SQL of each engine equals
what the Python reference computes from the original value, so the three engines and Python agree. HMACs are
also checked against an independent computation with the standard library.

The operator matrix shares one scratch database per engine (``engine``, module scope: creating a PostgreSQL
database costs ~0.3 s) and rebuilds its table in each test; tests that change the database itself use the
per-test ``db_engine`` of ``conftest.py``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.engine import Engine
from support.databases import (
    ENGINE_NAMES,
    create_scratch_database,
    drop_scratch_database,
    make_engine,
    require_server,
)

from lethe.crypto import derive_key
from lethe.errors import OperatorError, SettingsError
from lethe.operators import OPERATORS, ColumnShape, Operator, OperatorContext, TypeKind
from lethe.operators.dialects import bind_keys, register_sqlite_functions
from lethe.operators.encrypt import EncryptOperator, ciphertext_length, decrypt_pseudonym, encrypt_pseudonym
from lethe.operators.fake import FAKE_LENGTHS, FakeOperator, FakeOptions, fake_from_digest
from lethe.operators.fake_pools import CITIES, FIRST_NAMES, LAST_NAMES, STREETS
from lethe.operators.generalise import GeneraliseOperator, GeneraliseOptions
from lethe.operators.hmac import HmacOperator, HmacOptions, hmac_token
from lethe.operators.mask import MaskOperator, MaskOptions, mask_text
from lethe.operators.noise import NoiseOperator, NoiseOptions, noise_units
from lethe.operators.null import NullOperator
from lethe.operators.redact import RedactOperator, RedactOptions

MASTER = bytes(range(32))
SIV_KEY = bytes(range(64, 128))
SCOPE_PREFIX = "crm.people."

_MARKS = {"sqlite": (), "postgresql": (pytest.mark.postgres,), "mariadb": (pytest.mark.mariadb,)}
ENGINES = [pytest.param(name, id=name, marks=_MARKS[name]) for name in ENGINE_NAMES]


@pytest.fixture(scope="module", params=ENGINES)
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """One scratch database per engine for this module (tests recreate their tables)."""
    name: str = request.param
    if name == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('operators') / 'ops.db'}"
    else:
        require_server(name)
        url = create_scratch_database(name)
    db = make_engine(url)
    try:
        yield db
    finally:
        db.dispose()
        if name != "sqlite":
            drop_scratch_database(url)


# ------------------------------------------------------------------------------------------------- the table

COLUMNS: dict[str, tuple[sa.types.TypeEngine[Any], TypeKind, int | None]] = {
    "name": (sa.String(120), "text", 120),
    "note": (sa.Text(), "text", None),
    "email": (sa.String(120), "text", 120),
    "code": (sa.String(20), "text", 20),
    "born": (sa.Date(), "date", None),
    "seen": (sa.DateTime(timezone=True), "datetime", None),
    "age": (sa.Integer(), "integer", None),
    "amount": (sa.Numeric(10, 2), "numeric", None),
}

ROWS: list[dict[str, Any]] = [
    {
        "id": 1,
        "name": "Zoë Ångström",
        "note": "likes tea",
        "email": "zoe.angstrom@example.org",
        "code": "AB12",
        "born": date(1984, 7, 15),
        "seen": datetime(2021, 3, 4, 5, 6, 7, 123456, tzinfo=UTC),
        "age": 42,
        "amount": Decimal("1234.56"),
    },
    {
        "id": 2,
        "name": "李小龙",
        "note": "李小龙的笔记 😀",
        "email": "李@例子.中国",
        "code": "李小龙",
        "born": date(2000, 2, 29),
        "seen": datetime(2020, 12, 31, 23, 59, 59, tzinfo=UTC),
        "age": 7,
        "amount": Decimal("-0.05"),
    },
    {
        "id": 3,
        "name": "Ann 😀 Lee",
        "note": "ﬁ combining é and e\u0301",
        "email": "ann+tag@mail.example.com",
        "code": "SW1A 1AA",
        "born": date(1999, 12, 31),
        "seen": datetime(1999, 12, 31, 0, 0, 1, tzinfo=UTC),
        "age": -17,
        "amount": Decimal("-1234.56"),
    },
    {  # empty strings, and dates already generalised to the year
        "id": 4,
        "name": "",
        "note": "",
        "email": "",
        "code": "",
        "born": date(1970, 1, 1),
        "seen": datetime(2022, 1, 1, tzinfo=UTC),
        "age": 0,
        "amount": Decimal("0.00"),
    },
    {"id": 5} | {column: None for column in COLUMNS},
    {  # long values
        "id": 6,
        "name": "x" * 120,
        "note": "é" * 3000,
        "email": "a" * 100 + "@b.example",
        "code": "y" * 20,
        "born": date(2024, 2, 1),
        "seen": datetime(2024, 2, 1, tzinfo=UTC),
        "age": 123456,
        "amount": Decimal("98765432.10"),
    },
    {  # characters that are special somewhere: quotes, LIKE wildcards, backslash, trailing space
        "id": 7,
        "name": "O'Brien \"%_\\ ",
        "note": "abc ",
        "email": "@leading",
        "code": "no-at-sign",
        "born": date(1960, 6, 30),
        "seen": datetime(1960, 6, 30, 12, 0, tzinfo=UTC),
        "age": 100,
        "amount": Decimal("10.00"),
    },
]


def create_people(engine: Engine) -> sa.Table:
    """A fresh ``people`` table holding ``ROWS``."""
    metadata = sa.MetaData()
    table = sa.Table(
        "people",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        *(sa.Column(name, type_) for name, (type_, _, _) in COLUMNS.items()),
    )
    metadata.drop_all(engine)
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(table.insert(), ROWS)
    return table


def context(engine: Engine, column: str, key_version: int = 1, scope: str | None = None) -> OperatorContext:
    """The context the retention engine would build for ``people.column``."""
    _, kind, length = COLUMNS[column]
    return OperatorContext(
        dialect=engine.dialect.name,
        scope=scope or SCOPE_PREFIX + column,
        column=ColumnShape(kind=kind, length=length, nullable=True),
        master_key=MASTER,
        key_version=key_version,
        siv_key=SIV_KEY,
    )


def context_without_engine(column: str, kind: TypeKind) -> OperatorContext:
    """A context for Python-only tests."""
    return OperatorContext("sqlite", SCOPE_PREFIX + column, ColumnShape(kind, None, True), MASTER, 1, SIV_KEY)


def read(engine: Engine, table: sa.Table, column: str) -> dict[int, Any]:
    """``{id: value}`` of a column."""
    with engine.connect() as conn:
        return dict(conn.execute(sa.select(table.c.id, table.c[column])).tuples().all())


def applied_rows(engine: Engine, table: sa.Table, predicate: sa.ColumnElement[Any]) -> set[int]:
    """Ids of the rows where ``predicate`` is true."""
    with engine.connect() as conn:
        return set(conn.execute(sa.select(table.c.id).where(predicate)).scalars())


def rewrite(
    engine: Engine, table: sa.Table, op: type[Operator], options: BaseModel, ctx: OperatorContext
) -> int:
    """What the retention engine does: ensure, prepare, bind keys, then one set-based UPDATE skipping handled rows."""
    column = table.c[ctx.scope.rsplit(".", 1)[1]]
    statement = sa.update(table).values({column: op.sql(options, column, [table.c.id], ctx)})
    predicate = op.applied(options, column, ctx)
    if predicate is not None:
        statement = statement.where(sa.not_(predicate))
    with engine.begin() as conn:
        op.ensure(conn, ctx)
        op.prepare(conn.connection.dbapi_connection, ctx)
        bind_keys(conn, op.keys(ctx))
        return conn.execute(statement).rowcount


@dataclass(frozen=True)
class Case:
    """One operator with its options on one column."""

    op: type[Operator]
    options: BaseModel
    column: str
    key_version: int = 1

    def __str__(self) -> str:
        options = ",".join(f"{k}={v}" for k, v in self.options.model_dump(exclude_defaults=True).items())
        return f"{self.op.name}({options})-{self.column}" + (
            f"-v{self.key_version}" if self.key_version > 1 else ""
        )


CASES = [
    Case(NullOperator, NullOperator.options_model(), "name"),
    Case(NullOperator, NullOperator.options_model(), "amount"),
    Case(NullOperator, NullOperator.options_model(), "seen"),
    Case(RedactOperator, RedactOptions(), "name"),
    Case(RedactOperator, RedactOptions(value="[gone ✂]"), "note"),
    Case(MaskOperator, MaskOptions(), "name"),
    Case(MaskOperator, MaskOptions(), "note"),
    Case(MaskOperator, MaskOptions(keep_last=2, char="•", keep_email_domain=True), "email"),
    Case(MaskOperator, MaskOptions(keep_last=0, char="#"), "code"),
    Case(HmacOperator, HmacOptions(), "name"),
    Case(HmacOperator, HmacOptions(), "note"),
    Case(HmacOperator, HmacOptions(), "name", key_version=2),
    Case(HmacOperator, HmacOptions(length=15), "code"),  # the longest check() accepts in String(20)
    Case(HmacOperator, HmacOptions(length=8), "email"),
    Case(GeneraliseOperator, GeneraliseOptions(to="year"), "born"),
    Case(GeneraliseOperator, GeneraliseOptions(to="month"), "born"),
    Case(GeneraliseOperator, GeneraliseOptions(to="year"), "seen"),
    Case(GeneraliseOperator, GeneraliseOptions(to="month"), "seen"),
    Case(GeneraliseOperator, GeneraliseOptions(bucket=10), "age"),
    Case(GeneraliseOperator, GeneraliseOptions(bucket=100), "amount"),
    Case(GeneraliseOperator, GeneraliseOptions(bucket=0.25), "amount"),
    Case(GeneraliseOperator, GeneraliseOptions(keep=2), "code"),
    Case(GeneraliseOperator, GeneraliseOptions(keep=3), "note"),
    Case(NoiseOperator, NoiseOptions(amount=5), "age"),
    Case(NoiseOperator, NoiseOptions(amount=2.5), "amount"),
    Case(NoiseOperator, NoiseOptions(days=30), "born"),
    Case(NoiseOperator, NoiseOptions(days=7), "seen"),
    Case(NoiseOperator, NoiseOptions(amount=5), "age", key_version=2),
    *(Case(FakeOperator, FakeOptions(kind=kind), "note") for kind in FAKE_LENGTHS),
    Case(FakeOperator, FakeOptions(kind="email"), "code"),  # cut to String(20)
    Case(FakeOperator, FakeOptions(kind="name"), "name"),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_sql_matches_python_reference(engine: Engine, case: Case) -> None:
    """The SQL of each engine writes exactly what the Python reference computes; handled rows are skipped."""
    table = create_people(engine)
    ctx = context(engine, case.column, case.key_version)
    before = read(engine, table, case.column)
    expected = {id_: case.op.python(case.options, value, (id_,), ctx) for id_, value in before.items()}
    predicate = case.op.applied(case.options, table.c[case.column], ctx)
    assert (predicate is not None) == case.op.recognisable
    if predicate is not None:
        done_before = {id_ for id_, value in before.items() if value is None or expected[id_] == value}
        assert applied_rows(engine, table, predicate) == done_before

    rewrite(engine, table, case.op, case.options, ctx)

    assert read(engine, table, case.column) == expected
    if predicate is not None:
        assert applied_rows(engine, table, predicate) == set(before)
        assert rewrite(engine, table, case.op, case.options, ctx) == 0  # a re-run touches nothing


def test_every_operator_is_covered() -> None:
    """The matrix above exercises every registered in-database operator."""
    assert {case.op.name for case in CASES} == {op.name for op in OPERATORS.values() if op.in_database}


@pytest.mark.parametrize(
    ("op", "options", "column"),
    [
        (RedactOperator, RedactOptions(), "name"),
        (HmacOperator, HmacOptions(), "name"),
        (GeneraliseOperator, GeneraliseOptions(to="year"), "born"),
        (EncryptOperator, EncryptOperator.options_model(), "note"),
    ],
    ids=lambda v: getattr(v, "name", None) if isinstance(v, type) else None,
)
def test_applied_tests_null_only_where_a_column_can_hold_one(
    op: type[Operator], options: BaseModel, column: str
) -> None:
    """A NULL counts as applied on a nullable column; on a NOT NULL one the predicate skips the test."""
    table = sa.table("people", sa.column(column))
    nullable = context_without_engine(column, COLUMNS[column][1])
    not_null = OperatorContext(
        nullable.dialect, nullable.scope, ColumnShape(nullable.column.kind, None, False), MASTER, 1, SIV_KEY
    )
    sql = {
        ctx.column.nullable: str(op.applied(options, table.c[column], ctx).compile(dialect=sqlite.dialect()))  # type: ignore[union-attr]
        for ctx in (nullable, not_null)
    }
    assert "people." + column + " IS NULL" in sql[True]
    assert "IS NULL" not in sql[False]
    assert sql[False] in sql[True]  # the same test of the value, without the NULL branch


# ------------------------------------------------------------------------------------------------------ hmac


def reference_hmac(scope: str, value: str, version: int = 1) -> str:
    """HMAC-SHA256 hex computed with the standard library only, under the documented key derivation."""
    key = derive_key(MASTER, f"lethe/hmac/{scope}|v{version}")
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()


def test_hmac_in_sql_matches_the_standard_library(engine: Engine) -> None:
    """Tokens written by each engine equal ``~h1:`` + hmac.new(...).hexdigest(), non-ASCII included."""
    table = create_people(engine)
    ctx = context(engine, "name")
    rewrite(engine, table, HmacOperator, HmacOptions(), ctx)
    tokens = read(engine, table, "name")
    for row in ROWS:
        value = row["name"]
        assert tokens[row["id"]] == (None if value is None else "~h1:" + reference_hmac(ctx.scope, value))
    # After a key rotation the version-1 tokens count as handled: they are not hashed a second time.
    assert rewrite(engine, table, HmacOperator, HmacOptions(), context(engine, "name", key_version=2)) == 0


def test_hmac_hashes_utf8_whatever_the_mariadb_charset(engine: Engine) -> None:
    """MariaDB columns in latin1, utf8mb3 or a case-insensitive collation hash the value's UTF-8 bytes too."""
    charsets = {
        "ci": mysql.VARCHAR(100, charset="utf8mb4", collation="utf8mb4_general_ci"),
        "latin": mysql.VARCHAR(100, charset="latin1"),
        "mb3": mysql.VARCHAR(100, charset="utf8mb3"),
    }
    metadata = sa.MetaData()
    table = sa.Table(
        "charsets",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        *(
            sa.Column(name, sa.String(100).with_variant(type_, "mysql", "mariadb"))
            for name, type_ in charsets.items()
        ),
    )
    metadata.drop_all(engine)
    metadata.create_all(engine)
    rows = [
        {"id": 1, "ci": "Zoë 李小龙 😀", "latin": "Zoë Ångström", "mb3": "李小龙 Ørsted"},
        {"id": 2, "ci": "ZOË", "latin": "", "mb3": None},
    ]
    with engine.begin() as conn:
        conn.execute(table.insert(), rows)
    for column in charsets:
        ctx = OperatorContext(
            engine.dialect.name, f"crm.charsets.{column}", ColumnShape("text", 100, True), MASTER
        )
        rewrite(engine, table, HmacOperator, HmacOptions(length=32), ctx)
        tokens = read(engine, table, column)
        for row in rows:
            value = row[column]
            expected = None if value is None else "~h1:" + reference_hmac(ctx.scope, value)[:32]
            assert tokens[row["id"]] == expected, (column, row["id"])


def test_hmac_token_is_pinned() -> None:
    """A token never changes across releases: subject erasure finds rows tokenised long ago."""
    token = hmac_token(MASTER, "crm.people.name", "Zoë Ångström")
    assert token == "~h1:" + reference_hmac("crm.people.name", "Zoë Ångström")
    assert token == "~h1:77487ef1e36744b479718531aef178c438741354e714c16ef090486211b06f8a"


def test_hmac_token_versions_scopes_and_lengths() -> None:
    """Version 2 changes prefix and digest; another column another digest; ``length`` cuts the digest."""
    v1 = hmac_token(MASTER, "crm.people.name", "Ann")
    v2 = hmac_token(MASTER, "crm.people.name", "Ann", key_version=2)
    other = hmac_token(MASTER, "crm.people.email", "Ann")
    assert v1.startswith("~h1:") and v2.startswith("~h2:")
    assert v1[4:] != v2[4:] and v1 != other
    assert re.fullmatch(r"~h1:[0-9a-f]{64}", v1)
    assert hmac_token(MASTER, "crm.people.name", "Ann", length=16) == v1[:20]
    ctx = OperatorContext("sqlite", "crm.people.name", ColumnShape("text", None, True), master_key=MASTER)
    assert HmacOperator.python(HmacOptions(), "Ann", (1,), ctx) == v1


def test_hmac_needs_the_master_key() -> None:
    """No master key: a settings error naming the variable, in SQL and in Python."""
    ctx = OperatorContext("postgresql", "crm.people.name", ColumnShape("text", None, True))
    with pytest.raises(SettingsError, match="LETHE_MASTER_KEY"):
        HmacOperator.sql(HmacOptions(), sa.column("name"), [], ctx)
    with pytest.raises(SettingsError, match="LETHE_MASTER_KEY"):
        HmacOperator.python(HmacOptions(), "Ann", (1,), ctx)


@pytest.mark.parametrize(
    ("length", "column_length", "accepted"),
    [(64, 20, False), (15, 20, True), (16, 20, False), (64, 69, True), (64, 68, False), (64, None, True)],
)
def test_hmac_check(length: int, column_length: int | None, accepted: bool) -> None:
    """The token must fit the column with a prefix of up to two version digits (``~h99:``, 5 characters)."""
    problem = HmacOperator.check(HmacOptions(length=length), ColumnShape("text", column_length, True))
    assert (problem is None) == accepted
    if not accepted:
        assert "length" in (problem or "")


def test_pgcrypto_missing_is_a_clear_error(db_engine: Engine) -> None:
    """On PostgreSQL without pgcrypto, ``ensure`` says what to run; elsewhere it has nothing to check."""
    ctx = OperatorContext(db_engine.dialect.name, "crm.people.name", ColumnShape("text", None, True), MASTER)
    with db_engine.begin() as conn:
        if db_engine.dialect.name == "postgresql":
            conn.exec_driver_sql("DROP EXTENSION IF EXISTS pgcrypto")
            for op in (HmacOperator, NoiseOperator, FakeOperator):
                with pytest.raises(OperatorError, match="CREATE EXTENSION pgcrypto"):
                    op.ensure(conn, ctx)
        for op in (NullOperator, MaskOperator, GeneraliseOperator, EncryptOperator):
            op.ensure(conn, ctx)


# ------------------------------------------------------------------------------------------------------ mask


@pytest.mark.parametrize(
    ("value", "keep_last", "email", "expected"),
    [
        ("4111111111111111", 4, False, "************1111"),
        ("abc", 4, False, "***"),  # no longer than keep_last: masked whole, never left in clear
        ("abcd", 4, False, "****"),
        ("abcde", 4, False, "*bcde"),
        ("", 4, False, ""),
        ("zoë@exämple.org", 2, True, "***@exämple.org"),
        ("@leading", 2, True, "@leading"),
        ("a@b@c", 0, True, "*@b@c"),
        ("no-at-sign", 2, True, "********gn"),
        ("zoë@example.org", 2, False, "*************rg"),
        (None, 4, False, None),
    ],
)
def test_mask_reference(value: str | None, keep_last: int, email: bool, expected: str | None) -> None:
    """Lengths are kept; the email form keeps everything from the first ``@``."""
    assert mask_text(value, keep_last, "*", email) == expected


# ------------------------------------------------------------------------------------------------ generalise


def test_generalise_check() -> None:
    """Options must suit the column; an integer column needs a whole bucket."""
    options = GeneraliseOptions(bucket=2.5)
    assert GeneraliseOperator.check(options, ColumnShape("integer", None, True)) is not None
    assert GeneraliseOperator.check(options, ColumnShape("numeric", None, True)) is None
    assert GeneraliseOperator.check(GeneraliseOptions(bucket=10), ColumnShape("integer", None, True)) is None
    assert GeneraliseOperator.check(GeneraliseOptions(to="year"), ColumnShape("text", None, True)) is not None


def test_generalise_reference_edges() -> None:
    """Buckets floor towards minus infinity, exactly in decimal; dates keep their type and time zone."""
    ctx = context_without_engine("amount", "numeric")
    assert GeneraliseOperator.python(GeneraliseOptions(bucket=0.1), Decimal("0.30"), (1,), ctx) == Decimal(
        "0.3"
    )
    assert GeneraliseOperator.python(GeneraliseOptions(bucket=10), Decimal("-0.05"), (1,), ctx) == Decimal(
        -10
    )
    assert GeneraliseOperator.python(GeneraliseOptions(bucket=10), -17, (1,), ctx) == -20
    moment = datetime(2021, 3, 4, 5, 6, 7, 8, tzinfo=UTC)
    assert GeneraliseOperator.python(GeneraliseOptions(to="month"), moment, (1,), ctx) == datetime(
        2021, 3, 1, tzinfo=UTC
    )


# ----------------------------------------------------------------------------------------------------- noise


def test_noise_offsets_are_bounded_and_spread() -> None:
    """Offsets cover exactly [-bound, +bound]; integer and text keys of the same digits agree."""
    offsets = [noise_units(MASTER, (key,), 5) for key in range(500)]
    assert set(offsets) == set(range(-5, 6))
    assert noise_units(MASTER, ("7",), 5) == noise_units(MASTER, (7,), 5)  # int and text keys agree
    ctx = context_without_engine("amount", "numeric")
    noised = NoiseOperator.python(NoiseOptions(amount=2.5), Decimal("100.00"), (1,), ctx)
    assert Decimal("97.50") <= noised <= Decimal("102.50") and noised.as_tuple().exponent == -2


def test_noise_refuses_columns_without_a_scale() -> None:
    """A float has no unit to count offsets in: refused in SQL and in Python."""
    ctx = context_without_engine("amount", "numeric")
    with pytest.raises(OperatorError, match="fixed scale"):
        NoiseOperator.sql(NoiseOptions(amount=1), sa.column("amount", sa.Float()), [sa.column("id")], ctx)
    with pytest.raises(OperatorError, match="DECIMAL"):
        NoiseOperator.python(NoiseOptions(amount=1), 1.5, (1,), ctx)
    with pytest.raises(OperatorError, match="smaller than one unit"):
        NoiseOperator.python(NoiseOptions(amount=0.001), Decimal("1.00"), (1,), ctx)


def test_noise_with_a_composite_text_key(engine: Engine) -> None:
    """Offsets seeded by a two-column key (text and integer) agree between SQL and Python."""
    metadata = sa.MetaData()
    table = sa.Table(
        "visits",
        metadata,
        sa.Column("region", sa.String(20), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("amount", sa.Numeric(12, 3)),
    )
    metadata.drop_all(engine)
    metadata.create_all(engine)
    rows = [
        {"region": region, "seq": seq, "amount": Decimal("12.345")}
        for region in ("nord", "süd")
        for seq in (1, 2)
    ]
    with engine.begin() as conn:
        conn.execute(table.insert(), rows)
    ctx = OperatorContext(
        engine.dialect.name, "crm.visits.amount", ColumnShape("numeric", None, True), MASTER
    )
    options = NoiseOptions(amount=0.5)
    with engine.begin() as conn:
        NoiseOperator.prepare(conn.connection.dbapi_connection, ctx)
        bind_keys(conn, NoiseOperator.keys(ctx))
        value = NoiseOperator.sql(options, table.c.amount, [table.c.region, table.c.seq], ctx)
        conn.execute(sa.update(table).values(amount=value))
        got = {(r, s): a for r, s, a in conn.execute(sa.select(table.c.region, table.c.seq, table.c.amount))}
    expected = {
        (row["region"], row["seq"]): NoiseOperator.python(
            options, row["amount"], (row["region"], row["seq"]), ctx
        )
        for row in rows
    }
    assert got == expected
    assert len(set(got.values())) > 1


# ------------------------------------------------------------------------------------------------------ fake


def test_fake_pools_are_plain() -> None:
    """Pool entries travel as one ``|``-separated SQL parameter: plain ASCII letters and spaces, unique."""
    for pool in (FIRST_NAMES, LAST_NAMES, STREETS, CITIES):
        assert all(re.fullmatch(r"[A-Za-z]+( [A-Za-z]+)*", item) for item in pool)
        assert len(set(pool)) == len(pool)
    assert len(FIRST_NAMES) == len(LAST_NAMES) == 200


def test_fake_values_fit_their_documented_lengths() -> None:
    """Every kind, for many digests, fits ``FAKE_LENGTHS`` and looks like what it claims to be."""
    for n in range(300):
        digest = hashlib.sha256(str(n).encode()).hexdigest()
        for kind, length in FAKE_LENGTHS.items():
            assert len(fake_from_digest(kind, digest)) <= length
        assert re.fullmatch(r"[a-z]+\.[a-z]+\.[0-9a-f]{6}@example\.com", fake_from_digest("email", digest))
        assert re.fullmatch(r"\+44 7700 900\d{3}", fake_from_digest("phone", digest))
        assert re.fullmatch(r"\d{1,3} [A-Za-z ]+", fake_from_digest("street", digest))


def test_fake_is_deterministic_per_scope_and_version() -> None:
    """Same value, key and column: same fake; other column or key version: (almost surely) another."""
    options = FakeOptions(kind="name")
    ctx = context_without_engine("name", "text")
    names = [FakeOperator.python(options, f"person {n}", (1,), ctx) for n in range(50)]
    assert len(set(names)) > 40
    assert names == [FakeOperator.python(options, f"person {n}", (2,), ctx) for n in range(50)]
    elsewhere = context_without_engine("other", "text")
    assert names != [FakeOperator.python(options, f"person {n}", (1,), elsewhere) for n in range(50)]
    rotated = OperatorContext(ctx.dialect, ctx.scope, ctx.column, MASTER, key_version=2)
    assert names != [FakeOperator.python(options, f"person {n}", (1,), rotated) for n in range(50)]


# --------------------------------------------------------------------------------------------------- encrypt


def test_encrypt_round_trip_and_determinism() -> None:
    """Deterministic per column and version, reversible with the key and the scope, nothing else."""
    token = encrypt_pseudonym(SIV_KEY, "crm.people.name", "Zoë Ångström")
    assert token == encrypt_pseudonym(SIV_KEY, "crm.people.name", "Zoë Ångström")
    assert re.fullmatch(r"~e1:[A-Za-z0-9_-]+", token)
    assert len(token) == ciphertext_length(len("Zoë Ångström".encode()))
    assert decrypt_pseudonym(SIV_KEY, "crm.people.name", token) == "Zoë Ångström"
    assert token != encrypt_pseudonym(SIV_KEY, "crm.people.email", "Zoë Ångström")
    v2 = encrypt_pseudonym(SIV_KEY, "crm.people.name", "Zoë Ångström", key_version=2)
    assert v2.startswith("~e2:") and v2[4:] != token[4:]
    assert decrypt_pseudonym(SIV_KEY, "crm.people.name", v2) == "Zoë Ångström"
    with pytest.raises(OperatorError, match="does not decrypt"):
        decrypt_pseudonym(SIV_KEY, "crm.people.email", token)
    with pytest.raises(OperatorError, match="does not decrypt"):
        decrypt_pseudonym(bytes(64), "crm.people.name", token)
    with pytest.raises(OperatorError, match="not an encrypt pseudonym"):
        decrypt_pseudonym(SIV_KEY, "crm.people.name", "~h1:abc")


@pytest.mark.parametrize("size", [0, 1, 2, 3, 17, 100])
def test_ciphertext_length_is_exact(size: int) -> None:
    """The documented length is the real one: prefix + unpadded base64url of tag and data."""
    assert len(encrypt_pseudonym(SIV_KEY, "s", "a" * size)) == ciphertext_length(size)


def test_encrypt_needs_its_key_and_a_text_column() -> None:
    """No SIV key: a settings error; a bounded column never holds the longer pseudonym."""
    ctx = OperatorContext("sqlite", "crm.people.name", ColumnShape("text", None, True))
    with pytest.raises(SettingsError, match="LETHE_SIV_KEY"):
        EncryptOperator.python(EncryptOperator.options_model(), "Ann", (1,), ctx)
    with pytest.raises(NotImplementedError):
        EncryptOperator.sql(EncryptOperator.options_model(), sa.column("name"), [], ctx)
    assert EncryptOperator.check(EncryptOperator.options_model(), ColumnShape("text", 200, True)) is not None
    assert EncryptOperator.check(EncryptOperator.options_model(), ColumnShape("text", None, True)) is None


def test_encrypt_rewrites_in_python(engine: Engine) -> None:
    """As the engine runs an ``in_database = False`` operator: select, encrypt in Python, write back."""
    table = create_people(engine)
    ctx = context(engine, "note")
    options = EncryptOperator.options_model()
    predicate = EncryptOperator.applied(options, table.c.note, ctx)
    assert predicate is not None
    before = read(engine, table, "note")
    assert applied_rows(engine, table, predicate) == {id_ for id_, value in before.items() if value is None}
    with engine.begin() as conn:
        rows = conn.execute(sa.select(table.c.id, table.c.note).where(sa.not_(predicate))).all()
        updates = [
            {"pk": id_, "new": EncryptOperator.python(options, note, (id_,), ctx)} for id_, note in rows
        ]
        conn.execute(
            sa.update(table).where(table.c.id == sa.bindparam("pk")).values(note=sa.bindparam("new")), updates
        )
    after = read(engine, table, "note")
    assert applied_rows(engine, table, predicate) == set(before)
    rotated = EncryptOperator.applied(options, table.c.note, context(engine, "note", key_version=3))
    assert rotated is not None and applied_rows(engine, table, rotated) == set(before)
    for id_, value in before.items():
        assert after[id_] == EncryptOperator.python(options, value, (id_,), ctx)
        assert value is None or decrypt_pseudonym(SIV_KEY, ctx.scope, after[id_]) == value


# ---------------------------------------------------------------------------------------------------- sqlite


def test_sqlite_functions_register_once(tmp_path: Path) -> None:
    """Registering twice on one connection is harmless, even while a statement is open."""
    engine = make_engine(f"sqlite:///{tmp_path / 'f.db'}")
    try:
        with engine.connect() as conn:
            raw = conn.connection.dbapi_connection
            register_sqlite_functions(raw)
            result = conn.execute(sa.text("SELECT lethe_hex_int('ff') UNION ALL SELECT lethe_hex_int('10')"))
            register_sqlite_functions(raw)
            assert sorted(result.scalars()) == [16, 255]
    finally:
        engine.dispose()
