"""Tests of the evidence ledger on real databases: round trip, every kind of tampering, concurrency, CLI."""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import secrets
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from lethe.cli.ledger import ledger as ledger_cli
from lethe.crypto import fingerprint
from lethe.errors import LedgerError, LedgerTamperedError, SettingsError
from lethe.ledger.chain import Ledger
from lethe.ledger.entry import LedgerEntry
from lethe.ledger.verify import verify_ledger, verify_or_raise
from lethe.settings import load_settings

KEY = bytes.fromhex("11" * 32)
OTHER_KEY = bytes.fromhex("22" * 32)
T0 = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)


def make_entry(i: int, **overrides: Any) -> LedgerEntry:
    """A realistic entry: counts, fingerprints and non-personal details only."""
    fields: dict[str, Any] = {
        "run_id": f"run-{i}",
        "flow": "retention",
        "policy_hash": "sha256:" + "ab" * 32,
        "rule": "orders-7y",
        "action": "delete",
        "outcome": "ok",
        # Another zone than UTC on purpose: it must come back as the same instant.
        "started_at": (T0 + timedelta(seconds=i)).astimezone(timezone(timedelta(hours=2))),
        "ended_at": T0 + timedelta(seconds=i, milliseconds=250),
        "counts": {"deleted": i, "scanned": 10 * i},
        "fingerprints": (fingerprint(KEY, "shop.customers", i),),
        "details": {"batch": i, "store": "shop", "note": "café ✓", "ratio": 0.5, "dry": False},
    }
    fields.update(overrides)
    return LedgerEntry(**fields)


def sql(url: str, statement: str, **params: Any) -> list[Any]:
    """Run raw SQL as an attacker with database access (but no key) would, and return any rows."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            result = conn.execute(sa.text(statement), params)
            return list(result) if result.returns_rows else []
    finally:
        engine.dispose()


@pytest.fixture
def url(tmp_path: Path) -> str:
    """URL of a SQLite ledger file in the test's folder."""
    return f"sqlite:///{tmp_path}/ledger.db"


@pytest.fixture
def ledger(url: str) -> Iterator[Ledger]:
    """A ledger holding five entries."""
    engine = sa.create_engine(url)
    led = Ledger(engine, KEY)
    led.append(make_entry(1))
    led.append_many([make_entry(i) for i in range(2, 6)])
    yield led
    engine.dispose()


def assert_tampered(led: Ledger, first_bad: int | None, words: str) -> None:
    """Verification fails, names ``first_bad`` and says ``words``; verify_or_raise raises the same."""
    report = verify_ledger(led)
    assert not report.ok
    assert report.first_bad_seq == first_bad, report.problem
    assert words in (report.problem or ""), report.problem
    with pytest.raises(LedgerTamperedError, match=re.escape(words)):
        verify_or_raise(led)


def test_round_trip(ledger: Ledger) -> None:
    """Entries come back equal, in seq order, with since/limit/run filters, across a page boundary."""
    got = list(ledger.entries())
    assert [r.seq for r in got] == [1, 2, 3, 4, 5]
    assert [r.entry for r in got] == [make_entry(i) for i in range(1, 6)]
    assert got[0].entry.started_at.utcoffset() == timedelta(0)
    assert got[0].recorded_at.tzinfo is not None and len(got[0].mac) == 64
    assert [r.seq for r in ledger.entries(since_seq=2, limit=2)] == [3, 4]
    assert [r.seq for r in ledger.entries(run_id="run-4")] == [4]
    ledger.append_many([make_entry(i) for i in range(6, 1206)])
    assert [r.seq for r in ledger.entries(since_seq=498, limit=4)] == [499, 500, 501, 502]
    assert verify_ledger(ledger).count == 1205


def test_verify_ok(ledger: Ledger) -> None:
    """An untouched ledger verifies, and its head is the last entry."""
    report = verify_or_raise(ledger)
    last = list(ledger.entries())[-1]
    assert (report.ok, report.count, report.first_bad_seq, report.problem) == (True, 5, None, None)
    assert ledger.head() == (report.head_seq, report.head_mac) == (5, last.mac)
    assert verify_ledger(ledger, expected_head=(3, list(ledger.entries())[2].mac), min_count=5).ok


