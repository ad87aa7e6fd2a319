"""``lethe processor end-contract`` on SQLite, PostgreSQL and MariaDB: dry run, the whole end, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa
from click.testing import CliRunner, Result
from support.processor import processor_policy_text, seed_tenants, tenants_left
from support.retention import AS_OF, settings_env, snapshot

from lethe.cli.main import main

PASSPHRASE = "correct horse battery staple"


def lethe(db_url: str, tmp_path: Path, *args: str, passphrase: bool = True) -> Result:
    """Run ``lethe processor end-contract POLICY ARGS`` against the test's store and keys."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(processor_policy_text(), encoding="utf-8")
    env = {"DB_URL": db_url, **settings_env(tmp_path)}
    if passphrase:
        env["LETHE_CONTRACT_PASSPHRASE"] = PASSPHRASE
    return CliRunner().invoke(main, ["processor", "end-contract", str(policy), *args], env=env)


def test_dry_run_then_end(db_url: str, db_engine: sa.Engine, tmp_path: Path) -> None:
    seed_tenants(db_engine, AS_OF)
    before = snapshot(db_engine)
    dry = lethe(db_url, tmp_path, "--controller", "acme", "--out", str(tmp_path / "out"), "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "db.accounts" in dry.output and "nothing has been exported nor deleted" in dry.output
    assert snapshot(db_engine) == before

    done = lethe(db_url, tmp_path, "--controller", "acme", "--out", str(tmp_path / "out"), "--yes", "--json")
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    assert report["tables"] == {"db.events": 4, "db.accounts": 2}
    assert report["certificate"]["deleted_rows"] == {"db.events": 4, "db.accounts": 2}
    assert Path(report["export"]["file"]).is_file() and "@example.com" not in done.output
    assert (tmp_path / "out" / report["certificate"]["file"]).is_file()
    assert tenants_left(db_engine) == {"globex": 2, "umbrella": 2}


def test_refusals_change_nothing(db_url: str, db_engine: sa.Engine, tmp_path: Path) -> None:
    seed_tenants(db_engine, AS_OF)
    before = snapshot(db_engine)
    blocked = tmp_path / "a-file"
    blocked.write_text("x", encoding="utf-8")
    no_passphrase = lethe(
        db_url, tmp_path, "--controller", "acme", "--out", str(tmp_path), "--yes", passphrase=False
    )
    assert no_passphrase.exit_code == 2 and "passphrase" in no_passphrase.stderr
    unwritable = lethe(db_url, tmp_path, "--controller", "acme", "--out", str(blocked / "sub"), "--yes")
    assert unwritable.exit_code == 2 and "cannot write the export" in unwritable.stderr
    unknown = lethe(db_url, tmp_path, "--controller", "initech", "--out", str(tmp_path), "--yes")
    assert unknown.exit_code == 2 and "unknown controller 'initech'" in unknown.stderr
    unconfirmed = lethe(db_url, tmp_path, "--controller", "acme", "--out", str(tmp_path))
    assert unconfirmed.exit_code == 1 and "confirmation" in unconfirmed.stderr
    assert snapshot(db_engine) == before
