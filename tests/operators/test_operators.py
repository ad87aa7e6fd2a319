"""Tests of the anonymisation operators on real SQLite, PostgreSQL and MariaDB databases, no mocks.

The central guarantee: for every deterministic operator the value written by the SQL of each engine equals
what the Python reference computes from the original value, so the three engines and Python agree. HMACs are
also checked against an independent computation with the standard library.

The operator matrix shares one scratch database per engine (``engine``, module scope, in this folder's
``conftest.py``) and rebuilds its table in each test; tests that change the database itself use the per-test
``db_engine`` of the top ``conftest.py``. Each family has its own file besides: ``test_operators_keyed.py``
(hmac, noise, fake), ``test_operators_masking.py`` (mask, generalise), ``test_operators_encrypt.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Engine
from support.databases import make_engine
from support.operators import (
    COLUMNS,
    MASTER,
    SIV_KEY,
    applied_rows,
    context,
    context_without_engine,
    create_people,
    read,
    rewrite,
)

from lethe.errors import OperatorError
from lethe.operators import OPERATORS, ColumnShape, Operator, OperatorContext
from lethe.operators.dialects import register_sqlite_functions
from lethe.operators.encrypt import EncryptOperator
from lethe.operators.fake import FAKE_LENGTHS, FakeOperator, FakeOptions
from lethe.operators.generalise import GeneraliseOperator, GeneraliseOptions
from lethe.operators.hmac import HmacOperator, HmacOptions
from lethe.operators.mask import MaskOperator, MaskOptions
from lethe.operators.noise import NoiseOperator, NoiseOptions
from lethe.operators.null import NullOperator
from lethe.operators.redact import RedactOperator, RedactOptions


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
