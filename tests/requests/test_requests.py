"""The request register (Art. 12(3)): due dates one calendar month after receipt, open/due soon/overdue;
and ``lethe erase`` / ``lethe requests`` from the command line.

The register normally lives in the ledger's database; here it is created on each engine's scratch database
(``db_engine``) to show it works on all three. Times are fixed, never the clock.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from support.shop import DEMO, Shop, full_customer, open_shop, settings_env

from lethe.cli.main import main
from lethe.errors import StoreError
from lethe.requests.register import (
    RequestError,
    close_request,
    due_date,
    get_request,
    list_requests,
    open_request,
    state_engine,
)
from lethe.requests.tracking import track_request
from lethe.settings import load_settings

FP = "fp1:" + "0" * 32


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("received", "due"),
    [
        ("2026-01-31T10:00:00", "2026-02-28T10:00:00"),
        ("2028-01-31T10:00:00", "2028-02-29T10:00:00"),  # leap year
        ("2026-03-31T00:00:00", "2026-04-30T00:00:00"),
        ("2026-12-15T08:30:00", "2027-01-15T08:30:00"),
        ("2026-02-28T12:00:00", "2026-03-28T12:00:00"),
    ],
)
def test_due_one_calendar_month_after_receipt(received: str, due: str) -> None:
    assert due_date(at(received)) == at(due)


def test_due_date_is_taken_on_the_utc_calendar() -> None:
    # 31 January 23:30 in New York is 1 February 04:30 UTC: due 1 March.
    received = datetime(2026, 1, 31, 23, 30, tzinfo=timezone(timedelta(hours=-5)))
    assert due_date(received) == at("2026-03-01T04:30:00")


def test_register_lists_overdue_due_soon_and_open(db_engine: sa.Engine) -> None:
    now = at("2026-03-10T12:00:00")
    late = open_request(db_engine, "erasure", "customer", FP, received_at=at("2026-01-31T09:00:00"))
    soon = open_request(db_engine, "access", "customer", FP, received_at=at("2026-02-14T09:00:00"))
    fresh = open_request(db_engine, "rectification", "customer", FP, received_at=at("2026-03-09T09:00:00"))
    other = open_request(db_engine, "objection", "employee", FP, received_at=at("2026-03-01T09:00:00"))
    done = open_request(db_engine, "portability", "customer", FP, received_at=at("2026-01-02T09:00:00"))
    closed = close_request(
        db_engine, done.id, "completed", "export sent", closed_at=at("2026-01-20T09:00:00")
    )

    assert late.due_at == at("2026-02-28T09:00:00") and soon.due_at == at("2026-03-14T09:00:00")
    assert (closed.status, closed.outcome, closed.closed_at) == (
        "completed",
        "export sent",
        at("2026-01-20T09:00:00"),
    )
    overview = list_requests(db_engine, now, due_soon_days=7)
    assert [r.id for r in overview.overdue] == [late.id]
    assert [r.id for r in overview.due_soon] == [soon.id]
    assert [r.id for r in overview.open] == [other.id, fresh.id]  # by due date
    assert [r.state(now) for r in (late, soon, fresh, closed)] == ["overdue", "due soon", "open", "closed"]
    only = list_requests(db_engine, now, due_soon_days=30, subjects=["employee"])
    assert (only.overdue, [r.id for r in only.due_soon], only.open) == ([], [other.id], [])

    with pytest.raises(RequestError, match="already closed"):
        close_request(db_engine, done.id, "refused", "again")
    with pytest.raises(RequestError, match="unknown request type"):
        open_request(db_engine, "complaint", "customer", FP)
    with pytest.raises(RequestError, match="closes as one of"):
        close_request(db_engine, late.id, "open", "no")
    assert get_request(db_engine, late.id) == late


def test_track_request_closes_with_the_outcome_or_stays_open(tmp_path: Path) -> None:
    settings = load_settings({"LETHE_LEDGER_URL": f"sqlite:///{tmp_path}/state/ledger.db"})
    with track_request(settings, "erasure", "customer", FP) as ok:
        pass
    with pytest.raises(StoreError), track_request(settings, "erasure", "customer", FP) as failing:
        raise StoreError("store shop: unreachable")
    with pytest.raises(RequestError), track_request(settings, "rectification", "customer", FP) as refused:
        refused.finish("refused", "refused: column not open to rectification")
        raise RequestError("no")
    engine = state_engine(settings)
    try:
        assert (get_request(engine, ok.id).status, get_request(engine, ok.id).outcome) == (
            "completed",
            "completed",
        )
        still = get_request(engine, failing.id)
        assert still.status == "open" and still.outcome == "attempt failed (StoreError); still open"
        assert get_request(engine, refused.id).status == "refused"
    finally:
        engine.dispose()


def test_cli_lists_requests(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/ledger.db"
    engine = sa.create_engine(url)
    try:
        late = open_request(engine, "erasure", "customer", FP, received_at=at("2026-01-31T09:00:00"))
        soon = open_request(engine, "access", "customer", FP, received_at=at("2026-02-14T09:00:00"))
    finally:
        engine.dispose()
    runner = CliRunner()
    env = {"LETHE_LEDGER_URL": url}
    text = runner.invoke(main, ["requests", "--now", "2026-03-10T12:00:00+00:00"], env=env)
    assert text.exit_code == 0, text.output
    lines = text.stdout.splitlines()
    assert lines[0] == "overdue (1)" and late.id in lines[1] and "10 day(s) late" in lines[1]
    assert lines[2] == "due within 7 days (1)" and soon.id in lines[3] and "4 day(s) left" in lines[3]
    assert lines[4] == "open (0)"
    data = json.loads(runner.invoke(main, ["requests", "--json", "--now", "2026-03-10"], env=env).stdout)
    assert [r["id"] for r in data["overdue"]] == [late.id] and data["due_soon_days"] == 7
    bad = runner.invoke(main, ["requests", "--now", "yesterday"], env=env)
    assert bad.exit_code == 2 and "not an ISO 8601" in bad.stderr  # a parameter error (README)


@pytest.fixture
def shop(db_url: str, tmp_path: Path) -> Iterator[Shop]:
    with open_shop(db_url, tmp_path) as opened:
        yield opened


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_cli_erase(shop: Shop, tmp_path: Path) -> None:
    env = {**settings_env(tmp_path), "LETHE_DEMO_URL": shop.url}
    cid = full_customer(shop)
    email = shop.one("SELECT email FROM customers WHERE id = :c", c=cid)
    held = shop.one("SELECT email FROM customers WHERE legal_hold")
    runner = CliRunner()

    def run(*args: str) -> Any:
        return runner.invoke(main, ["erase", "--policy", str(DEMO), *args], env=env)

    before = shop.snapshot()
    dry = run("--subject", email, "--dry-run")
    assert dry.exit_code == 0 and "nothing has been changed" in dry.stdout and "web_sessions" in dry.stdout
    refused = run("--subject", email)  # no terminal under CliRunner, no --yes
    assert refused.exit_code == 1 and "pass --yes" in refused.stderr and "erasure plan" in refused.stdout
    missing = run("--subject", "nobody@example.org", "--yes")
    assert (
        missing.exit_code == 2
        and "no customer matches" in missing.stderr
        and "Traceback" not in missing.output
    )
    hold = run("--subject", held, "--yes")
    assert hold.exit_code == 2 and "legal_hold" in hold.stderr and "Art. 17(3)(e)" in hold.stderr
    assert shop.snapshot() == before

    done = run("--subject", email, "--yes")
    assert done.exit_code == 0, done.output
    assert "verified" in done.stdout and "tax law" in done.stdout and email not in done.output
    listing = runner.invoke(main, ["requests", "--json"], env=env)
    assert listing.exit_code == 0 and '"overdue": []' in listing.stdout
