"""Per-column keys stay out of what database observers see, on SQLite, PostgreSQL and MariaDB.

Every statement and its parameters sent during a retention run and an erasure is captured (SQLAlchemy's
``before_cursor_execute``): no key or pad may appear in any of them but the short statement that binds the
keys for a transaction. With ``tokens: in_process`` no key reaches the database at all, and the tokens are
the very same. On the servers, another connection reads the activity view (MariaDB ``PROCESSLIST``,
PostgreSQL ``pg_stat_activity``) while the rewriting UPDATE runs: it waits on a lock the test holds, so
the observation needs no timing.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from support.keys import (
    AS_OF,
    BINDING,
    make_policy,
    people_table,
    policy_text,
    retain_and_erase,
    reveals,
    seed_people,
    snapshot,
)
from support.retention import make_settings

from lethe.cli.main import main
from lethe.errors import PolicyError
from lethe.ledger.chain import Ledger
from lethe.operators.dialects import bind_keys, hmac_hex, hmac_hex_sql, register_sqlite_functions, sql_key
from lethe.operators.hmac import hmac_token
from lethe.policy.loading import parse_policy
from lethe.retention.enforce import enforce_rule
from lethe.retention.run import RetentionRun
from lethe.stores.engines import Stores

MASTER = bytes.fromhex("ab" * 32)


def test_keys_appear_only_in_the_binding_statement_and_in_process_sends_none(
    db_url: str, db_engine: sa.Engine, tmp_path: Path
) -> None:
    seed_people(db_engine, old=30, recent=5)
    sent = retain_and_erase(db_url, "in_database", tmp_path / "db")
    binding = [(s, p) for s, p in sent if s.lstrip().startswith(BINDING)]
    # One per transaction that rewrites: 3 batches of 10, the erasure; the planning counts bind too.
    assert len(binding) >= 4
    assert all(reveals(s, p) for s, p in binding)  # the needles are right: the keys are there
    assert all(len(s) < 400 for s, _ in binding)  # short: names and parameters, no rows
    leaks = [s for s, p in sent if not s.lstrip().startswith(BINDING) and reveals(s, p)]
    assert leaks == []
    assert any(s.lstrip().upper().startswith("UPDATE") for s, _ in sent)
    in_database = snapshot(db_engine)

    if db_engine.dialect.name == "postgresql":
        with db_engine.begin() as connection:  # in process, the database needs no pgcrypto
            connection.exec_driver_sql("DROP EXTENSION pgcrypto")
    seed_people(db_engine, old=30, recent=5)
    sent = retain_and_erase(db_url, "in_process", tmp_path / "process")
    assert [s for s, p in sent if reveals(s, p) or s.lstrip().startswith(BINDING)] == []
    assert snapshot(db_engine) == in_database  # byte for byte the same tokens, fakes and noise
    changed = [row for row in in_database if row[1].startswith("~h1:")]
    assert len(changed) == 31  # 30 by retention, 1 by erasure
    assert not any(str(row[2]).startswith("Person") for row in changed)  # fake names (or NULL kept)


def test_a_key_not_bound_in_the_transaction_fails_instead_of_hashing_without_it(db_engine: sa.Engine) -> None:
    """Bound in one transaction, gone after it (servers) or unknown to another connection (SQLite): the
    statement errors, it never hashes with an empty (PostgreSQL) or NULL (MariaDB) key."""
    key = sql_key(MASTER, "hmac", "db.people.email", 1)
    query = sa.select(hmac_hex_sql(db_engine.dialect.name, sa.literal("x", sa.String), key))
    with db_engine.connect() as connection, db_engine.connect() as other:
        for conn in (connection, other):
            if db_engine.dialect.name == "sqlite":
                register_sqlite_functions(conn.connection.driver_connection)
        with connection.begin():
            bind_keys(connection, [key])
            assert connection.execute(query).scalar_one() == hmac_hex(key.secret, "x")
        if db_engine.dialect.name == "mysql":
            pads = connection.exec_driver_sql(f"SELECT @lethe_k_{key.name}_i, @lethe_k_{key.name}_o").one()
            assert tuple(pads) == (None, None)  # not left in the session for performance_schema to show
            connection.rollback()
        unbound = [other] if db_engine.dialect.name == "sqlite" else [connection, other]
        for conn in unbound:
            with pytest.raises(sa.exc.DBAPIError), conn.begin():
                conn.execute(query)


def observe_update(db_url: str, db_engine: sa.Engine, tmp_path: Path, activity: str) -> str:
    """The text ``activity`` reads of the retention UPDATE while it waits on a lock this test holds.

    The test inserts, uncommitted, a row whose unique email is the token the UPDATE will write into row 1:
    the UPDATE then waits (on the unique index) until the test rolls its insert back.
    """
    policy = make_policy(db_url, "in_database")
    settings = make_settings(tmp_path)
    ledger = Ledger.from_settings(settings)
    errors: list[BaseException] = []
    token = hmac_token(MASTER, "db.people.email", "p1@example.com")
    observer = db_engine.connect()
    blocker = db_engine.connect()
    blocker.execute(
        people_table().insert(), {"id": 999, "email": token, "created_at": AS_OF.replace(tzinfo=None)}
    )
    stores = Stores(policy)

    def enforce() -> None:
        try:
            run = RetentionRun(policy, stores, settings, AS_OF, ledger=ledger)
            enforce_rule(run, policy.rule("people-1y"), batch_size=10)
        except BaseException as exc:  # reported by the test's thread
            errors.append(exc)

    worker = threading.Thread(target=enforce)
    worker.start()
    try:
        text = None
        while text is None and worker.is_alive():
            text = observer.exec_driver_sql(activity).scalar()
            observer.rollback()  # PostgreSQL shows a transaction one snapshot of its activity
        assert text is not None, errors
        return str(text)
    finally:
        blocker.rollback()
        blocker.close()
        observer.close()
        worker.join(120)
        stores.close()
        ledger._engine.dispose()
        assert not errors, errors


@pytest.mark.parametrize("db_url", ["mariadb"], indirect=True)
def test_mariadb_processlist_shows_no_key(db_url: str, db_engine: sa.Engine, tmp_path: Path) -> None:
    seed_people(db_engine, old=30, recent=0)
    text = observe_update(
        db_url, db_engine, tmp_path,
        "SELECT info FROM information_schema.PROCESSLIST WHERE info LIKE 'UPDATE people%%'",
    )  # fmt: skip
    assert "@lethe_k_" in text and "_binary" not in text and "X'" not in text
    assert not reveals(text, ())


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_postgresql_activity_shows_no_key(db_url: str, db_engine: sa.Engine, tmp_path: Path) -> None:
    seed_people(db_engine, old=30, recent=0)
    text = observe_update(
        db_url, db_engine, tmp_path,
        "SELECT query FROM pg_stat_activity WHERE query LIKE 'UPDATE people%%' AND wait_event_type = 'Lock'",
    )  # fmt: skip
    assert "current_setting('lethe.k_" in text
    assert not reveals(text, ())


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_tokens_setting_is_validated(db_url: str, tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match=r"stores\.db\.tokens"):
        parse_policy(policy_text("in_the_cloud"), environ={"DB_URL": db_url})
    path = tmp_path / "p.yaml"
    path.write_text(policy_text("somewhere"))
    result = CliRunner().invoke(main, ["validate", str(path)], env={"DB_URL": db_url})
    assert result.exit_code == 2 and "tokens" in result.stderr and "Traceback" not in result.output
