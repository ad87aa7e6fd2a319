"""Honour withdrawn consent (Art. 7(3), Art. 17(1)(b)): erase or restrict what was processed only under it.

For each purpose of the ``consent:`` block, the subjects whose consent is withdrawn
(``ConsentTable.withdrawn_subjects``) lose the purpose's data as the policy says:

* ``erase``: their rows of the purpose's tables are deleted, in one transaction per purpose, and a count in
  the same transaction verifies that none is left;
* ``restrict``: each gets an entry of the restriction register (ground ``consent-withdrawn``) for the
  purpose's activity, so processing queries (``not_restricted``) leave them out;
* ``keep``: nothing changes; the outcome says so.

The ledger gets one entry per purpose: counts per table and the keyed fingerprints of the subjects handled
(scoped like every subject fingerprint, ``store.identity_table``), never a key. The consent rows themselves
are kept: they prove the consent and its withdrawal (Art. 7(1)). Running again changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from lethe.consent.records import ConsentTable, open_consent
from lethe.crypto import fingerprinter
from lethe.errors import ParameterError, StoreError, VerificationError
from lethe.ledger.chain import Ledger
from lethe.ledger.entry import LedgerEntry
from lethe.policy.model import Policy
from lethe.requests import restriction
from lethe.settings import Settings
from lethe.stores.dialects import cutoff_param
from lethe.stores.engines import Stores

FLOW = "consent-withdrawal"


@dataclass(frozen=True)
class PurposeOutcome:
    """What honouring one purpose's withdrawals did (or would do): counts only."""

    purpose: str
    action: str
    withdrawn_subjects: int  # whose consent for the purpose is withdrawn
    handled_subjects: int  # of them, with rows erased or a restriction added now
    rows: dict[str, int] = field(default_factory=dict)  # per table: erased (or to erase)
    restricted: int = 0  # restrictions added (or to add)


@dataclass(frozen=True)
class WithdrawalResult:
    """The outcome of one run over the purposes."""

    run_id: str
    dry_run: bool
    purposes: list[PurposeOutcome]


def _scan(connection: sa.Connection, query: sa.Select[Any]) -> list[Any]:
    return list(connection.execute(query).scalars().all())


def _erase(
    consent: ConsentTable, stores: Stores, purpose: str, dry_run: bool
) -> tuple[list[Any], dict[str, int]]:
    """Delete the purpose's rows of withdrawn subjects; the subjects that had some, and rows per table."""
    spec = consent.purpose_spec(purpose)
    withdrawn = consent.withdrawn_subjects(purpose)
    subjects: set[Any] = set()
    rows: dict[str, int] = {}
    # A dry run reads in a plain connection (nothing to roll back); a real one deletes in one transaction.
    with consent.engine.connect() if dry_run else consent.engine.begin() as connection:
        for ref, target in spec.tables.items():
            table = stores.sa_table(ref.store, ref.table)
            column = table.c[target.subject_column]
            matching = column.in_(withdrawn)
            subjects.update(_scan(connection, sa.select(column).where(matching).distinct()))
            if dry_run:
                rows[str(ref)] = int(
                    connection.execute(sa.select(sa.func.count()).where(matching)).scalar_one()
                )
                continue
            rows[str(ref)] = int(connection.execute(table.delete().where(matching)).rowcount)
            left = connection.execute(
                sa.select(sa.func.count()).select_from(table).where(matching)
            ).scalar_one()
            if left:
                raise VerificationError(f"consent {purpose}: {left} row(s) of {ref} remain after erasure")
    return sorted(subjects, key=str), rows


def restricted_keys(engine: sa.Engine, subject: str, activity: str) -> set[str]:
    """Keys (as text) of the subjects ``activity`` must not process now; empty while there is no register."""
    if not sa.inspect(engine).has_table(restriction.REGISTER_TABLE):
        return set()  # no restriction yet; a dry run must not create the register
    with engine.connect() as connection:
        return {
            str(key) for key in connection.execute(restriction.excluded_keys(subject, activity)).scalars()
        }


