"""The ``lethe ledger`` commands: show, verify and head, their exit codes and their errors."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from click.testing import CliRunner
from support.ledger import KEY, make_entry, sql

from lethe.cli.ledger import ledger as ledger_cli
from lethe.crypto import key_id
from lethe.ledger.chain import Ledger


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
    for command in ([], ["show"], ["verify"], ["head"], ["keys"]):
        assert run_cli(url, *command, "--help").exit_code == 0


def test_cli_head_of_empty_ledger(url: str) -> None:
    """An empty ledger's anchor is 0 and zeros, which verify accepts."""
    anchor = run_cli(url, "head").stdout.strip()
    assert anchor == "0:" + "0" * 64
    assert run_cli(url, "verify", "--expect-head", anchor).exit_code == 0


def test_cli_keys_and_key_ids_in_show(url: str) -> None:
    """keys lists the registry (ids only, never a key); show --json gives each entry's key ids."""
    master = bytes.fromhex("ab" * 32)
    led = Ledger(sa.create_engine(url), KEY, master_key=master, key_version=3)
    led.append(make_entry(1))
    listing = run_cli(url, "keys")
    assert listing.exit_code == 0, listing.output
    rows = [line.split() for line in listing.stdout.splitlines()]
    assert rows[0] == ["kind", "version", "key_id", "first_seen", "declared"]
    assert [row[:3] for row in rows[1:]] == [["ledger", "1", key_id(KEY)], ["master", "3", key_id(master)]]
    assert all(row[4:] == ["first", "use"] for row in rows[1:])
    assert KEY.hex() not in listing.stdout and master.hex() not in listing.stdout
    as_json = [json.loads(line) for line in run_cli(url, "keys", "--json").stdout.splitlines()]
    assert {(k["kind"], k["version"]) for k in as_json} == {("ledger", 1), ("master", 3)}
    (shown,) = [json.loads(line) for line in run_cli(url, "show", "--json").stdout.splitlines()]
    assert shown["keys"] == {"ledger": key_id(KEY), "master": key_id(master), "master_version": 3}
