"""Erasure (Art. 17): delete or anonymise one subject's rows as the policy says, verify, and give a receipt.

``erase_subject`` resolves the subject (an unknown one is a recorded "not found", an ambiguous identifier a
recorded refusal), plans (``lethe.requests.erasure.plan``), refuses while a hold flag is set (Art. 17(3)(e)), and
then, per store, in ONE transaction (a subject is small): the identity row is locked and its hold flags read
(again), its lookup values (e.g. the email) are captured in memory, anonymised tables are rewritten with the
operators' SQL (``UPDATE ... WHERE <subject's rows>``, scopes ``store.table.column`` as in retention, so
tokens match), and deleted tables are emptied of the subject's rows deepest first, after rows of other
tables pointing at them are detached (nullable key set to NULL) or deleted with them (NOT NULL key; a
kept table with such a key is a policy error, ``erasure-orphans-kept``). Kept tables are counted only.

Verification. Erasure is *verified* when all of these hold:

1. every table the policy deletes has no row left that matched the subject before the erasure;
2. every anonymised column of the subject's rows holds an anonymised value, where the operator's output is
   recognisable (``Operator.applied``: null, redact, hmac, generalise, encrypt);
3. no lookup column of the subject's identity row still holds the value it held before;
4. after the commit, resolving (``resolve_key``: ``subjects.resolve_subject`` on the reflected table) no
   longer finds the subject by the original identifier nor by any captured lookup value (nobody, or
   another subject who shares a value, is found instead), compared in clear: an ``hmac`` token of the
   email is the pseudonym the policy keeps, and requests still find the kept rows through it.

1-3 are checked inside each store's transaction before it commits (one query): a failure rolls everything
back (exit 5, nothing changed). 4 is checked after the commit (exit 5, outcome ``unverified``). One
exception to 4, by design: when the identity row is kept pseudonymised (not deleted) so that kept records
(orders, invoices) still point at an account, its surrogate key still exists; an identifier that *is*
that key still resolves, and the receipt says so.

Evidence, like retention's batches (``lethe.requests.evidence``). Before anything changes, the ledger must
be writable (a wrong key exits 4, a write lock not obtained within the ledger's lock timeout exits 3,
nothing changed), and journal rows an interrupted run left are copied into the ledger. Each store's
transaction journals its part of the erasure (``lethe_journal``) before it commits; after the commits the
rows are copied into the ledger, so a crash in between loses no evidence: the next run on the store copies
them. A retry whose subject is no longer found, while the journal holds an erasure the identifier named,
is answered ``completed-earlier`` (its request, left open by the interrupted run, is closed), not "not found".
Each store's journal row also holds the keyed leaves (``lethe.ledger.leaves``) of every primary key the
statements changed there (they hand the keys back: RETURNING, or the keys locked first on MariaDB's
UPDATE), sorted into one blob with their Merkle root, which the entry names with the leaf count, key id
and tables. In a queue (``lethe.requests.erasure.queue``) the evidence is prepared once and the rows are
copied into the ledger in groups (``evidence.GroupCopy``).

The ledger gets one entry per call, or per store for a real erasure: flow ``erasure``, action ``erase``
(``erase.plan`` for a dry run), outcome ``completed`` (the journalled part of a store, checks 1-3 passed),
``dry-run``, ``blocked``, ``not-found``, ``completed-earlier``, ``ambiguous``, ``cancelled`` or ``failed``;
check 4 failing adds action ``erase.verify``, outcome ``unverified``. Counts per table, the fingerprint of
the subject's key, never a value. Real runs are also recorded in the request register (``lethe.requests.tracking``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

import sqlalchemy as sa

from lethe.errors import LetheError, VerificationError
from lethe.ledger.chain import Ledger
from lethe.policy.model import Policy
from lethe.requests.erasure.apply import (
    Applied,
    ErasureBlockedError,
    StorePart,
    apply_erasure,
    blocked_message,
)
from lethe.requests.erasure.plan import (
    ERASURE_FLOW,
    HOLD_REASON,
    ErasurePlan,
    ErasureReceipt,
    ErasureSetup,
    TableReceipt,
    make_receipt,
    plan_for_key,
    prepare_erasure,
    receipt_entry,
    resolve_key,
)
from lethe.requests.evidence import (
    COMPLETED_EARLIER,
    CompletedEarlier,
    GroupCopy,
    answer_completed_earlier,
    change_leaves,
    copy_evidence,
    identifier_prints,
    journal_change,
    prepare_evidence,
    remembering,
)
from lethe.requests.tracking import SubjectRef, key_fingerprint, resolve_for_request, track_request
from lethe.settings import Settings
from lethe.stores.engines import Stores

__all__ = [
    "ErasureBlockedError",
    "ErasurePlan",
    "ErasureReceipt",
    "TableReceipt",
    "UnverifiedErasureError",
    "erase_subject",
]
Confirm = Callable[[ErasurePlan], bool]


class UnverifiedErasureError(VerificationError):
    """The erasure committed, but afterwards an identifier still finds the subject (check 4); its receipt."""

    def __init__(self, message: str, receipt: ErasureReceipt) -> None:
        super().__init__(message)
        self.receipt = receipt


def erase_subject(
    policy: Policy,
    stores: Stores,
    settings: Settings,
    subject: str,
    identifier: str,
    *,
    ledger: Ledger,
    run_id: str,
    dry_run: bool = False,
    confirm: Confirm | None = None,
    received_at: datetime | None = None,
    setup: ErasureSetup | None = None,
    request_id: str | None = None,
    evidence: GroupCopy | None = None,
    resolved: SubjectRef | None = None,
) -> ErasureReceipt:
    """Erase one subject as the policy says (or only plan it with ``dry_run``); see the module docstring.

    ``confirm`` is asked with the plan before anything changes; False cancels. ``setup`` (from
    ``prepare_erasure``) saves reflecting the graph again when erasing many subjects. ``request_id`` names
    the open request this attempt continues (default: the subject's open erasure request, if any).
    ``evidence`` is the group copy of a queue (``lethe.requests.erasure.queue``): prepared once for the
    queue, it copies the journal rows into the ledger in groups rather than right after this commit, and
    its register batch opened the subject's request and closes it with the group. ``resolved`` is the
    subject the queue found by ``identifier`` (in clear) when it opened the requests: not resolved again.
    """
    started = datetime.now(UTC)
    action = "erase.plan" if dry_run else "erase"
    setup = setup or prepare_erasure(policy, stores, settings, subject)
    names, identity_store = setup.store_order(), setup.identity.entry.store
    # Before anything changes: the ledger takes entries, and what an interrupted run journalled is copied.
    journals = (
        evidence.journals
        if evidence is not None
        else prepare_evidence(ledger, setup.stores, names, journal=not dry_run)
    )
    resolve = remembering(
        lambda text: resolve_key(setup, text), setup.stores, identity_store, settings, subject,
        flow=ERASURE_FLOW, action="erase", in_clear=lambda text: resolve_key(setup, text, tokens=False),
        key_print=lambda key: key_fingerprint(policy, settings, subject, key),
    )  # fmt: skip
    batch = evidence.register if evidence is not None else None
    try:
        ref = resolved or resolve_for_request(
            policy, stores, settings, subject, identifier, request_type="erasure", ledger=ledger,
            run_id=run_id, flow=ERASURE_FLOW, action=action, register=not dry_run, started_at=started,
            resolve=resolve, request_id=request_id,
        )  # fmt: skip
    except CompletedEarlier as earlier:
        earlier_id = answer_completed_earlier(
            settings, ledger, earlier, run_id=run_id, policy_hash=policy.hash, action=action, started=started,
            close=not dry_run,
        )  # fmt: skip
        return _earlier_receipt(earlier, subject, dry_run, run_id, earlier_id, started)
    # Counted when someone looks at it; otherwise apply_erasure reads the holds, under a lock.
    plan = plan_for_key(setup, ref.key, ref.key_fingerprint, count=dry_run or confirm is not None)

    def finish(
        outcome: str, applied: Applied | None, request_id: str | None, error: str = "", step: str = action
    ) -> ErasureReceipt:
        receipt = make_receipt(
            plan, outcome, dry_run=dry_run, run_id=run_id, request_id=request_id, started=started,
            rows=applied.rows if applied else None, detached=applied.detached if applied else None,
            checks=tuple(applied.checks) if applied else (), verified=outcome == "completed",
        )  # fmt: skip
        if outcome != "completed":  # a completed erasure's evidence is its journalled parts
            ledger.append(receipt_entry(policy, receipt, step, error or None))
        return receipt

    if plan.blocked:
        message = blocked_message(subject, plan.blocked)
        refused_id = None  # the request the refusal closes (a dry run registers nothing)
        if not dry_run:
            with track_request(
                settings, "erasure", subject, ref.key_fingerprint, received_at=received_at,
                request_id=request_id, batch=batch,
            ) as req:  # fmt: skip
                req.finish("refused", f"blocked: {', '.join(h.flag for h in plan.blocked)} ({HOLD_REASON})")
                refused_id = req.id
        finish("blocked", None, refused_id)
        raise ErasureBlockedError(message, plan)
    if dry_run:
        return finish("dry-run", None, None)
    if confirm is not None and not confirm(plan):
        return finish("cancelled", None, None)
    with track_request(
        settings, "erasure", subject, ref.key_fingerprint, received_at=received_at, request_id=request_id,
        batch=batch,
    ) as request:  # fmt: skip

        def journal(connection: sa.Connection, part: StorePart) -> None:
            """The store's part of the receipt, journalled in the store's transaction."""
            tables = {t.name for t in setup.in_store(part.store)}
            mine = replace(plan, tables=tuple(t for t in plan.tables if t.table in tables))
            receipt = make_receipt(
                mine, "completed", dry_run=False, run_id=run_id, request_id=request.id, started=started,
                rows=part.rows, detached=part.detached, verified=True,
            )  # fmt: skip
            named = [identifier, ref.key, *part.lookups] if part.store == identity_store else []
            journal_change(
                connection, journals[part.store], receipt_entry(policy, receipt, action),
                part=names.index(part.store) + 1, match=identifier_prints(settings, subject, named),
                leaves=change_leaves(settings, part.store, part.keys),
            )  # fmt: skip

        try:
            applied, problems = apply_erasure(setup, ref.key, identifier, journal)
        except ErasureBlockedError as exc:  # found under the lock: record what the hold keeps back
            plan = exc.plan = plan_for_key(setup, ref.key, ref.key_fingerprint)
            holds = ", ".join(h.flag for h in plan.blocked) or "a hold"
            request.finish("refused", f"blocked: {holds} ({HOLD_REASON})")
            finish("blocked", None, request.id)
            raise
        except LetheError as exc:  # rolled back: the receipt in the ledger shows the plan's counts
            finish("failed", None, request.id, type(exc).__name__)
            raise
        if evidence is not None:
            evidence.committed()
        else:
            copy_evidence(ledger, setup.stores, names, ERASURE_FLOW)
        if problems:
            raise UnverifiedErasureError(
                f"erasure of a {subject} committed but not verified: {'; '.join(problems)}",
                finish("unverified", applied, request.id, step="erase.verify"),
            )
        receipt = finish("completed", applied, request.id)
        erased = sum(t.rows for t in receipt.erased)
        request.finish(
            "completed", f"erased: {erased} row(s) deleted; {len(receipt.kept)} table(s) kept or anonymised"
        )
    return receipt


def _earlier_receipt(
    earlier: CompletedEarlier,
    subject: str,
    dry_run: bool,
    run_id: str,
    request_id: str | None,
    started: datetime,
) -> ErasureReceipt:
    """The receipt of a retry: the identity store's part as the interrupted run journalled it; nothing changed."""
    done = earlier.entry
    tables = tuple(
        TableReceipt(name, table_action, n, _text(done.details.get(f"reason:{name}")))
        for key, n in done.counts.items()
        for table_action, _, name in [key.partition(":")]
        if table_action != "detach"
    )
    detached = {k.removeprefix("detach:"): n for k, n in done.counts.items() if k.startswith("detach:")}
    check = f"completed earlier by run {done.run_id}; its journalled evidence is in the ledger"
    return ErasureReceipt(
        subject=subject, key_fingerprint=done.fingerprints[0] if done.fingerprints else "", dry_run=dry_run,
        outcome=COMPLETED_EARLIER, tables=tables, detached=detached, blocked=(), verified=False,
        checks=(check,), run_id=run_id, request_id=request_id, started_at=started, ended_at=datetime.now(UTC),
    )  # fmt: skip


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
