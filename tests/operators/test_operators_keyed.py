"""The keyed operators: hmac tokens, noise offsets and fake values, derived from the master key per column.

The SQL of each engine is checked against the standard library (hmac) or the Python reference; tokens are
pinned across releases, and a missing key is a settings error.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Engine
from support.operators import MASTER, ROWS, context, context_without_engine, create_people, read, rewrite

from lethe.crypto import derive_key
from lethe.errors import OperatorError, SettingsError
from lethe.operators import ColumnShape, OperatorContext
from lethe.operators.dialects import bind_keys
from lethe.operators.fake import FAKE_LENGTHS, FakeOperator, FakeOptions, fake_from_digest
from lethe.operators.fake_pools import CITIES, FIRST_NAMES, LAST_NAMES, STREETS
from lethe.operators.hmac import HmacOperator, HmacOptions, hmac_token
from lethe.operators.noise import NoiseOperator, NoiseOptions, noise_units

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
