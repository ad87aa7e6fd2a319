"""The messages operators give before anything changes: what does not fit a column, what a database lacks."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lethe.errors import OperatorError
from lethe.operators import OPERATORS, ColumnShape, OperatorContext
from lethe.operators.dialects import binlog_problem
from lethe.operators.hmac import HmacOperator, HmacOptions, hmac_token

MASTER = bytes(range(32))
ROOM = "5 for the prefix `~h<key version>:`, room kept for key versions up to 99"


def hmac_problem(length: int, column_length: int) -> str | None:
    return HmacOperator.check(HmacOptions(length=length), ColumnShape("text", column_length, True))


def test_hmac_check_counts_the_prefix_it_says() -> None:
    """Too long: the message says what it counts, and the suggested length fits exactly."""
    assert hmac_problem(64, 60) == (
        f"an hmac token of `length: 64` takes 69 characters ({ROOM}) but the column holds 60: "
        "set `length: 55` or widen the column"
    )
    assert hmac_problem(55, 60) is None
    # The suggestion leaves the stated room: a token of the current key version is shorter still.
    assert len(hmac_token(MASTER, "s.t.c", "x", length=55)) == 59
    assert hmac_problem(8, 13) is None and hmac_problem(9, 13) is not None


@pytest.mark.parametrize("column_length", [1, 10, 12])
def test_hmac_check_says_when_no_token_fits(column_length: int) -> None:
    """A column shorter than the shortest token: no impossible `length`, but the operators that fit."""
    assert hmac_problem(8, column_length) == (
        f"no hmac token fits a column of {column_length} characters: the shortest takes 13 ({ROOM}, and 8 "
        "hex characters); widen the column to at least 13 characters or use an operator that writes short "
        "values: redact (a value that fits), mask, generalise (`keep: N`), or null on a nullable column"
    )
    column = ColumnShape("text", column_length, True)
    fitting = {
        name
        for name, options in {
            "mask": {},
            "generalise": {"keep": 1},
            "null": {},
            "redact": {"value": "x"},
        }.items()
        if OPERATORS[name].check(OPERATORS[name].options_model(**options), column) is None
    }
    assert fitting == {"mask", "generalise", "null", "redact"}  # what the message offers does fit


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_pgcrypto_missing_message_is_whole(db_engine: Engine) -> None:
    """On PostgreSQL without pgcrypto the error says what to run, as whom, and the alternative."""
    ctx = OperatorContext("postgresql", "crm.people.name", ColumnShape("text", None, True), MASTER)
    with db_engine.begin() as conn:
        conn.exec_driver_sql("DROP EXTENSION IF EXISTS pgcrypto")
        database = conn.execute(sa.text("SELECT current_database()")).scalar_one()
        with pytest.raises(OperatorError) as caught:
            HmacOperator.ensure(conn, ctx)
    assert str(caught.value) == (
        f"PostgreSQL database '{database}' lacks the pgcrypto extension (hmac, noise and fake compute HMACs "
        "with it): run `CREATE EXTENSION pgcrypto;` in it as a user allowed to create extensions there (a "
        "superuser, or since PostgreSQL 13 any user with CREATE on the database: pgcrypto is a trusted "
        "extension), or set `tokens: in_process` on the store to compute the tokens in Lethe"
    )


@pytest.mark.parametrize("binlog_format", ["STATEMENT", "MIXED"])
def test_a_statement_binlog_would_copy_the_pads(binlog_format: str) -> None:
    """MariaDB replays user variables from a STATEMENT or MIXED binlog: Lethe refuses to bind keys there."""
    assert binlog_problem(1, binlog_format) == (
        f"MariaDB writes a binary log in {binlog_format} format, which records the user variables holding "
        "the column keys of hmac, noise and fake with every statement that reads them: set binlog_format to "
        "ROW (globally, or for Lethe's sessions with the URL parameter `init_command=SET SESSION "
        "binlog_format=ROW`), or set `tokens: in_process` on the store to compute the tokens in Lethe"
    )
    assert binlog_problem(1, "ROW") is None and binlog_problem(0, binlog_format) is None


@pytest.mark.parametrize("db_url", ["mariadb"], indirect=True)
def test_mariadb_binlog_is_read_from_the_session(db_engine: Engine) -> None:
    """The check reads the server's settings (the test server writes no binary log)."""
    ctx = OperatorContext("mysql", "crm.people.name", ColumnShape("text", None, True), MASTER)
    with db_engine.begin() as conn:
        log_bin, binlog_format = conn.execute(sa.text("SELECT @@log_bin, @@session.binlog_format")).one()
        if binlog_problem(log_bin, binlog_format) is None:
            HmacOperator.ensure(conn, ctx)
        else:
            with pytest.raises(OperatorError, match="binary log"):
                HmacOperator.ensure(conn, ctx)
