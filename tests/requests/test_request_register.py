"""One request however many attempts (issue 9, item 7): a retry continues the open request and closes it.

A failed attempt leaves its request open with the failure noted; the next attempt for the same subject and
type (or the one naming it with ``--request ID``) closes that same request, so nothing is left to turn
overdue. Access and portability exports are registered like every other request. Failures are real: a
trigger that refuses deletes, an output folder that is a file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from support.shop import DEMO, Shop, fingerprint_of, full_customer, open_shop, settings_env

from lethe.cli.main import main
from lethe.requests.register import open_request, state_engine

# A trigger that refuses to delete web sessions: the erasure fails and is rolled back.
REFUSE = {
    "sqlite": [
        "CREATE TRIGGER refuse_delete BEFORE DELETE ON web_sessions BEGIN SELECT RAISE(ABORT, 'refused'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION refuse_delete() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'refused'; END $$",
        "CREATE TRIGGER refuse_delete BEFORE DELETE ON web_sessions FOR EACH ROW EXECUTE FUNCTION refuse_delete()",
    ],
    "mysql": [
        "CREATE TRIGGER refuse_delete BEFORE DELETE ON web_sessions FOR EACH ROW "
        "SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'refused'"
    ],
}
ALLOW = {
    "sqlite": "DROP TRIGGER refuse_delete",
    "postgresql": "DROP TRIGGER refuse_delete ON web_sessions",
    "mysql": "DROP TRIGGER refuse_delete",
}


@pytest.fixture
def shop(db_url: str, tmp_path: Path) -> Iterator[Shop]:
    with open_shop(db_url, tmp_path) as opened:
        yield opened


class Cli:
    """``lethe`` commands against the shop, with the test's keys and ledger."""

    def __init__(self, shop: Shop, tmp_path: Path) -> None:
        self.env = {**settings_env(tmp_path), "LETHE_DEMO_URL": shop.url}
        self.runner = CliRunner()

    def __call__(self, *args: str) -> Result:
        return self.runner.invoke(main, list(args), env=self.env)

    def request(self, command: str, subject: str, *args: str) -> Result:
        return self(command, "--policy", str(DEMO), "--subject", subject, *args)

    def listing(self, now: str) -> dict[str, list[str]]:
        """``lethe requests --json --now``: the ids per group."""
        result = self("requests", "--json", "--now", now)
        assert result.exit_code == 0, result.output
        data = json.loads(result.stdout)
        return {group: [r["id"] for r in data[group]] for group in ("overdue", "due_soon", "open")}


def execute(shop: Shop, statements: list[str]) -> None:
    with shop.engine.begin() as connection:
        for statement in statements:
            connection.exec_driver_sql(statement)


