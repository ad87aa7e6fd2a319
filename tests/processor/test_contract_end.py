"""The end of a contract with one controller, on SQLite, PostgreSQL and MariaDB: export, delete, certify.

The controller's rows are first returned in an encrypted export, then deleted in journalled batches, then
certified in the ledger and a file. Without an intact export that still holds every row, nothing is deleted.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from support.processor import processor_policy, seed_tenants, tenants_left
from support.retention import AS_OF, insert, ledger_entries, make_settings, snapshot

from lethe.errors import ParameterError
from lethe.ledger.chain import Ledger
from lethe.ledger.verify import verify_ledger
from lethe.processor.contract import delete_controller, end_contract, export_controller, plan_contract_end
from lethe.requests.export.crypto import decrypt_file
from lethe.requests.register import RequestError
from lethe.retention.run import RetentionRun
from lethe.settings import Settings

PASSPHRASE = "correct horse battery staple"
NewRun = Callable[..., RetentionRun]


def test_export_then_delete_then_certificate(
    db_url: str, db_engine: sa.Engine, contract_run: NewRun, settings: Settings, tmp_path: Path
) -> None:
    seed_tenants(db_engine, AS_OF)
    run = contract_run(processor_policy(db_url))
    out = tmp_path / "out"
    done = end_contract(run, "acme", out, passphrase=PASSPHRASE)

    # 1. returned: every row of acme, and only acme's, in the encrypted export
    assert done.export is not None and done.export.path.name.endswith(".zip.enc")
    assert done.export.counts == {"db.events": 4, "db.accounts": 2}
    plain = decrypt_file(done.export.path, PASSPHRASE, tmp_path / "plain")
    with zipfile.ZipFile(plain) as archive:
        data = json.loads(archive.read("data.json"))
    assert {row["tenant"] for t in data["tables"].values() for row in t["rows"]} == {"acme"}
    assert sorted(r["email"] for r in data["tables"]["db.accounts"]["rows"]) == [
        "a1@example.com",
        "a2@example.com",
    ]

    # 2. deleted: acme's rows only
    assert tenants_left(db_engine, "accounts") == {"globex": 2, "umbrella": 2}
    assert tenants_left(db_engine, "events") == {"globex": 4, "umbrella": 4}

    # 3. certified, in the ledger after the export and the deletions, and as a file
    certificate = done.certificate
    assert certificate is not None
    assert certificate.deleted_rows == {"db.events": 4, "db.accounts": 2}
    assert certificate.export_sha256 == done.export.sha256
    on_disk = json.loads((out / certificate.file).read_text(encoding="utf-8"))
    assert on_disk["export_sha256"] == done.export.sha256 and on_disk["ledger_seq"] == certificate.ledger_seq
    entries = [e.entry for e in ledger_entries(settings)]
    actions = [e.action for e in entries if e.outcome != "applied"]
    assert actions == ["processor.export", "retention.delete", "retention.delete", "processor.certificate"]
    last = entries[-1]
    assert last.counts["deleted:db.accounts"] == 2 and last.details["export_sha256"] == done.export.sha256
    ledger = Ledger.from_settings(settings)
    assert verify_ledger(ledger).ok
    ledger._engine.dispose()
    # 4. no personal data in the evidence
    assert "@example.com" not in repr(entries) and "@example.com" not in json.dumps(on_disk)


def test_a_dry_run_counts_and_changes_nothing(
    db_url: str, db_engine: sa.Engine, contract_run: NewRun, settings: Settings, tmp_path: Path
) -> None:
    seed_tenants(db_engine, AS_OF)
    before = snapshot(db_engine)
    done = end_contract(
        contract_run(processor_policy(db_url)), "globex", tmp_path / "out", passphrase=None, dry_run=True
    )
    assert done.plan.counts == {"db.events": 4, "db.accounts": 2} and done.export is None
    assert snapshot(db_engine) == before and not (tmp_path / "out").exists()


def test_a_failed_export_deletes_nothing(
    db_url: str, db_engine: sa.Engine, contract_run: NewRun, settings: Settings, tmp_path: Path
) -> None:
    seed_tenants(db_engine, AS_OF)
    before = snapshot(db_engine)
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder", encoding="utf-8")
    with pytest.raises(RequestError, match="cannot write the export"):
        end_contract(contract_run(processor_policy(db_url)), "acme", blocked, passphrase=PASSPHRASE)
    assert snapshot(db_engine) == before
    assert [e.entry.action for e in ledger_entries(settings)] == []


def test_deletion_is_refused_without_an_intact_and_complete_export(
    db_url: str, db_engine: sa.Engine, contract_run: NewRun, settings: Settings, tmp_path: Path
) -> None:
    tables = seed_tenants(db_engine, AS_OF)
    run = contract_run(processor_policy(db_url))
    plan = plan_contract_end(run.policy, run.stores, "acme")
    before = snapshot(db_engine)
    with pytest.raises(ParameterError, match="no export"):
        delete_controller(run, plan, None)
    with pytest.raises(ParameterError, match="a passphrase"):
        end_contract(run, "acme", tmp_path / "out", passphrase=None)
    export = export_controller(
        run.policy,
        run.stores,
        plan,
        tmp_path / "out",
        passphrase=PASSPHRASE,
        ledger=run.ledger,
        run_id=run.run_id,
    )  # type: ignore[arg-type]
    # a row of acme written after the export would be deleted without having been returned
    insert(
        db_engine,
        tables["accounts"],
        [{"id": 99, "tenant": "acme", "email": "late@example.com", "created_at": AS_OF.replace(tzinfo=None)}],
    )
    with pytest.raises(ParameterError, match=r"rows changed since the export in db\.accounts"):
        delete_controller(run, plan, export)
    with db_engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM accounts WHERE id = 99"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    unrecorded_ledger = Ledger.from_settings(make_settings(elsewhere))
    unrecorded = export_controller(
        run.policy, run.stores, plan, tmp_path / "out2", passphrase=PASSPHRASE, ledger=unrecorded_ledger,
        run_id=run.run_id,
    )  # fmt: skip
    unrecorded_ledger._engine.dispose()
    with pytest.raises(ParameterError, match="is not in the ledger"):
        delete_controller(run, plan, unrecorded)
    with export.path.open("ab") as handle:  # a damaged or replaced export
        handle.write(b"x")
    with pytest.raises(ParameterError, match="missing or changed"):
        delete_controller(run, plan, export)
    assert snapshot(db_engine) == before


def test_unknown_controllers_are_refused(
    db_url: str, db_engine: sa.Engine, contract_run: NewRun, tmp_path: Path
) -> None:
    seed_tenants(db_engine, AS_OF)
    run = contract_run(processor_policy(db_url))
    with pytest.raises(
        ParameterError,
        match=r"unknown controller .umbrella.; declared under processor\.controllers: acme, globex",
    ):
        end_contract(run, "umbrella", tmp_path, passphrase=PASSPHRASE)