def test_empty_ledger_verifies(url: str) -> None:
    """A new ledger is empty and consistent."""
    led = Ledger(sa.create_engine(url), KEY)
    assert led.head() is None
    assert verify_ledger(led) == verify_or_raise(led)
    assert (verify_ledger(led).count, verify_ledger(led).head_seq) == (0, None)


def test_modified_body_is_detected(ledger: Ledger, url: str) -> None:
    """Editing a count inside the signed body breaks entry 3's MAC."""
    (body,) = sql(url, "SELECT body FROM lethe_ledger WHERE seq = 3")[0]
    tampered = json.loads(body)
    tampered["counts"]["deleted"] = 0
    sql(url, "UPDATE lethe_ledger SET body = :b WHERE seq = 3", b=json.dumps(tampered))
    assert_tampered(ledger, 3, "entry 3 was modified")


def test_modified_mac_is_detected(ledger: Ledger, url: str) -> None:
    """Replacing a stored MAC is a modification of that entry."""
    sql(url, "UPDATE lethe_ledger SET mac = :m WHERE seq = 4", m="0" * 64)
    assert_tampered(ledger, 4, "entry 4 was modified")


@pytest.mark.parametrize(
    ("column", "value"),
    [("flow", "other"), ("outcome", "failed"), ("rule", None), ("started_at", "2020-01-01 00:00:00.000000")],
)
def test_modified_indexed_column_is_detected(ledger: Ledger, url: str, column: str, value: Any) -> None:
    """Editing only an indexed column (body untouched) is caught by comparing it with the body."""
    sql(url, f"UPDATE lethe_ledger SET {column} = :v WHERE seq = 2", v=value)
    assert_tampered(ledger, 2, f"column {column} differs")


def test_deleted_middle_entry_is_detected(ledger: Ledger, url: str) -> None:
    """A hole in the sequence is named."""
    sql(url, "DELETE FROM lethe_ledger WHERE seq = 3")
    assert_tampered(ledger, 3, "entry 3 is missing (gap between 2 and 4)")


def test_swapped_seq_values_are_detected(ledger: Ledger, url: str) -> None:
    """Swapping two rows' positions is reported as reordering."""
    sql(url, "UPDATE lethe_ledger SET seq = -1 WHERE seq = 2")
    sql(url, "UPDATE lethe_ledger SET seq = 2 WHERE seq = 3")
    sql(url, "UPDATE lethe_ledger SET seq = 3 WHERE seq = -1")
    assert_tampered(ledger, 2, "entries out of order: the entry signed as 2 is stored at seq 3")


def test_swapped_bodies_and_macs_are_detected(ledger: Ledger, url: str) -> None:
    """Swapping only bodies and MACs (indexed columns left) is reordering too."""
    rows = {seq: (body, mac) for seq, body, mac in sql(url, "SELECT seq, body, mac FROM lethe_ledger")}
    for seq, other in ((3, 4), (4, 3)):
        sql(
            url,
            "UPDATE lethe_ledger SET body = :b, mac = :m WHERE seq = :s",
            b=rows[other][0],
            m=rows[other][1],
            s=seq,
        )
    assert_tampered(ledger, 3, "entries out of order")


def test_truncated_tail_is_detected(ledger: Ledger, url: str) -> None:
    """Deleting the last entries while the head row stays is a truncation."""
    sql(url, "DELETE FROM lethe_ledger WHERE seq >= 4")
    assert_tampered(ledger, 4, "head records 5 entries but the ledger ends at 3: tail truncated")


def test_deleted_head_row_is_detected(ledger: Ledger, url: str) -> None:
    """Entries without a head are reported, and appending refuses to paper over it."""
    sql(url, "DELETE FROM lethe_ledger_head")
    assert_tampered(ledger, None, "head row missing while 5 entries exist")
    with pytest.raises(LedgerError, match="head row missing"):
        ledger.append(make_entry(6))


def test_forged_head_is_detected(ledger: Ledger, url: str) -> None:
    """A truncation hidden by a head rewritten without the key fails on the head MAC."""
    mac3 = sql(url, "SELECT mac FROM lethe_ledger WHERE seq = 3")[0][0]
    sql(url, "DELETE FROM lethe_ledger WHERE seq >= 4")
    sql(url, "UPDATE lethe_ledger_head SET seq = 3, mac = :m, head_mac = :h", m=mac3, h="0" * 64)
    assert_tampered(ledger, None, "head MAC invalid")
    with pytest.raises(LedgerTamperedError, match="head MAC invalid"):
        ledger.head()
    with pytest.raises(LedgerError, match="head MAC invalid"):
        ledger.append(make_entry(6))


