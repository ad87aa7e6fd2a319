"""A queue of erasures in one run (``erase_queue``) on SQLite, PostgreSQL and MariaDB.

Good subjects are erased each in its own transaction, a held and a missing one are refused alone, the
summary counts them without an identifier, and each erased subject has its journalled ledger entry (copied
in groups) whose root covers a keyed leaf of every key the erasure changed; a rectification journals the leaf
of the row it changed.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from support.retention import journal_rows
from support.shop import DELETED, MASTER_KEY, Shop, fingerprint_of, full_customer, rectify

from lethe.ledger import merkle
from lethe.ledger.leaves import leaves_of_scalars, unpack
from lethe.requests.erasure.queue import QueueSummary, erase_queue
from lethe.requests.register import (
    close_request,
    close_requests,
    ensure_register,
    open_requests,
    state_engine,
)
from lethe.requests.tracking import RegisterBatch

MISSING = "nobody-at-all@example.org"


def customers(shop: Shop, n: int, *, held: bool = False) -> list[tuple[int, str]]:
    """``n`` customers (id, email): on hold, or not and with rows in every deleted table."""
    has = " AND ".join(f"EXISTS (SELECT 1 FROM {t} x WHERE x.customer_id = c.id)" for t in DELETED)
    hold = "c.legal_hold" if held else "NOT c.legal_hold"
    has = "1 = 1" if held else has
    rows = shop.rows(f"SELECT c.id, c.email FROM customers c WHERE {hold} AND {has} ORDER BY c.id")
    assert len(rows) >= n
    return [(int(r[0]), str(r[1])) for r in rows[:n]]


def queue(shop: Shop, identifiers: list[str], **kwargs: object) -> QueueSummary:
    return erase_queue(
        shop.policy, shop.stores, shop.settings, "customer", identifiers, ledger=shop.ledger,
        run_id=shop.run_id(), **kwargs,  # type: ignore[arg-type]
    )  # fmt: skip


def register_rows(shop: Shop) -> list[tuple[str, str]]:
    """(status, subject fingerprint) of every request in the register."""
    engine = state_engine(shop.settings)
    table = ensure_register(engine)
    with engine.connect() as connection:
        return [(r.status, r.subject_fingerprint) for r in connection.execute(sa.select(table))]


def test_a_queue_erases_the_good_refuses_the_held_and_the_missing_alone(shop: Shop) -> None:
    good = customers(shop, 3)
    (held,) = customers(shop, 1, held=True)
    held_before = shop.checksum("customers", f"id = {held[0]}")
    identifiers = [good[0][1], held[1], good[1][1], MISSING, str(good[2][0])]  # an email or a key

    summary = queue(shop, identifiers, every=3600.0)  # one group copy, at the end

    assert summary.counts == {"blocked": 1, "completed": 3, "not-found": 1}
    assert (summary.refused, summary.failed, summary.exit_code, summary.group_copies) == (2, 0, 2, 1)
    assert [i.line for i in summary.items] == [1, 2, 3, 4, 5]
    assert [i.outcome for i in summary.items] == [
        "completed",
        "blocked",
        "completed",
        "not-found",
        "completed",
    ]
    assert [i.key_fingerprint for i in summary.items if i.outcome == "completed"] == [
        fingerprint_of(shop, cid) for cid, _ in good
    ]
    assert summary.items[1].key_fingerprint == fingerprint_of(shop, held[0])
    # Nothing in the summary names anybody.
    shown = json.dumps([i.__dict__ for i in summary.items])
    assert not any(email in shown for _, email in [*good, held]) and MISSING not in shown
    # The good ones are erased, the held one is untouched.
    for cid, _ in good:
        assert all(shop.one(f"SELECT count(*) FROM {t} WHERE customer_id = {cid}") == 0 for t in DELETED)
        assert shop.one(f"SELECT email FROM customers WHERE id = {cid}").startswith("~h1:")
    assert shop.checksum("customers", f"id = {held[0]}") == held_before
    # One journalled ledger entry per erased subject, every journal row copied and marked once.
    entries = shop.entries()
    erased = [e for e in entries if (e.entry.action, e.entry.outcome) == ("erase", "completed")]
    assert sorted(e.entry.fingerprints[0] for e in erased) == sorted(fingerprint_of(shop, c) for c, _ in good)
    assert sorted(e.entry.outcome for e in entries if e.entry.outcome != "completed") == [
        "blocked",
        "not-found",
    ]
    rows = journal_rows(shop.engine)
    assert len(rows) == 3 and all(r.ledger_seq is not None for r in rows)
    assert sorted(r.ledger_seq for r in rows) == sorted(e.seq for e in erased)
    # The register: three completed, one refused (the hold), one not found; none left open.
    statuses = sorted(status for status, _ in register_rows(shop))
    assert statuses == ["completed", "completed", "completed", "not-found", "refused"]


def test_each_erased_key_has_a_leaf_under_the_root_its_ledger_entry_names(shop: Shop) -> None:
    cid = full_customer(shop)  # an order of it was shipped to one of its addresses: detached
    email = shop.one("SELECT email FROM customers WHERE id = :c", c=cid)
    addresses = [r[0] for r in shop.rows(f"SELECT id FROM addresses WHERE customer_id = {cid}")]
    detached = [r[0] for r in shop.rows(f"SELECT o.id FROM orders o JOIN addresses a ON a.id = o.shipping_address_id WHERE a.customer_id = {cid}")]  # fmt: skip

    assert addresses and detached
    queue(shop, [email])

    (row,) = journal_rows(shop.engine)
    leaves = unpack(bytes(row.leaves))
    assert leaves == sorted(leaves) and row.leaf_count == len(leaves)
    assert bytes(row.root) == merkle.root(leaves)
    expected = {
        "customers": [cid], "addresses": addresses, "orders": detached,
    }  # fmt: skip
    for table, keys in expected.items():
        for leaf in leaves_of_scalars(MASTER_KEY, "shop", table, keys):
            assert leaf in leaves, table
    # A key the erasure did not change has no leaf.
    other = cid + 1
    assert leaves_of_scalars(MASTER_KEY, "shop", "customers", [other])[0] not in leaves
    (entry,) = [e for e in shop.entries() if e.entry.outcome == "completed"]
    details = entry.entry.details
    assert (details["root"], details["leaf_count"]) == (bytes(row.root).hex(), len(leaves))
    assert set(str(details["tables"]).split(",")) >= {"customers", "addresses", "orders"}
    assert json.loads(row.table_counts)["customers"] == 1


def test_a_dry_run_queue_changes_and_registers_nothing(shop: Shop) -> None:
    good = customers(shop, 2)
    before = shop.snapshot()

    summary = queue(shop, [email for _, email in good] + [MISSING], dry_run=True)

    assert summary.counts == {"dry-run": 2, "not-found": 1} and summary.exit_code == 2
    assert shop.snapshot() == before
    assert journal_rows(shop.engine) == []
    assert register_rows(shop) == []
    assert sorted(e.entry.action for e in shop.entries()) == ["erase.plan"] * 3


def test_group_copies_follow_the_clock(shop: Shop) -> None:
    """Without a wait between copies every commit is copied at once; a long wait copies once, at the end."""
    good = [email for _, email in customers(shop, 3)]

    each = queue(shop, good[:2], every=0.0)
    assert each.group_copies == 2 and all(r.ledger_seq is not None for r in journal_rows(shop.engine))

    once = queue(shop, [*good[2:], MISSING], every=3600.0)
    assert once.group_copies == 1 and once.counts == {"completed": 1, "not-found": 1}
    assert len([e for e in shop.entries() if e.entry.outcome == "completed"]) == 3


def test_a_rectification_journals_the_leaf_of_the_row_it_changed(shop: Shop) -> None:
    email = shop.one("SELECT email FROM customers WHERE id = 9")

    rectify(shop, email, {"phone": "+44 20 7946 0999"})

    (row,) = journal_rows(shop.engine)
    assert unpack(bytes(row.leaves)) == leaves_of_scalars(MASTER_KEY, "shop", "customers", [9])
    assert (row.leaf_count, json.loads(row.table_counts)) == (1, {"customers": 1})
    (entry,) = shop.entries()
    assert entry.entry.details["root"] == merkle.root(unpack(bytes(row.leaves))).hex()
    assert (entry.entry.details["tables"], entry.entry.details["key_id"]) == ("customers", row.key_id)


def test_the_register_batch_opens_ahead_continues_open_requests_and_skips_closed_ones(shop: Shop) -> None:
    engine = state_engine(shop.settings)
    (earlier,) = open_requests(engine, "erasure", "customer", ["~f:one"])
    batch = RegisterBatch(shop.settings, "erasure", "customer")

    opened = batch.open_for(["~f:one", "~f:two", "~f:one"])

    assert opened["~f:one"].id == earlier.id and opened["~f:two"].id != earlier.id
    assert sorted(register_rows(shop)) == [("open", "~f:one"), ("open", "~f:two")]
    close_request(engine, earlier.id, "refused", "closed meanwhile by another attempt")
    assert close_requests(
        engine, [(earlier.id, "completed", "x"), (opened["~f:two"].id, "completed", "y")]
    ) == [earlier.id]
    assert sorted(register_rows(shop)) == [("completed", "~f:two"), ("refused", "~f:one")]
