"""A changed LETHE_MASTER_KEY is refused before anything changes, unless declared as a rotation.

Acceptance testing ran a rule under key A, then under key B, and both made ``~h1:`` tokens unnoticed. Here,
on each engine (the ledger, with its key registry, in the same database as the data): a run under key A,
then more expired rows, then key B without a declared rotation -> refused (CLI exit 2), nothing changed,
also for an erasure; then ``LETHE_KEY_VERSION=2`` -> the rule proceeds and its tokens carry ``~h2:``.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from support.keys import AS_OF, make_policy, people_table, policy_text, seed_people, snapshot
from support.retention import LEDGER_KEY_HEX

from lethe.cli.main import main
from lethe.crypto import key_id
from lethe.errors import KeyChangedError, LedgerTamperedError
from lethe.ledger.chain import Ledger
from lethe.ledger.verify import verify_ledger
from lethe.requests.erasure.erase import erase_subject
from lethe.retention.enforce import enforce_rule
from lethe.retention.run import RetentionRun
from lethe.settings import load_settings
from lethe.stores.engines import Stores

KEY_A, KEY_B = "a1" * 32, "b2" * 32


def _env(db_url: str, master: str, version: int | None = None) -> dict[str, str]:
    env = {"LETHE_MASTER_KEY": master, "LETHE_LEDGER_KEY": LEDGER_KEY_HEX, "LETHE_LEDGER_URL": db_url}
    if version is not None:
        env["LETHE_KEY_VERSION"] = str(version)
    return env


def _enforce(db_url: str, env: dict[str, str]) -> None:
    """Run the rule ``people-1y`` at AS_OF through the library, as a flow task does."""
    policy = make_policy(db_url, "in_database")
    settings = load_settings(env)
    ledger = Ledger.from_settings(settings)
    try:
        with Stores(policy) as stores:
            run = RetentionRun(policy, stores, settings, AS_OF, ledger=ledger)
            enforce_rule(run, policy.rule("people-1y"))
    finally:
        ledger._engine.dispose()


def _add_expired(engine: sa.Engine, ids: range) -> None:
    """More people, three years old, not yet anonymised."""
    old = (AS_OF - timedelta(days=3 * 365)).replace(tzinfo=None)
    rows = [{"id": i, "email": f"p{i}@example.com", "name": f"P {i}", "created_at": old} for i in ids]
    with engine.begin() as connection:
        connection.execute(people_table().insert(), rows)


def _emails(engine: sa.Engine) -> dict[int, str]:
    table = people_table()
    with engine.connect() as connection:
        return dict(connection.execute(sa.select(table.c.id, table.c.email)).all())  # type: ignore[arg-type]


def test_changed_master_key_is_refused_until_a_rotation_is_declared(
    db_url: str, db_engine: sa.Engine, tmp_path: Path
) -> None:
    """Key A, then key B refused everywhere with nothing changed, then key B as version 2 with ~h2: tokens."""
    seed_people(db_engine, old=30, recent=5)
    _enforce(db_url, _env(db_url, KEY_A))
    first = _emails(db_engine)
    assert all(first[i].startswith("~h1:") for i in range(1, 31)) and first[31] == "p31@example.com"
    _add_expired(db_engine, range(36, 41))
    before = snapshot(db_engine)

    # Key B, no rotation declared: the library, the CLI and an erasure all refuse, and nothing changes.
    with pytest.raises(KeyChangedError, match=r"LETHE_KEY_VERSION=2") as refused:
        _enforce(db_url, _env(db_url, KEY_B))
    assert key_id(bytes.fromhex(KEY_B)) in str(refused.value) and KEY_B not in str(refused.value)
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(policy_text("in_database"))
    args = [
        "retention",
        "enforce",
        str(policy_file),
        "--as-of",
        AS_OF.isoformat(),
        "--yes",
        "--allow-large-share",
    ]
    cli = CliRunner().invoke(main, args, env={**_env(db_url, KEY_B), "DB_URL": db_url})
    assert cli.exit_code == 2, cli.output
    assert "is not the key registered for key version 1" in cli.stderr and "LETHE_KEY_VERSION=2" in cli.stderr
    policy = make_policy(db_url, "in_database")
    settings_b = load_settings(_env(db_url, KEY_B))
    ledger_b = Ledger.from_settings(settings_b)
    with Stores(policy) as stores, pytest.raises(KeyChangedError):
        erase_subject(policy, stores, settings_b, "person", "p31@example.com", ledger=ledger_b, run_id="e")
    ledger_b._engine.dispose()
    assert snapshot(db_engine) == before
    ledger = Ledger.from_settings(load_settings(_env(db_url, KEY_A)))
    entries_before = [r.seq for r in ledger.entries()]

    # The rotation declared: the rule proceeds, new tokens carry ~h2:, the ~h1: ones stay as they were.
    _enforce(db_url, _env(db_url, KEY_B, version=2))
    after = _emails(db_engine)
    assert all(after[i].startswith("~h2:") for i in range(36, 41))
    assert {i: after[i] for i in range(1, 31)} == {i: first[i] for i in range(1, 31)}
    assert after[31] == "p31@example.com", "not expired, untouched"

    # The ledger recorded which key made what, and the registry the rotation; both verify.
    registered = [(k.kind, k.version, k.key_id, k.declared) for k in ledger.registered_keys()]
    id_a, id_b = key_id(bytes.fromhex(KEY_A)), key_id(bytes.fromhex(KEY_B))
    assert ("master", 1, id_a, "first use") in registered
    assert ("master", 2, id_b, "rotation from version 1") in registered
    recorded = list(ledger.entries())
    assert len(recorded) > len(entries_before)
    assert {(r.keys["master"], r.keys["master_version"]) for r in recorded} == {(id_a, 1), (id_b, 2)}
    assert verify_ledger(ledger).ok
    ledger._engine.dispose()


def test_older_key_version_is_refused(db_url: str, db_engine: sa.Engine) -> None:
    """After a rotation to version 2, a run back at version 1 (even with its own key) is refused."""
    seed_people(db_engine, old=3, recent=1)
    _enforce(db_url, _env(db_url, KEY_A))
    _enforce(db_url, _env(db_url, KEY_B, version=2))
    with pytest.raises(KeyChangedError, match="older than the latest registered master key version 2"):
        _enforce(db_url, _env(db_url, KEY_A, version=1))


def test_edited_registry_cannot_make_a_changed_key_pass(db_url: str, db_engine: sa.Engine) -> None:
    """Writing key B's id into the registry row of version 1 breaks its MAC: runs and verify refuse."""
    seed_people(db_engine, old=3, recent=1)
    _enforce(db_url, _env(db_url, KEY_A))
    with db_engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE lethe_keys SET key_id = :k WHERE kind = 'master' AND version = 1"),
            {"k": key_id(bytes.fromhex(KEY_B))},
        )
    with pytest.raises(LedgerTamperedError, match=r"key registry .* master version 1 was modified"):
        _enforce(db_url, _env(db_url, KEY_B))
    ledger = Ledger.from_settings(load_settings(_env(db_url, KEY_A)))
    report = verify_ledger(ledger)
    ledger._engine.dispose()
    assert not report.ok and "key registry" in (report.problem or "")


