"""What the benchmarks share: the one-store policy, settings, a Lethe run on a copy, and a data digest."""

from __future__ import annotations

import hashlib
import itertools
import textwrap
from collections.abc import Iterable
from pathlib import Path

import sqlalchemy as sa

from benchmarks.seeding import AS_OF
from lethe.ledger.chain import Ledger
from lethe.policy.loading import parse_policy
from lethe.policy.model import Policy
from lethe.retention.enforce import RuleResult, enforce_rule
from lethe.retention.run import RetentionRun
from lethe.settings import Settings, load_settings
from lethe.stores.engines import Stores, create_store_engine

STORE = "db"
MASTER_KEY_HEX = "ab" * 32
LEDGER_KEY_HEX = "cd" * 32
_ledgers = itertools.count(1)


def policy_text(rule: str) -> str:
    """A policy with the store ``db`` (URL from ``${DB_URL}``) and one retention rule (YAML, one item)."""
    head = textwrap.dedent(
        """\
        version: 1
        controller: {name: Benchmark Ltd}
        stores:
          db:
            url: ${DB_URL}
            timezone: UTC
        retention:
        """
    )
    return head + textwrap.indent(textwrap.dedent(rule).strip("\n"), "  ") + "\n"


def settings_for(workdir: Path) -> Settings:
    """Fixed keys, and a new SQLite ledger file for every run (each measurement starts from nothing)."""
    return load_settings(
        {
            "LETHE_MASTER_KEY": MASTER_KEY_HEX,
            "LETHE_LEDGER_KEY": LEDGER_KEY_HEX,
            "LETHE_LEDGER_URL": f"sqlite:///{workdir}/ledger-{next(_ledgers)}.db",
        }
    )


def master_key() -> bytes:
    """The master key the runs use (baselines derive the same column keys from it)."""
    return bytes.fromhex(MASTER_KEY_HEX)


def run_lethe(rule_yaml: str, url: str, workdir: Path, *, batch_size: int | None = None) -> RuleResult:
    """Enforce the policy's only rule on ``url`` as a user would: the retention engine, journal, ledger."""
    policy: Policy = parse_policy(policy_text(rule_yaml), source="benchmark.yaml", environ={"DB_URL": url})
    settings = settings_for(workdir)
    ledger = Ledger.from_settings(settings)
    run = RetentionRun(policy, Stores(policy), settings, AS_OF, ledger=ledger, flow="benchmark")
    try:
        return enforce_rule(run, run.rules()[0], batch_size=batch_size)
    finally:
        run.stores.close()
        ledger._engine.dispose()


def digest(url: str, tables: Iterable[sa.Table]) -> dict[str, tuple[int, str]]:
    """Row count and SHA-256 of every row (in key order) of each table: equal digests, equal data."""
    out: dict[str, tuple[int, str]] = {}
    engine = create_store_engine(url)
    try:
        with engine.connect() as connection:
            for table in tables:
                sha = hashlib.sha256()
                count = 0
                order = list(table.primary_key.columns)
                query = sa.select(table).order_by(*order)
                for row in connection.execution_options(yield_per=20_000).execute(query):
                    sha.update(repr(tuple(row)).encode())
                    count += 1
                out[table.name] = (count, sha.hexdigest())
    finally:
        engine.dispose()
    return out


def expired_count(rows: int) -> int:
    """How many of rows 1..rows are expired (x % 5 in {0, 1}: two in every five, and row 5k+1)."""
    return rows // 5 * 2 + (1 if rows % 5 else 0)