def test_restored_old_head_is_detected(ledger: Ledger, url: str) -> None:
    """An older (validly signed) head row put back leaves entries the head does not cover."""
    old = sql(url, "SELECT seq, mac, head_mac FROM lethe_ledger_head")[0]
    ledger.append(make_entry(6))
    sql(url, "UPDATE lethe_ledger_head SET seq = :s, mac = :m, head_mac = :h", s=old[0], m=old[1], h=old[2])
    assert_tampered(ledger, 6, "entries after 5 are not covered by the head")


def test_whole_wipe_needs_an_anchor(ledger: Ledger, url: str) -> None:
    """Deleting everything looks like an empty ledger; only min_count or the anchor catch it."""
    anchor = ledger.head()
    assert anchor is not None
    sql(url, "DELETE FROM lethe_ledger")
    sql(url, "DELETE FROM lethe_ledger_head")
    assert verify_ledger(ledger).ok
    by_count = verify_ledger(ledger, min_count=5)
    assert (by_count.ok, by_count.first_bad_seq) == (False, 1)
    assert "0 entries, fewer than the 5 expected" in (by_count.problem or "")
    by_anchor = verify_ledger(ledger, expected_head=anchor)
    assert (by_anchor.ok, by_anchor.first_bad_seq) == (False, 1)
    assert "the anchor expects entry 5 but the ledger ends at 0" in (by_anchor.problem or "")


def test_rollback_to_backup_needs_an_anchor(tmp_path: Path, url: str) -> None:
    """A consistent older copy (entries and head) verifies; the anchor of a later head catches it."""
    engine = sa.create_engine(url)
    led = Ledger(engine, KEY)
    led.append_many([make_entry(i) for i in range(1, 4)])
    engine.dispose()
    shutil.copy(tmp_path / "ledger.db", tmp_path / "backup.db")
    led.append_many([make_entry(4), make_entry(5)])
    anchor = led.head()
    assert anchor is not None
    engine.dispose()
    shutil.copy(tmp_path / "backup.db", tmp_path / "ledger.db")
    assert verify_ledger(led).ok
    report = verify_ledger(led, expected_head=anchor)
    assert (report.ok, report.first_bad_seq) == (False, 4)
    rewritten = verify_ledger(led, expected_head=(2, "ab" * 32))
    assert (rewritten.first_bad_seq, rewritten.problem) == (2, rewritten.problem)
    assert "does not match the anchor" in (rewritten.problem or "")


def test_wrong_key_fails(ledger: Ledger, url: str) -> None:
    """Another key cannot verify (or append to) the ledger."""
    other = Ledger(sa.create_engine(url), OTHER_KEY)
    assert_tampered(other, 1, "wrong LETHE_LEDGER_KEY")
    with pytest.raises(LedgerError):
        other.append(make_entry(6))


@pytest.mark.parametrize(
    "overrides",
    [
        {"fingerprints": ["alice@example.com"]},
        {"fingerprints": ["fp-alice@example.com"]},
        {"fingerprints": "fp1:" + "a" * 32},
        {"started_at": datetime(2024, 5, 1)},
        {"counts": {"deleted": "3"}},
        {"details": {"email": ["alice@example.com"]}},
        {"details": {"ratio": float("nan")}},
        {"flow": "x" * 300},
    ],
)
def test_entry_rejects_raw_or_bad_values(overrides: dict[str, Any]) -> None:
    """Raw values, naive datetimes and non-scalar extras never reach the ledger, nor its error messages."""
    with pytest.raises(LedgerError) as caught:
        make_entry(1, **overrides)
    assert "alice" not in str(caught.value)


def test_append_on_follows_the_callers_transaction(url: str) -> None:
    """append_on writes in the caller's transaction: rolled back with it, committed with it."""
    engine = sa.create_engine(url)
    led = Ledger(engine, KEY)
    led.create_schema()
    with pytest.raises(RuntimeError), engine.begin() as conn:
        led.append_on(conn, [make_entry(1)])
        raise RuntimeError("the data change failed")
    assert verify_ledger(led).count == 0
    with engine.begin() as conn:
        assert [r.seq for r in led.append_on(conn, [make_entry(1), make_entry(2)])] == [1, 2]
    assert verify_or_raise(led).count == 2
    engine.dispose()