def test_wiped_registry_lets_verify_name_the_changed_key(db_url: str, db_engine: sa.Engine) -> None:
    """With the registry deleted, key B registers afresh, but verify sees entries under A for version 1."""
    seed_people(db_engine, old=3, recent=1)
    _enforce(db_url, _env(db_url, KEY_A))
    with db_engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM lethe_keys"))
    _add_expired(db_engine, range(5, 7))
    _enforce(db_url, _env(db_url, KEY_B))
    ledger = Ledger.from_settings(load_settings(_env(db_url, KEY_B)))
    report = verify_ledger(ledger)
    ledger._engine.dispose()
    assert not report.ok and report.first_bad_seq is not None
    assert "the master key changed without a declared rotation" in (report.problem or "")


def test_two_first_uses_at_once_register_one_key(db_url: str) -> None:
    """Two processes' first use with different master keys race: one registers, the other is refused."""
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def first_use(master: str) -> None:
        ledger = Ledger.from_settings(load_settings(_env(db_url, master)))
        barrier.wait()
        try:
            ledger.check_keys()
            outcomes.append("registered")
        except KeyChangedError:
            outcomes.append("refused")
        finally:
            ledger._engine.dispose()

    threads = [threading.Thread(target=first_use, args=(key,)) for key in (KEY_A, KEY_B)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["refused", "registered"]
    ledger = Ledger.from_settings(load_settings(_env(db_url, KEY_A)))
    masters = [k for k in ledger.registered_keys() if k.kind == "master"]
    ledger._engine.dispose()
    assert len(masters) == 1 and masters[0].version == 1
