"""Shared builders of the checkpoint and proof tests: signing keys, batch entries with leaves, the ledger CLI.

Imported by the checkpoint, proof, prove and deep-verify tests in ``tests/ledger/``. ``enforce_rules`` runs
real retention rules (``lethe.retention.enforce``) on a test database, so proofs are made from real journals.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from click.testing import CliRunner, Result
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lethe.cli.ledger import ledger as ledger_cli
from lethe.ledger import merkle
from lethe.ledger.chain import Ledger
from lethe.ledger.entry import LedgerEntry
from lethe.ledger.history import read_tree
from lethe.ledger.proof import Proof, assemble_proof
from lethe.retention.enforce import enforce_rule
from lethe.settings import Settings
from support.ledger import KEY, make_entry
from support.retention import (
    AS_OF,
    NEW,
    OLD,
    close_run,
    delete_rule,
    insert,
    make_policy,
    make_settings,
    make_table,
    open_run,
    policy_text,
    settings_env,
)

SEED = bytes(range(32))
SIGNING_KEY = Ed25519PrivateKey.from_private_bytes(SEED)
SEED_B64 = base64.b64encode(SEED).decode()
PUBLIC_B64 = base64.b64encode(SIGNING_KEY.public_key().public_bytes_raw()).decode()
OTHER_SIGNING_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))


def some_leaves(n: int, salt: str = "") -> list[bytes]:
    """``n`` sorted 16-byte leaves (they stand for keyed hashes of primary keys)."""
    return sorted(hashlib.sha256(f"{salt}{i}".encode()).digest()[:16] for i in range(n))


def batch_entry(i: int, leaves: list[bytes]) -> LedgerEntry:
    """A retention batch's ledger entry naming the root and count of ``leaves``, as journal v2 copies it."""
    details: dict[str, Any] = {
        "store": "shop",
        "journal": f"shop:{i}:{i:032x}",
        "batch": i,
        "root": merkle.root(leaves).hex(),
        "leaf_count": len(leaves),
        "key_id": "k1",
        "span_first": None,
        "span_last": None,
    }
    return make_entry(i, details=details)


def proof_of(ledger: Ledger, seq: int, leaves: list[bytes], index: int, size: int | None = None) -> Proof:
    """The proof of ``leaves[index]``, batch of entry ``seq``, in the tree of the first ``size`` entries."""
    tree = read_tree(ledger, size if size is not None else (ledger.head() or (0, ""))[0])
    row = next(iter(ledger.rows(seq - 1, seq)))
    return assemble_proof(
        store="shop",
        table="customers",
        key_id="k1",
        leaves=leaves,
        index=index,
        seq=seq,
        body=row.body,
        mac=row.mac,
        tree=tree,
    )


def run_ledger(url: str, *args: str, **env: str | None) -> Result:
    """``lethe ledger ...`` with the ledger and its key in the environment, plus ``env`` (None unsets)."""
    environment: dict[str, str | None] = {
        "LETHE_LEDGER_URL": url,
        "LETHE_LEDGER_KEY": KEY.hex(),
        "LETHE_CHECKPOINT_KEY": None,
        "LETHE_CHECKPOINT_PUBLIC_KEY": None,
    }
    environment.update(env)
    return CliRunner().invoke(ledger_cli, list(args), env=environment, catch_exceptions=False)


def write(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` and return it."""
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------------------- real batches on the three engines


@dataclass(frozen=True)
class Enforced:
    """A store whose rules ran (journal v2 rows, ledger entries), and how to run ``lethe ledger`` on it."""

    policy_path: Path
    env: dict[str, str | None]
    settings: Settings

    def run(self, *args: str, **env: str | None) -> Result:
        """``lethe ledger ...`` with this store's settings and policy variables, plus ``env``."""
        return CliRunner().invoke(ledger_cli, list(args), env={**self.env, **env}, catch_exceptions=False)

    def ledger(self) -> Ledger:
        """The ledger (dispose of its engine with ``close``)."""
        return Ledger.from_settings(self.settings)


def enforce_rules(db_url: str, tmp_path: Path, rules: str, *names: str, batch_size: int = 5) -> Enforced:
    """Write a policy of ``rules`` (support.retention's one-store policy) and enforce ``names`` in batches."""
    env: dict[str, str | None] = {
        **settings_env(tmp_path),
        "DB_URL": db_url,
        "LETHE_CHECKPOINT_KEY": SEED_B64,
        "LETHE_CHECKPOINT_PUBLIC_KEY": None,
    }
    policy_path = write(tmp_path / "policy.yaml", policy_text(rules))
    settings = make_settings(tmp_path)
    policy = make_policy(db_url, rules)
    run = open_run(policy, settings, AS_OF)
    try:
        for name in names:
            enforce_rule(run, policy.rule(name), batch_size=batch_size)
    finally:
        close_run(run)
    return Enforced(policy_path, env, settings)


def accounts_store(engine: sa.Engine, old: int, recent: int) -> None:
    """``accounts``: ids 1..old closed long ago, the next ``recent`` ones closed lately."""
    accounts = make_table(engine, "accounts", sa.Column("closed_at", sa.DateTime(), nullable=False))
    insert(
        engine,
        accounts,
        [{"id": i, "closed_at": OLD if i <= old else NEW} for i in range(1, old + recent + 1)],
    )


ACCOUNTS_RULE = delete_rule("accounts", "accounts", "closed_at")