def _append_worker(url: str, tag: str, count: int, barrier: Any) -> None:
    """Child process: wait for the other one, then append ``count`` entries one by one."""
    led = Ledger(sa.create_engine(url), KEY)
    barrier.wait(timeout=60)
    for i in range(count):
        led.append(make_entry(i, run_id=f"{tag}-{i}"))


@pytest.mark.slow
def test_concurrent_appends_from_two_processes(url: str) -> None:
    """Two processes appending at once (also racing to create the tables) never fork the chain."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    workers = [ctx.Process(target=_append_worker, args=(url, tag, 50, barrier)) for tag in ("a", "b")]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [worker.exitcode for worker in workers] == [0, 0]
    led = Ledger(sa.create_engine(url), KEY)
    assert verify_or_raise(led).count == 100
    tags = [r.entry.run_id.split("-")[0] for r in led.entries()]
    assert (tags.count("a"), tags.count("b")) == (50, 50)


def test_from_settings_creates_the_folder_and_hides_passwords(tmp_path: Path) -> None:
    """The SQLite folder is created; a driver error names the URL without its password or the driver text."""
    settings = load_settings(
        {"LETHE_LEDGER_URL": f"sqlite:///{tmp_path}/a/b/ledger.db", "LETHE_LEDGER_KEY": KEY.hex()}
    )
    Ledger.from_settings(settings).append(make_entry(1))
    assert (tmp_path / "a" / "b" / "ledger.db").is_file()
    with pytest.raises(SettingsError, match="LETHE_LEDGER_KEY is not set"):
        Ledger.from_settings(load_settings({"LETHE_LEDGER_URL": f"sqlite:///{tmp_path}/x.db"}))
    with pytest.raises(SettingsError, match="not a usable SQLAlchemy URL"):
        Ledger.from_settings(load_settings({"LETHE_LEDGER_URL": "nope://", "LETHE_LEDGER_KEY": KEY.hex()}))
    closed = Ledger(sa.create_engine("postgresql+psycopg://u:s3cret@127.0.0.1:9/db"), KEY)
    with pytest.raises(LedgerError) as caught:
        closed.append(make_entry(1))
    assert "s3cret" not in str(caught.value) and "***" in str(caught.value)


# -- CLI ----------------------------------------------------------------------------------------------


def run_cli(url: str, *args: str, key: str | None = KEY.hex()) -> Any:
    """Invoke ``lethe ledger ...`` with the ledger given by the environment."""
    env = {"LETHE_LEDGER_URL": url, "LETHE_LEDGER_KEY": key}
    return CliRunner().invoke(ledger_cli, list(args), env=env, catch_exceptions=False)


def test_cli_show(ledger: Ledger, url: str) -> None:
    """show prints a table, or JSON lines, with filters."""
    table = run_cli(url, "show")
    assert table.exit_code == 0
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["seq", "recorded_at", "flow", "rule", "action", "outcome", "counts", "run_id"]
    assert len(lines) == 6 and "deleted=3,scanned=30" in lines[3] and lines[3].split()[-1] == "run-3"
    as_json = run_cli(url, "show", "--json", "--since", "1", "--limit", "2")
    records = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert [r["seq"] for r in records] == [2, 3]
    assert records[0]["counts"] == {"deleted": 2, "scanned": 20} and records[0]["fingerprints"][0].startswith(
        "fp1:"
    )
    assert [
        json.loads(x)["seq"] for x in run_cli(url, "show", "--json", "--run", "run-4").stdout.splitlines()
    ] == [4]


def test_cli_verify_and_head(ledger: Ledger, url: str) -> None:
    """verify exits 0 with a summary; head prints the anchor, which verify then accepts."""
    seq, mac = ledger.head() or (0, "")
    head = run_cli(url, "head")
    assert (head.exit_code, head.stdout.strip()) == (0, f"{seq}:{mac}")
    ok = run_cli(url, "verify", "--expect-head", head.stdout.strip(), "--min-count", "5")
    assert (ok.exit_code, ok.stdout.strip()) == (0, f"ledger OK: 5 entries, head 5 {mac}")
    report = json.loads(run_cli(url, "verify", "--json").stdout)
    assert report["ok"] is True and report["count"] == 5


def test_cli_verify_tampered(ledger: Ledger, url: str) -> None:
    """A tampered ledger exits 4 and names the first bad entry on stderr."""
    sql(url, "UPDATE lethe_ledger SET action = 'keep' WHERE seq = 3")
    bad = run_cli(url, "verify")
    assert bad.exit_code == 4
    assert bad.stderr.strip() == "error: entry 3 was modified (column action differs from its signed body)"
    as_json = run_cli(url, "verify", "--json")
    assert as_json.exit_code == 4 and json.loads(as_json.stdout)["first_bad_seq"] == 3


def test_cli_errors(ledger: Ledger, url: str) -> None:
    """Bad input and missing settings give a message and an exit code, never a traceback."""
    assert run_cli(url, "verify", "--expect-head", "five").exit_code == 2
    assert run_cli(url, "verify", "--min-count", "6").exit_code == 4
    missing = run_cli(url, "head", key=None)
    assert missing.exit_code == 2 and missing.stderr.startswith("error: LETHE_LEDGER_KEY is not set")
    for command in ([], ["show"], ["verify"], ["head"]):
        assert run_cli(url, *command, "--help").exit_code == 0


def test_cli_head_of_empty_ledger(url: str) -> None:
    """An empty ledger's anchor is 0 and zeros, which verify accepts."""
    anchor = run_cli(url, "head").stdout.strip()
    assert anchor == "0:" + "0" * 64
    assert run_cli(url, "verify", "--expect-head", anchor).exit_code == 0


