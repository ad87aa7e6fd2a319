"""Partitioned rules in one process, on SQLite, PostgreSQL and MariaDB: bounds, locks, journal, ledger.

A rule split into primary-key ranges (``lethe.retention.partitions``), each enforced under its own lock with
its own journal rows, then verified once (``lethe.retention.enforce.finish_partitioned``). Partitions in other
processes, killed mid-way, are in ``test_retention_partition_crash.py``.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result
from support.retention import (
    AS_OF,
    OLD,
    STORE,
    NewRun,
    batch_entries,
    count,
    delete_rule,
    insert,
    journal_rows,
    ledger_entries,
    make_policy,
    policy_text,
    seed_shop,
    settings_env,
    summary_entries,
)

from lethe.cli.main import main
from lethe.errors import ConcurrentRunError, LetheError, PolicyError, VerificationError
from lethe.ledger.chain import Ledger
from lethe.ledger.verify import verify_ledger
from lethe.retention.enforce import enforce_partition, enforce_partitioned, finish_partitioned
from lethe.retention.partitions import Partition, open_sealed, partition_count, seal, split_rule
from lethe.settings import Settings
from lethe.stores.dialects import exclusive_lock
from lethe.stores.engines import create_store_engine

EXPIRED, RECENT = 40, 5
CUSTOMERS = delete_rule("customers", "customers", "created_at")


def keys_in(part: Partition, keys: list[int]) -> list[int]:
    """The keys of ``keys`` a partition covers (integer keys)."""
    low = part.lower[0] if part.lower is not None else None
    high = part.upper[0] if part.upper is not None else None
    if part.empty:
        return []
    return [k for k in keys if (low is None or k > low) and (high is None or k <= high)]


@pytest.mark.parametrize("n", [1, 2, 3, 4, 7])
def test_partitions_cover_every_key_once(db_url: str, db_engine: sa.Engine, new_run: NewRun, n: int) -> None:
    seed_shop(db_engine, old=EXPIRED, recent=RECENT, as_of=AS_OF)
    policy = make_policy(db_url, CUSTOMERS)
    parts = split_rule(new_run(policy), policy.rule("customers"), n)
    assert [(p.index, p.count) for p in parts] == [(i, n) for i in range(1, n + 1)]
    assert [p.label for p in parts][-1] == f"p{n}of{n}"
    keys = list(range(1, EXPIRED + RECENT + 1))
    covered = [k for p in parts for k in keys_in(p, keys)]
    assert sorted(covered) == keys  # every key once: no gap, no overlap
    assert parts[0].lower is None and parts[-1].upper is None
    # Balanced on dense integer keys (min/max split): no partition is more than one key off the mean.
    sizes = [len(keys_in(p, keys)) for p in parts]
    assert max(sizes) - min(sizes) <= 1 + len(keys) % n


def test_string_keys_are_split_at_quantiles_of_the_index(
    db_url: str, db_engine: sa.Engine, new_run: NewRun
) -> None:
    table = sa.Table(
        "accounts",
        sa.MetaData(),
        sa.Column("code", sa.String(20), primary_key=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    table.create(db_engine)
    codes = [f"k{i:04d}" for i in range(30)]
    insert(db_engine, table, [{"code": c, "created_at": OLD} for c in codes])
    policy = make_policy(db_url, delete_rule("accounts", "accounts", "created_at"))
    run = new_run(policy)
    parts = split_rule(run, policy.rule("accounts"), 3)
    assert [p.upper for p in parts] == [("k0009",), ("k0019",), None]
    result = enforce_partitioned(run, policy.rule("accounts"), 3, batch_size=4, workers=3)
    assert (result.applied, result.remaining, result.partitions) == (
        30,
        0,
        {"p1of3": 10, "p2of3": 10, "p3of3": 10},
    )


def test_more_partitions_than_keys_makes_empty_partitions(
    db_url: str, db_engine: sa.Engine, new_run: NewRun
) -> None:
    seed_shop(db_engine, old=2, recent=0, as_of=AS_OF)
    policy = make_policy(db_url, CUSTOMERS)
    run = new_run(policy)
    parts = split_rule(run, policy.rule("customers"), 5)
    assert len(parts) == 5 and sum(p.empty for p in parts) == 3
    result = enforce_partitioned(run, policy.rule("customers"), 5)
    assert (result.applied, sum(result.partitions.values()), len(result.partitions)) == (2, 2, 5)
    assert count(db_engine, "customers") == 0


def test_a_partitioned_run_applies_everything_once_and_its_rule_entry_adds_up(
    db_url: str, db_engine: sa.Engine, new_run: NewRun, settings: Settings
) -> None:
    seed_shop(db_engine, old=EXPIRED, recent=RECENT, as_of=AS_OF)
    policy = make_policy(db_url, CUSTOMERS)
    result = enforce_partitioned(new_run(policy), policy.rule("customers"), 4, batch_size=4)

    assert (result.applied, result.remaining) == (EXPIRED, 0)
    assert sum(result.partitions.values()) == EXPIRED and len(result.partitions) == 4
    assert all(n > 0 for n in result.partitions.values())
    assert result.children == {
        "orders (delete)": 2 * EXPIRED,
        "order_lines (delete)": 4 * EXPIRED,
        "tickets (detach)": EXPIRED // 2,
    }
    assert count(db_engine, "customers") == RECENT and count(db_engine, "orders") == 2 * RECENT
    # Journal rows and ledger batch entries say which partition they belong to.
    labels = {json.loads(row.body)["partition"] for row in journal_rows(db_engine)}
    assert labels == set(result.partitions)
    entries = ledger_entries(settings)
    batches = batch_entries(entries, "customers")
    per_part: dict[str, int] = {}
    for e in batches:
        label = str(e.entry.details["partition"])
        per_part[label] = per_part.get(label, 0) + e.entry.counts["rows"]
    assert per_part == result.partitions
    (summary,) = summary_entries(entries, "customers")
    assert summary.entry.outcome == "completed"
    assert summary.entry.counts["applied"] == EXPIRED and summary.entry.details["partitions"] == 4
    assert {k: v for k, v in summary.entry.counts.items() if k.startswith("applied:")} == {
        f"applied:{k}": v for k, v in result.partitions.items()
    }
    ledger = Ledger.from_settings(settings)
    try:
        assert verify_ledger(ledger).ok
    finally:
        ledger._engine.dispose()

    # A re-run finds nothing left and still records a verified rule entry.
    again = enforce_partitioned(new_run(policy), policy.rule("customers"), 4, batch_size=4)
    assert (again.applied, again.batches, again.remaining) == (0, 0, 0)
    assert len(summary_entries(ledger_entries(settings), "customers")) == 2


def test_a_partition_whose_lock_is_held_is_refused_and_the_others_run(
    db_url: str, db_engine: sa.Engine, new_run: NewRun, settings: Settings
) -> None:
    seed_shop(db_engine, old=EXPIRED, recent=RECENT, as_of=AS_OF)
    policy = make_policy(db_url, CUSTOMERS)
    rule = policy.rule("customers")
    run = new_run(policy)
    parts = split_rule(run, rule, 4)
    holder = create_store_engine(db_url)
    try:
        with exclusive_lock(holder, f"retention:{STORE}:customers:p2of4"):
            with pytest.raises(ConcurrentRunError, match="p2of4"):
                enforce_partition(run, rule, parts[1])
            # Every other partition runs, even from one run's threads at once.
            others = [parts[0], parts[2], parts[3]]
            done: list[int] = []
            threads = [
                threading.Thread(target=lambda p=p: done.append(enforce_partition(run, rule, p).applied))
                for p in others
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert sorted(done) == sorted(len(keys_in(p, list(range(1, EXPIRED + 1)))) for p in others)
            left = count(db_engine, "customers") - RECENT
            assert left == len(keys_in(parts[1], list(range(1, EXPIRED + 1))))
            # Not complete: the verifying count says so, the entry records it, and the error says it.
            with pytest.raises(VerificationError, match="still expired"):
                finish_partitioned(run, rule, [], started=AS_OF)
            # A whole partitioned run refuses too: it cannot take p2of4 (its other partitions, split afresh
            # over the keys left, may run; each row is still handled once).
            with pytest.raises(ConcurrentRunError):
                enforce_partitioned(run, rule, 4)
        result = enforce_partitioned(new_run(policy), rule, 4)
        assert result.remaining == 0 and count(db_engine, "customers") == RECENT
        assert result.applied <= left
        rows = [e.entry.counts["rows"] for e in batch_entries(ledger_entries(settings), "customers")]
        assert sum(rows) == EXPIRED  # exactly once over every run
        outcomes = [e.entry.outcome for e in summary_entries(ledger_entries(settings), "customers")]
        assert outcomes == ["incomplete", "completed"]
    finally:
        holder.dispose()


def test_sealed_partitions_open_only_for_their_rule_and_key(settings: Settings) -> None:
    master = settings.require_master_key()
    part = Partition(2, 4, (10,), (20,))
    token = seal(master, STORE, "customers", part)
    assert open_sealed(master, STORE, "customers", token) == part
    with pytest.raises(LetheError, match="not this rule"):
        open_sealed(master, STORE, "orders", token)
    with pytest.raises(LetheError, match="not this rule"):
        open_sealed(b"\x01" * 32, STORE, "customers", token)
    with pytest.raises(LetheError, match="not this rule"):
        open_sealed(master, STORE, "customers", token[:-4] + "AAAA")


def test_partitions_come_from_the_policy_or_an_override(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/x.db"
    policy = make_policy(url, delete_rule("customers", "customers", "created_at", extra="partitions: 3"))
    assert partition_count(policy.rule("customers"), None) == 3
    assert partition_count(policy.rule("customers"), 5) == 5
    assert partition_count(make_policy(url, CUSTOMERS).rule("customers"), None) == 1
    for bad in ("0", "65", "two"):
        with pytest.raises(PolicyError, match="partitions"):
            make_policy(url, delete_rule("customers", "customers", "created_at", extra=f"partitions: {bad}"))


def test_the_command_splits_rules_by_flag_or_policy(
    db_url: str, db_engine: sa.Engine, tmp_path: Path
) -> None:
    seed_shop(db_engine, old=EXPIRED, recent=RECENT, as_of=datetime.now(UTC))
    policy = tmp_path / "policy.yaml"
    env = {"DB_URL": db_url, **settings_env(tmp_path)}

    def enforce(rules: str, *flags: str) -> Result:
        policy.write_text(policy_text(rules), encoding="utf-8")
        args = ["retention", "enforce", str(policy), "--yes", "--allow-large-share", "--json", *flags]
        return CliRunner().invoke(main, args, env=env)

    refused = enforce(CUSTOMERS, "--partitions", "0")
    assert refused.exit_code == 2 and count(db_engine, "customers") == EXPIRED + RECENT
    done = enforce(CUSTOMERS, "--partitions", "3")
    assert done.exit_code == 0, done.output
    (rule,) = json.loads(done.stdout)["rules"]
    assert sorted(rule["partitions"]) == ["p1of3", "p2of3", "p3of3"]
    assert sum(rule["partitions"].values()) == rule["applied"] == EXPIRED and rule["remaining"] == 0
    again = enforce(delete_rule("customers", "customers", "created_at", extra="partitions: 2"))
    assert again.exit_code == 0, again.output
    (rule,) = json.loads(again.stdout)["rules"]
    assert (sorted(rule["partitions"]), rule["applied"]) == (["p1of2", "p2of2"], 0)
    assert count(db_engine, "customers") == RECENT