def test_a_failed_erasure_stays_open_and_its_retry_closes_it(shop: Shop, tmp_path: Path) -> None:
    cli = Cli(shop, tmp_path)
    cid = full_customer(shop)
    email = shop.one("SELECT email FROM customers WHERE id = :c", c=cid)
    dialect = shop.engine.dialect.name
    execute(shop, REFUSE[dialect])
    before = shop.snapshot()

    failed = cli.request("erase", email, "--yes", "--received", "2026-10-01")
    assert failed.exit_code not in (0, 2) and "Traceback" not in failed.output
    assert shop.snapshot() == before  # rolled back
    (request,) = shop.register()
    assert (request.type, request.status) == ("erasure", "open")
    assert request.outcome is not None and request.outcome.startswith("attempt failed")
    assert request.subject_fingerprint == fingerprint_of(shop, cid)
    late = (request.due_at + timedelta(days=1)).isoformat()
    assert cli.listing(late) == {"overdue": [request.id], "due_soon": [], "open": []}

    execute(shop, [ALLOW[dialect]])
    retried = cli.request("erase", email, "--yes")  # no --request: the open request is found by subject
    assert retried.exit_code == 0, retried.output
    assert f"request {request.id}" in retried.stdout
    (closed,) = shop.register()  # the same request, no second row
    assert (closed.id, closed.status, closed.received_at) == (request.id, "completed", request.received_at)
    assert closed.outcome is not None and closed.outcome.startswith("erased")
    assert cli.listing(late) == {"overdue": [], "due_soon": [], "open": []}
    entries = [(e.entry.outcome, e.entry.details["request"]) for e in shop.entries()]
    assert entries == [("failed", request.id), ("completed", request.id)]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_exports_are_registered_and_a_failed_one_is_closed_by_its_retry(shop: Shop, tmp_path: Path) -> None:
    cli = Cli(shop, tmp_path)
    email = shop.one("SELECT email FROM customers WHERE id = 3")
    out = tmp_path / "out"

    done = cli.request("export", email, "--out", str(out))
    assert done.exit_code == 0, done.output
    portable = cli.request("export", email, "--out", str(out), "--request-type", "portability")
    assert portable.exit_code == 0, portable.output
    first, second = shop.register()
    assert [(r.type, r.status) for r in (first, second)] == [
        ("access", "completed"),
        ("portability", "completed"),
    ]
    assert f"request {first.id}" in done.stdout and email not in done.output

    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    failed = cli.request("export", email, "--out", str(blocked / "out"), "--received", "2026-10-01")
    assert (
        failed.exit_code == 2
        and "cannot write the export" in failed.stderr
        and "Traceback" not in failed.output
    )
    pending = shop.register()[0]  # received 2026-10-01: the oldest now
    assert (pending.type, pending.status) == ("access", "open")
    assert pending.outcome == "attempt failed (RequestError); still open"
    late = (pending.due_at + timedelta(days=1)).isoformat()
    assert cli.listing(late)["overdue"] == [pending.id]

    # A portability export answers the open access request too: one export serves both articles.
    retried = cli.request("export", email, "--out", str(out), "--request-type", "portability")
    assert retried.exit_code == 0, retried.output
    assert len(shop.register()) == 3
    closed = shop.register()[0]
    assert (closed.id, closed.type, closed.status) == (pending.id, "access", "completed")
    assert cli.listing(late) == {"overdue": [], "due_soon": [], "open": []}
    assert len(list(out.glob("*.zip"))) == 3


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_request_option_continues_the_named_request(shop: Shop, tmp_path: Path) -> None:
    cli = Cli(shop, tmp_path)
    email = shop.one("SELECT email FROM customers WHERE id = 4")
    fp = fingerprint_of(shop, 4)
    engine = state_engine(shop.settings)
    try:
        # Requests registered before any attempt (e.g. on receipt), two of them for erasure.
        older, named = (open_request(engine, "erasure", "customer", fp) for _ in range(2))
        rectification = open_request(engine, "rectification", "customer", fp)
        objection = open_request(engine, "objection", "customer", fp)
        access = open_request(engine, "portability", "customer", fp)
    finally:
        engine.dispose()
    before = shop.snapshot()

    def refused(result: Result, message: str) -> None:
        assert result.exit_code == 2 and message in result.stderr and "Traceback" not in result.output

    unknown = "00000000-0000-4000-8000-000000000000"
    refused(
        cli.request("erase", email, "--yes", "--request", unknown), f"no request {unknown} in the register"
    )
    refused(cli.request("erase", email, "--yes", "--request", email), "no such request in the register")
    assert email not in cli.request("erase", email, "--yes", "--request", email).output
    refused(
        cli.request("rectify", email, "--set", "city=Leeds", "--yes", "--request", named.id),
        "not a rectification",
    )
    refused(
        cli.request("restrict", email, "--lift", "--request", named.id), "--request does not go with --lift"
    )
    # Nobody found: the named request stays open, the outcome noted.
    refused(cli.request("erase", "nobody@example.org", "--yes", "--request", named.id), "no customer matches")
    assert shop.snapshot() == before
    by_id = {r.id: r for r in shop.register()}
    assert by_id[named.id].status == "open" and "no such subject" in (by_id[named.id].outcome or "")

    assert cli.request("erase", email, "--yes", "--request", named.id).exit_code == 0
    rectified = cli.request("rectify", email, "--set", "city=Leeds", "--yes", "--request", rectification.id)
    assert rectified.exit_code == 0, rectified.output
    objected = cli.request(
        "restrict", email, "--ground", "direct-marketing", "--activity", "newsletter", "--objection",
        "--request", objection.id,
    )  # fmt: skip
    assert objected.exit_code == 0, objected.output
    exported = cli.request("export", email, "--out", str(tmp_path / "out"), "--request", access.id)
    assert exported.exit_code == 0, exported.output
    statuses = {r.id: r.status for r in shop.register()}
    assert len(statuses) == 5  # every attempt continued a named request: no new row
    assert statuses[older.id] == "open"  # automatic matching would have taken the oldest
    assert {statuses[r.id] for r in (named, rectification, objection, access)} == {"completed"}
    refused(cli.request("erase", email, "--yes", "--request", named.id), "already closed (completed)")


def test_request_flows_take_a_request_id() -> None:
    from prefect.utilities.callables import parameter_schema

    from flows.erasure import erasure_flow
    from flows.export import export_flow
    from flows.rectification import rectification_flow
    from flows.restriction import restriction_flow

    for flow in (erasure_flow, export_flow, rectification_flow, restriction_flow):
        properties: dict[str, Any] = parameter_schema(flow.fn).model_dump()["properties"]
        assert "request_id" not in parameter_schema(flow.fn).model_dump()["required"]
        assert "`lethe requests`" in properties["request_id"]["description"], flow.name
    export = parameter_schema(export_flow.fn).model_dump()
    assert "access (Art. 15)" in export["properties"]["request_type"]["description"]
