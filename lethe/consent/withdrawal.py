"""Honour withdrawn consent (Art. 7(3), Art. 17(1)(b)): erase or restrict what was processed only under it.

For each purpose of the ``consent:`` block, the subjects whose consent is withdrawn
(``ConsentTable.withdrawn_subjects``) lose the purpose's data as the policy says:

* ``erase``: their rows of the purpose's tables are deleted, in one transaction per purpose, and a count in
  the same transaction verifies that none is left;
* ``restrict``: each gets an entry of the restriction register (ground ``consent-withdrawn``) for the
  purpose's activity, so processing queries (``not_restricted``) leave them out;
* ``keep``: nothing changes; the outcome says so.

The ledger gets one entry per purpose: counts per table and the keyed fingerprints of the subjects handled
(scoped like every subject fingerprint, ``store.identity_table``), never a key. An erasure's entry is
journalled in the store's transaction that deletes (``lethe.requests.evidence``) and copied after the commit,
so a crash in between loses nothing. The consent rows themselves
are kept: they prove the consent and its withdrawal (Art. 7(1)). Running again changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
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
from lethe.requests.evidence import copy_evidence, journal_change, prepare_evidence
from lethe.retention.sql import flag_set
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
    held: int = 0  # withdrawn subjects left alone: a legal-hold flag of theirs is set (``erasure.unless``)


@dataclass(frozen=True)
class WithdrawalResult:
    """The outcome of one run over the purposes."""

    run_id: str
    dry_run: bool
    purposes: list[PurposeOutcome]


def _scan(connection: sa.Connection, query: sa.Select[Any]) -> list[Any]:
    return list(connection.execute(query).scalars().all())


Seal = Callable[[sa.Connection, list[Any], dict[str, int]], None]


def legal_holds(policy: Policy, stores: Stores, subject: str, store: str) -> Any:
    """Keys of the subjects whose identity row has a legal-hold flag set (``erasure.unless``), as a SELECT
    usable in ``store`` (a list read first when the identity table lives elsewhere); None if none are declared.
    A hold wins over a withdrawal, as it wins over an erasure request (Art. 17(3)(e))."""
    definition = policy.subjects[subject]
    flags = definition.erasure.unless
    if not flags:
        return None
    table = stores.sa_table(definition.store, definition.table)
    held = sa.select(table.c[definition.key]).where(sa.or_(*(flag_set(table.c[f]) for f in flags)))
    if definition.store == store:
        return held
    with stores.engine(definition.store).connect() as connection:
        return list(connection.execute(held).scalars())


def _erase(
    consent: ConsentTable, stores: Stores, purpose: str, seal: Seal | None, held: Any = None
) -> tuple[list[Any], dict[str, int]]:
    """Delete the purpose's rows of withdrawn subjects not on hold; the subjects that had some, and rows per table.

    ``seal`` (None: a dry run, which only counts) journals the change as the transaction's last statement.
    ``held`` selects the keys of subjects on legal hold, whose rows stay.
    """
    dry_run = seal is None
    spec = consent.purpose_spec(purpose)
    withdrawn: Any = consent.withdrawn_subjects(purpose)
    if held is not None:
        withdrawn = withdrawn.where(consent.subject.not_in(held))
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
        handled = sorted(subjects, key=str)
        if seal is not None:
            seal(connection, handled, rows)
    return handled, rows


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


@dataclass(frozen=True)
class _Run:
    """What every purpose of one run shares."""

    policy: Policy
    stores: Stores
    consent: ConsentTable
    ledger: Ledger | None
    journals: dict[str, sa.Table]
    run_id: str
    fingerprint: Callable[[object], str]
    now: datetime

    def entry(
        self,
        name: str,
        started: datetime,
        handled: list[Any],
        rows: dict[str, int],
        restricted: int,
        withdrawn: int,
        held: int = 0,
    ) -> LedgerEntry:
        """The purpose's ledger entry: counts and keyed fingerprints of the subjects handled."""
        spec = self.consent.spec.purposes[name]
        return LedgerEntry(
            run_id=self.run_id, flow=FLOW, policy_hash=self.policy.hash, action=f"consent-{spec.on_withdrawal}",
            outcome="completed", started_at=started, ended_at=datetime.now(UTC), rule=f"consent:{name}",
            counts={"withdrawn_subjects": withdrawn, "handled_subjects": len(handled), "restricted": restricted,
                    "held_subjects": held, **rows},
            fingerprints=[self.fingerprint(key) for key in handled],
            details={"purpose": name, "activity": spec.activity, "verified": True},
        )  # fmt: skip


