"""Art. 12(3) extensions from the command line: two further months, the date to tell the subject, the ledger.

`lethe requests extend ID --reason ...` on the SQLite state database: the due date moves to three months after
receipt, the register notes when the subject must be told (the original due date), the ledger records it;
a second extension, a closed or already overdue request, a blank reason and an unknown id are refused and
change nothing.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner, Result
from support.shop import settings_env

from lethe.cli.main import main
from lethe.ledger.chain import Ledger
from lethe.policy.periods import Period
from lethe.requests.register import close_request, due_date, get_request, open_request, state_engine
from lethe.settings import load_settings

REASON = "complex request: six systems to search"


def _cli(tmp_path: Path, *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=settings_env(tmp_path))


def test_extend_moves_the_deadline_and_records_it(tmp_path: Path) -> None:
    settings = load_settings(settings_env(tmp_path))
    engine = state_engine(settings)
    received = datetime.now(UTC) - timedelta(days=10)
    record = open_request(engine, "access", "customer", "fp1:" + "0" * 32, received_at=received)
    late = open_request(
        engine, "erasure", "customer", "fp1:" + "1" * 32, received_at=received - timedelta(days=40)
    )
    done = open_request(engine, "erasure", "customer", "fp1:" + "2" * 32, received_at=received)
    close_request(engine, done.id, "completed", "erased")

    result = _cli(tmp_path, "requests", "extend", record.id, "--reason", REASON)
    assert result.exit_code == 0, result.output
    tell_by = due_date(record.received_at)
    assert f"tell the subject of the extension and its reasons by {tell_by:%Y-%m-%d}" in result.output
    extended = get_request(engine, record.id)
    assert extended.due_at == due_date(record.received_at, Period(months=3))
    assert extended.due_at.date() > tell_by.date() + timedelta(days=55)
    assert extended.outcome is not None and f"tell the subject by {tell_by:%Y-%m-%d}" in extended.outcome
    (entry,) = [r.entry for r in Ledger.from_settings(settings).entries()]
    assert (entry.action, entry.outcome) == ("request.extend", "extended")
    assert entry.details["request"] == record.id and entry.details["reason"] == REASON
    assert entry.details["tell_by"] == tell_by.isoformat()

    listed = _cli(tmp_path, "requests")
    assert record.id in listed.output and f"due {extended.due_at:%Y-%m-%d}" in listed.output

    refused = {
        "already extended": ("requests", "extend", record.id, "--reason", REASON),
        "is closed": ("requests", "extend", done.id, "--reason", REASON),
        "within one month of receipt": ("requests", "extend", late.id, "--reason", REASON),
        "needs its reason": ("requests", "extend", late.id, "--reason", "   "),
        "no such request": ("requests", "extend", "not-a-reference", "--reason", REASON),
        "no request": ("requests", "extend", str(uuid.uuid4()), "--reason", REASON),
    }
    for message, args in refused.items():
        answer = _cli(tmp_path, *args)
        assert answer.exit_code != 0 and message in answer.output, (message, answer.output)
    assert get_request(engine, record.id) == extended
    assert get_request(engine, late.id).due_at == late.due_at
    assert len(list(Ledger.from_settings(settings).entries())) == 1