# -- PostgreSQL and MariaDB ---------------------------------------------------------------------------

SERVERS = {
    "postgres": ("LETHE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"),
    "mariadb": ("LETHE_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test"),
}


@contextmanager
def scratch_database(kind: str) -> Iterator[str]:
    """URL of a fresh database ``lethe_ledger_<hex>`` on the server, dropped afterwards."""
    variable, default = SERVERS[kind]
    configured = os.environ.get(variable)
    admin_url = sa.make_url(default if configured is None else configured or default)
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})
    try:
        if configured == "":
            raise sa.exc.OperationalError("switched off", None, Exception(f"{variable} is empty"))
        with admin.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except sa.exc.OperationalError:
        admin.dispose()
        reason = f"{kind} not reachable at {admin_url.render_as_string(hide_password=True)} (set {variable})"
        if os.environ.get("CI") == "true" or os.environ.get("LETHE_REQUIRE_SERVERS") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    name = f"lethe_ledger_{secrets.token_hex(6)}"
    with admin.connect() as conn:
        conn.exec_driver_sql(
            f"CREATE DATABASE {name}" + (" CHARACTER SET utf8mb4" if kind == "mariadb" else "")
        )
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE {name}" + (" WITH (FORCE)" if kind == "postgres" else ""))
        admin.dispose()


@pytest.mark.parametrize(
    "kind",
    [
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("mariadb", marks=pytest.mark.mariadb),
    ],
)
def test_ledger_on_server(kind: str) -> None:
    """Round trip, concurrent appenders (FOR UPDATE on the head), append_on and one tampering."""
    with scratch_database(kind) as url:
        engine = sa.create_engine(url)
        try:
            led = Ledger(engine, KEY)
            led.append(make_entry(1))
            with engine.begin() as conn:
                led.append_on(conn, [make_entry(2)])
            threads = [
                threading.Thread(
                    target=lambda t=t: [led.append(make_entry(3, run_id=f"{t}-{i}")) for i in range(10)]
                )
                for t in ("a", "b")
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            got = list(led.entries())
            assert [r.seq for r in got] == list(range(1, 23))
            assert [r.entry for r in got[:2]] == [make_entry(1), make_entry(2)]
            # ~130 KB of fingerprints: more than a MariaDB TEXT column holds.
            big = make_entry(23, fingerprints=[fingerprint(KEY, "shop.orders", i) for i in range(3500)])
            led.append(big)
            assert [r.entry for r in led.entries(since_seq=22)] == [big]
            assert verify_or_raise(led).count == 23
            assert not list(led.entries(run_id="RUN-1")), "run ids match exactly, not case-insensitively"
            sql(url, "UPDATE lethe_ledger SET outcome = 'failed' WHERE seq = 2")
            assert_tampered(led, 2, "column outcome differs")
        finally:
            engine.dispose()