def _honour_one(run: _Run, name: str) -> PurposeOutcome:
    """Honour one purpose's withdrawals (a dry run when ``run.ledger`` is None); record them."""
    consent, spec, store = run.consent, run.consent.spec.purposes[name], run.consent.spec.table.store
    started = datetime.now(UTC)
    try:
        with consent.engine.connect() as connection:
            withdrawn = int(
                connection.execute(
                    sa.select(sa.func.count()).select_from(consent.withdrawn_subjects(name).subquery())
                ).scalar_one()
            )
        handled: list[Any] = []
        rows: dict[str, int] = {}
        restricted = held = 0
        if spec.on_withdrawal == "erase":

            def seal(connection: sa.Connection, keys: list[Any], counted: dict[str, int]) -> None:
                entry = run.entry(name, started, keys, counted, 0, withdrawn, held)
                journal_change(connection, run.journals[store], entry)

            holds = legal_holds(run.policy, run.stores, consent.spec.subject, store)
            if holds is not None:
                with consent.engine.connect() as connection:
                    held = int(
                        connection.execute(
                            sa.select(sa.func.count()).select_from(
                                consent.withdrawn_subjects(name).where(consent.subject.in_(holds)).subquery()
                            )
                        ).scalar_one()
                    )
            handled, rows = _erase(consent, run.stores, name, None if run.ledger is None else seal, holds)
        elif spec.on_withdrawal == "restrict":
            handled, restricted = _restrict(
                run.policy, consent, run.stores, name, run.ledger is None, run.now
            )
    except SQLAlchemyError as exc:
        raise StoreError(
            f"consent {name}: cannot honour withdrawals in store {store} ({type(exc).__name__})"
        ) from None
    if run.ledger is not None:
        if spec.on_withdrawal == "erase":
            copy_evidence(run.ledger, run.stores, [store], FLOW)
        else:
            # Restrictions are their own evidence (the register keeps ground and time); the ledger gets the sum.
            run.ledger.append(run.entry(name, started, handled, rows, restricted, withdrawn))
    return PurposeOutcome(name, spec.on_withdrawal, withdrawn, len(handled), rows, restricted, held)


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
    is required and must be writable before anything changes. An erasure is journalled in its own store
    transaction (``lethe.requests.evidence``) and copied into the ledger after its commit, so a crash in
    between loses no evidence: the next run copies it.
    """
    consent = open_consent(policy, stores)
    names = purposes or list(consent.spec.purposes)
    for name in names:
        consent.purpose_spec(name)  # unknown names refused before anything changes
    journals: dict[str, sa.Table] = {}
    if not dry_run:
        if ledger is None:
            raise ParameterError(
                "honouring withdrawals changes data: a ledger is required (or use a dry run)"
            )
        journals = prepare_evidence(ledger, stores, [consent.spec.table.store])
    identity = policy.subjects[consent.spec.subject]
    fingerprint = fingerprinter(settings.require_master_key(), f"{identity.store}.{identity.table}")
    run = _Run(
        policy,
        stores,
        consent,
        None if dry_run else ledger,
        journals,
        run_id,
        fingerprint,
        now or datetime.now(UTC),
    )
    return WithdrawalResult(run_id, dry_run, [_honour_one(run, name) for name in names])


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
