"""The MAC covers the exact stored bytes: a body re-spelled without changing its meaning is refused.

Acceptance testing found that ``verify`` re-serialised each body before checking its MAC, so a stored body
with changed whitespace, reordered keys or a duplicated key passed. Rows stored outside the chain (seq <= 0)
were invisible to ``verify`` and ``show``. Each test edits the SQLite ledger file as someone with database
access but without the key would, keeping the MAC as it was.
"""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from support.ledger import KEY, assert_tampered, make_entry, sql

from lethe.cli.ledger import ledger as ledger_cli
from lethe.errors import LedgerTamperedError
from lethe.ledger.chain import Ledger
from lethe.ledger.verify import verify_ledger


def _respell(body: str, how: str) -> str:
    """The same JSON document, spelled differently."""
    if how == "whitespace":
        return json.dumps(json.loads(body), sort_keys=True, ensure_ascii=False)  # ", " and ": "
    if how == "reordered":
        return json.dumps(dict(reversed(json.loads(body).items())), separators=(",", ":"), ensure_ascii=False)
    if how == "duplicated key":
        # A second "outcome" a lenient reader keeps (the last one wins) while the first was signed.
        return body[:-1] + ',"outcome":"failed"}'
    if how == "trailing newline":
        return body + "\n"
    raise AssertionError(how)


@pytest.mark.parametrize("how", ["whitespace", "reordered", "duplicated key", "trailing newline"])
def test_respelled_body_with_the_old_mac_is_refused(ledger: Ledger, url: str, how: str) -> None:
    """verify names the entry and says its stored bytes are not what was signed."""
    (body,) = sql(url, "SELECT body FROM lethe_ledger WHERE seq = 3")[0]
    respelled = _respell(body, how)
    assert respelled != body
    sql(url, "UPDATE lethe_ledger SET body = :b WHERE seq = 3", b=respelled)
    assert_tampered(ledger, 3, "entry 3 was modified: its stored body is not in canonical form")


@pytest.mark.parametrize("how", ["whitespace", "duplicated key"])
def test_show_refuses_a_respelled_body(ledger: Ledger, url: str, how: str) -> None:
    """show does not check MACs, but it refuses to print a body that is not in canonical form."""
    (body,) = sql(url, "SELECT body FROM lethe_ledger WHERE seq = 2")[0]
    sql(url, "UPDATE lethe_ledger SET body = :b WHERE seq = 2", b=_respell(body, how))
    with pytest.raises(LedgerTamperedError, match=r"entry 2 .*not in canonical form"):
        list(ledger.entries())
    env = {"LETHE_LEDGER_URL": url, "LETHE_LEDGER_KEY": KEY.hex()}
    result = CliRunner().invoke(ledger_cli, ["show"], env=env)
    assert result.exit_code == 4 and "entry 2" in result.stderr and "canonical" in result.stderr


@pytest.mark.parametrize("seq", [0, -1, -1000])
def test_rows_at_seq_zero_or_below_are_reported(ledger: Ledger, url: str, seq: int) -> None:
    """A row stored at seq <= 0 is outside the chain: verify fails and names it."""
    sql(url, "INSERT INTO lethe_ledger SELECT :s, recorded_at, run_id, flow, policy_hash, rule, action, "
        "outcome, started_at, ended_at, body, mac FROM lethe_ledger WHERE seq = 1", s=seq)  # fmt: skip
    assert_tampered(ledger, seq, f"stored at seq {seq}, outside the chain")


def test_show_reports_rows_outside_the_chain_and_gaps(ledger: Ledger, url: str) -> None:
    """show lists a row at seq <= 0 and a gap, warns on stderr and exits 4."""
    sql(url, "INSERT INTO lethe_ledger SELECT -5, recorded_at, run_id, flow, policy_hash, rule, action, "
        "outcome, started_at, ended_at, body, mac FROM lethe_ledger WHERE seq = 1")  # fmt: skip
    sql(url, "DELETE FROM lethe_ledger WHERE seq = 3")
    env = {"LETHE_LEDGER_URL": url, "LETHE_LEDGER_KEY": KEY.hex()}
    result = CliRunner().invoke(ledger_cli, ["show"], env=env)
    assert result.exit_code == 4
    seqs = [line.split()[0] for line in result.stdout.splitlines()[1:]]
    assert seqs == ["-5", "1", "2", "4", "5"]
    assert "seq -5" in result.stderr and "outside the chain" in result.stderr
    assert "entry 3 is missing" in result.stderr
    clean = CliRunner().invoke(ledger_cli, ["show", "--since", "3"], env=env)
    assert clean.exit_code == 4, "anomalies are reported whatever part is listed"


def test_intact_ledger_shows_without_warnings(ledger: Ledger, url: str) -> None:
    """The control: an untouched ledger shows with exit 0 and nothing on stderr."""
    env = {"LETHE_LEDGER_URL": url, "LETHE_LEDGER_KEY": KEY.hex()}
    result = CliRunner().invoke(ledger_cli, ["show"], env=env)
    assert (result.exit_code, result.stderr) == (0, "")


def test_numbering_and_bytes_on_each_engine(db_engine: sa.Engine) -> None:
    """On each engine: a row at seq 0 and a gap are named by show's check, verify names seq 0 first, and
    a re-spelled body is refused by verify once the numbering is repaired."""
    led = Ledger(db_engine, KEY)
    led.append_many([make_entry(i) for i in range(1, 6)])
    assert led.seq_anomalies() == [] and verify_ledger(led).ok
    copy = (
        "INSERT INTO lethe_ledger SELECT 0, recorded_at, run_id, flow, policy_hash, rule, action, outcome, "
        "started_at, ended_at, body, mac FROM lethe_ledger WHERE seq = 1"
    )
    with db_engine.begin() as connection:
        connection.execute(sa.text(copy))
        connection.execute(sa.text("DELETE FROM lethe_ledger WHERE seq IN (2, 3)"))
    assert led.seq_anomalies() == [
        "an entry is stored at seq 0, outside the chain: inserted outside Lethe",
        "entries 2..3 are missing",
    ]
    assert [r.seq for r in led.entries()] == [0, 1, 4, 5]
    report = verify_ledger(led)
    assert (report.ok, report.first_bad_seq) == (False, 0)
    with db_engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM lethe_ledger WHERE seq IN (0, 4, 5)"))
        connection.execute(sa.text("DELETE FROM lethe_ledger_head"))
    with db_engine.begin() as connection:
        (body,) = connection.execute(sa.text("SELECT body FROM lethe_ledger WHERE seq = 1")).one()
        connection.execute(sa.text("UPDATE lethe_ledger SET body = :b WHERE seq = 1"), {"b": body + " "})
    report = verify_ledger(led)
    assert (report.ok, report.first_bad_seq) == (False, 1)
    assert "not in canonical form" in (report.problem or "")
