"""``lethe ledger prove`` on SQLite, PostgreSQL and MariaDB: real retention batches, proofs that check offline,
"not found" as an answer that names no key.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from support.databases import scratch_database
from support.proofs import ACCOUNTS_RULE, SIGNING_KEY, Enforced, accounts_store, enforce_rules
from support.retention import MASTER_KEY_HEX, NEW, OLD, delete_rule, insert

from lethe.errors import KeyNotProvedError
from lethe.ledger.checkpoint import make_checkpoint
from lethe.ledger.leaves import LEAF_SIZE
from lethe.ledger.proof import check_proof, parse_proof
from lethe.ledger.prove import leaf_index, prove_key

MASTER = bytes.fromhex(MASTER_KEY_HEX)


@pytest.fixture
def accounts(db_url: str, db_engine: sa.Engine, tmp_path: Path) -> Enforced:
    """23 expired accounts deleted in batches of 5 (five ledger entries), two recent ones kept."""
    accounts_store(db_engine, old=23, recent=2)
    return enforce_rules(db_url, tmp_path, ACCOUNTS_RULE, "accounts")


def test_prove_then_check_proof(accounts: Enforced, tmp_path: Path) -> None:
    """prove writes a proof anchored in a checkpoint; check-proof accepts it with the trusted key only."""
    assert accounts.run("checkpoint", "--out", str(tmp_path / "cp.json")).exit_code == 0
    made = accounts.run(
        "prove", "--policy", str(accounts.policy_path), "--store", "db", "--table", "accounts", "--key", "12",
        "--checkpoint", str(tmp_path / "cp.json"), "--out", str(tmp_path / "proof.json"),
    )  # fmt: skip
    assert made.exit_code == 0, made.stderr
    assert "proved: db.accounts leaf" in made.stderr and "(rule accounts," in made.stderr
    proof = json.loads((tmp_path / "proof.json").read_text())
    # ids 11..15 are the third batch: the fourth leaf of five in sorted order is not known, the count is.
    assert (proof["size"], proof["rule"], proof["table"]) == (5, "accounts", "accounts")
    checked = accounts.run(
        "check-proof", str(tmp_path / "proof.json"), "--checkpoint", str(tmp_path / "cp.json"),
        LETHE_LEDGER_URL="sqlite:////nonexistent/none.db", LETHE_LEDGER_KEY=None, LETHE_MASTER_KEY=None,
        DB_URL=None,
    )  # fmt: skip
    assert checked.exit_code == 0, checked.stderr
    assert checked.stdout.count("ok: ") == 4 and "proof OK" in checked.stdout


def test_every_deleted_key_has_a_proof(accounts: Enforced) -> None:
    """Each of the 23 keys is in exactly one batch; its proof checks against a checkpoint."""
    ledger = accounts.ledger()
    engine = sa.create_engine(str(accounts.env["DB_URL"]))
    try:
        signed = make_checkpoint(ledger, SIGNING_KEY)
        seqs = set()
        for key in range(1, 24):
            proof, others = prove_key(
                ledger, engine, store="db", table="accounts", key=(key,), master_key=MASTER
            )
            assert others == [] and proof.size == (5 if key <= 20 else 3)
            assert len(check_proof(proof, signed, SIGNING_KEY.public_key())) == 4
            seqs.add(proof.seq)
        assert len(seqs) == 5
        for key in (24, 25, 99):
            with pytest.raises(KeyNotProvedError, match=r"no journalled batch of db\.accounts"):
                prove_key(ledger, engine, store="db", table="accounts", key=(key,), master_key=MASTER)
        # The text "7" is not the integer 7: another leaf, not proved.
        with pytest.raises(KeyNotProvedError):
            prove_key(ledger, engine, store="db", table="accounts", key=("7",), master_key=MASTER)
    finally:
        ledger._engine.dispose()
        engine.dispose()


def test_not_found_is_an_answer_without_the_key(accounts: Enforced) -> None:
    """A key no batch holds: exit 1, the table and leaf named, the key never echoed; a malformed key: exit 2."""
    args = ("prove", "--policy", str(accounts.policy_path), "--store", "db", "--table", "accounts", "--key")
    kept = accounts.run(*args, "24")  # closed lately: not expired, not deleted
    assert kept.exit_code == 1 and kept.stdout == ""
    assert kept.stderr.startswith("error: no journalled batch of db.accounts (leaf ")
    missing = accounts.run(*args, "987654321")
    assert missing.exit_code == 1 and "987654321" not in missing.stderr
    malformed = accounts.run(*args, "not-a-number-qxz7")
    assert malformed.exit_code == 2 and "qxz7" not in malformed.stderr
    assert "column id is not of its type (integer)" in malformed.stderr
    no_master = accounts.run(*args, "5", LETHE_MASTER_KEY=None)
    assert no_master.exit_code == 2 and "LETHE_MASTER_KEY is not set" in no_master.stderr


def test_composite_key(db_url: str, db_engine: sa.Engine, tmp_path: Path) -> None:
    """A two-column key is given as a JSON list, typed by its columns."""
    visits = sa.Table(
        "visits",
        sa.MetaData(),
        sa.Column("site", sa.String(20), primary_key=True),
        sa.Column("n", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("at", sa.DateTime(), nullable=False),
    )
    visits.create(db_engine)
    insert(
        db_engine, visits, [{"site": s, "n": n, "at": OLD if n < 4 else NEW} for s in "ab" for n in range(6)]
    )
    enforced = enforce_rules(db_url, tmp_path, "- {name: visits, table: db.visits, after: 3 years, since: at, "
                             "action: delete}", "visits")  # fmt: skip
    args = ("prove", "--policy", str(enforced.policy_path), "--store", "db", "--table", "visits", "--key")
    proved = enforced.run(*args, '["b", 3]')
    assert proved.exit_code == 0, proved.stderr
    assert check_proof(parse_proof(proved.stdout))
    assert enforced.run(*args, '["b", 4]').exit_code == 1
    wrong = enforced.run(*args, "b")
    assert wrong.exit_code == 2 and "give --key as a JSON list of 2 values" in wrong.stderr


def test_leaf_index_is_a_binary_search() -> None:
    """Found at every position of a sorted blob, None between and beyond."""
    leaves = [bytes([i * 2]) * LEAF_SIZE for i in range(1, 10)]
    blob = b"".join(leaves)
    assert [leaf_index(blob, leaf) for leaf in leaves] == list(range(9))
    assert [leaf_index(blob, bytes([v]) * LEAF_SIZE) for v in (0, 3, 19, 255)] == [None] * 4
    assert leaf_index(b"", leaves[0]) is None


@pytest.mark.postgres
def test_table_in_a_schema(tmp_path: Path) -> None:
    """A table the policy names as schema.table: its leaves are keyed by that name, and prove finds them."""
    with scratch_database("postgresql") as db_url:
        engine = sa.create_engine(db_url)
        try:
            with engine.begin() as connection:
                connection.execute(sa.text("CREATE SCHEMA crm"))
            table = sa.Table(
                "accounts", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
                sa.Column("closed_at", sa.DateTime(), nullable=False), schema="crm",
            )  # fmt: skip
            table.create(engine)
            insert(engine, table, [{"id": i, "closed_at": OLD} for i in range(1, 8)])
        finally:
            engine.dispose()
        enforced = enforce_rules(
            db_url, tmp_path, delete_rule("accounts", "crm.accounts", "closed_at"), "accounts"
        )
        args = ("prove", "--policy", str(enforced.policy_path), "--store", "db", "--key", "3")
        proved = enforced.run(*args, "--table", "crm.accounts")
        assert proved.exit_code == 0, proved.stderr
        assert json.loads(proved.stdout)["table"] == "crm.accounts"
        assert enforced.run(*args, "--table", "accounts").exit_code != 0  # public.accounts: no such table