def _restrict(
    policy: Policy, consent: ConsentTable, stores: Stores, purpose: str, dry_run: bool, now: datetime
) -> tuple[list[Any], int]:
    """Register a restriction of the purpose's activity for each withdrawn subject without one."""
    spec = consent.purpose_spec(purpose)
    activity = spec.activity
    assert activity is not None  # the policy model requires it for restrict
    kind = consent.spec.subject
    subject_store = policy.subjects[kind].store
    engine = stores.engine(subject_store)
    with consent.engine.connect() as connection:
        withdrawn = _scan(connection, consent.withdrawn_subjects(purpose))
    restricted = restricted_keys(engine, kind, activity)
    pending = [key for key in withdrawn if str(key) not in restricted]
    if not dry_run:
        for key in pending:
            restriction.restrict(
                engine, subject=kind, subject_key=key, kind="restriction", ground="consent-withdrawn",
                activities=[activity], now=now,
            )  # fmt: skip
    return pending, len(pending)


def honour_withdrawals(
    policy: Policy,
    stores: Stores,
    settings: Settings,
    *,
    ledger: Ledger | None,
    run_id: str,
    purposes: list[str] | None = None,
    dry_run: bool = False,
    now: datetime | None = None,
) -> WithdrawalResult:
    """Erase or restrict, per purpose, what withdrawn consent covered; one ledger entry per purpose.

    ``purposes`` limits the run to those named (default: every declared one). Without ``dry_run`` a ledger
    is required and must be writable before anything changes.
    """
    consent = open_consent(policy, stores)
    names = purposes or list(consent.spec.purposes)
    for name in names:
        consent.purpose_spec(name)  # unknown names refused before anything changes
    if not dry_run:
        if ledger is None:
            raise ParameterError(
                "honouring withdrawals changes data: a ledger is required (or use a dry run)"
            )
        ledger.check_writable()
    master = settings.require_master_key()
    identity = policy.subjects[consent.spec.subject]
    fingerprint = fingerprinter(master, f"{identity.store}.{identity.table}")
    moment = now or datetime.now(UTC)
    outcomes: list[PurposeOutcome] = []
    for name in names:
        spec = consent.spec.purposes[name]
        started = datetime.now(UTC)
        try:
            with consent.engine.connect() as connection:
                withdrawn_count = int(
                    connection.execute(
                        sa.select(sa.func.count()).select_from(consent.withdrawn_subjects(name).subquery())
                    ).scalar_one()
                )
            handled: list[Any] = []
            rows: dict[str, int] = {}
            restricted = 0
            if spec.on_withdrawal == "erase":
                handled, rows = _erase(consent, stores, name, dry_run)
            elif spec.on_withdrawal == "restrict":
                handled, restricted = _restrict(policy, consent, stores, name, dry_run, moment)
        except SQLAlchemyError as exc:
            raise StoreError(
                f"consent {name}: cannot honour withdrawals in store {consent.spec.table.store} ({type(exc).__name__})"
            ) from None
        outcome = PurposeOutcome(name, spec.on_withdrawal, withdrawn_count, len(handled), rows, restricted)
        outcomes.append(outcome)
        if dry_run or ledger is None:
            continue
        ledger.append(
            LedgerEntry(
                run_id=run_id, flow=FLOW, policy_hash=policy.hash, action=f"consent-{spec.on_withdrawal}",
                outcome="completed", started_at=started, ended_at=datetime.now(UTC), rule=f"consent:{name}",
                counts={"withdrawn_subjects": withdrawn_count, "handled_subjects": len(handled),
                        "restricted": restricted, **rows},
                fingerprints=[fingerprint(key) for key in handled],
                details={"purpose": name, "activity": spec.activity, "verified": True},
            )
        )  # fmt: skip
    return WithdrawalResult(run_id, dry_run, outcomes)


def record_withdrawal(
    policy: Policy,
    stores: Stores,
    purpose: str,
    subject_key: Any,
    *,
    now: datetime | None = None,
) -> int:
    """Record that ``subject_key`` withdrew consent for ``purpose`` now; return the consent rows it ended.

    What a shop's preference centre does when a customer unticks a box; ``honour_withdrawals`` then acts.
    """
    consent = open_consent(policy, stores)
    consent.purpose_spec(purpose)
    moment = now or datetime.now(UTC)
    column = consent.withdrawn
    store = consent.spec.table.store
    value = cutoff_param(column, moment, consent.engine.dialect.name, policy.stores[store].timezone)
    try:
        with consent.engine.begin() as connection:
            result = connection.execute(
                consent.table.update()
                .where(consent.subject == subject_key, consent.purpose == purpose, column.is_(None))
                .values({column.name: value})
            )
    except SQLAlchemyError as exc:
        raise StoreError(f"store {store}: cannot record the withdrawal ({type(exc).__name__})") from None
    return int(result.rowcount)
