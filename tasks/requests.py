"""Prefect tasks for data-subject requests: each wraps one core call and returns counts, never values.

The subject identifier arrives as a task argument; Prefect keeps task-run inputs as references, not
values, and these tasks cache and persist nothing. Task-run names are fixed strings. Outcomes that answer
the request without changing anything (nobody found, identifier ambiguous, legal hold) are returned as
outcomes, not raised: the request was handled, and a traceback would help nobody.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from lethe.errors import AmbiguousSubjectError, SubjectError
from lethe.ledger.chain import Ledger
from lethe.policy.model import Policy
from lethe.requests.erasure.erase import ErasureBlockedError, erase_subject
from lethe.requests.erasure.queue import erase_queue
from lethe.requests.export.archive import export_subject
from lethe.requests.rectification import lift_restriction, rectify_subject, restrict_subject
from lethe.requests.reference import forget_subject, recall_subject
from lethe.requests.register import get_request, state_engine
from lethe.requests.tracking import register_request
from lethe.settings import Settings, load_settings
from lethe.stores.engines import Stores
from tasks.shared import close_shared, shared_resources

T = TypeVar("T")


@dataclass
class RequestContext:
    """What every request task opens: policy, stores, settings, ledger."""

    policy: Policy
    stores: Stores
    settings: Settings
    ledger: Ledger


@contextmanager
def request_context(policy_path: str) -> Iterator[RequestContext]:
    """The policy, stores, settings and ledger the flow run's tasks share (tasks/shared.py)."""
    with shared_resources(policy_path) as shared:
        yield RequestContext(shared.policy, shared.stores, shared.settings, shared.ledger)


def _answered(kind: str, action: Callable[[], T]) -> T | dict[str, Any]:
    """Run ``action``; turn "nobody / several / held" into a recorded outcome instead of a failure."""
    try:
        return action()
    except ErasureBlockedError as exc:
        get_run_logger().warning("%s refused: %s", kind, exc)
        return {"outcome": "blocked", "reason": str(exc)}
    except SubjectError as exc:
        # The messages name the subject kind and the columns searched, never the identifier.
        outcome = "ambiguous" if isinstance(exc, AmbiguousSubjectError) else "not-found"
        get_run_logger().warning("%s: %s", kind, exc)
        return {"outcome": outcome, "reason": str(exc)}


def _run_id() -> str:
    from prefect.runtime import flow_run

    return str(flow_run.get_id() or uuid.uuid4())


def _subject(ctx: RequestContext, identifier: str, request_id: str | None) -> str:
    """The identifier typed, else (a run continuing a request by reference) the key sealed for it."""
    if identifier.strip() or request_id is None:
        return identifier.strip()
    return recall_subject(ctx.settings, request_id)


@task(name="register-request", cache_policy=NO_CACHE, persist_result=False)
def register_task(
    policy_path: str,
    subject: str,
    identifier: str,
    request_type: str,
    received: datetime | None,
    request_id: str | None,
) -> dict[str, Any]:
    """Resolve the subject and return its open request's reference (registered when new), or the outcome
    when nobody or several subjects match (recorded; its reference when the register has one)."""
    with request_context(policy_path) as ctx:
        try:
            ref = register_request(
                ctx.policy, ctx.stores, ctx.settings, subject, identifier, request_type=request_type,
                ledger=ctx.ledger, run_id=_run_id(), flow=request_type, received_at=received,
                request_id=request_id,
            )  # fmt: skip
        except SubjectError as exc:
            outcome = "ambiguous" if isinstance(exc, AmbiguousSubjectError) else "not-found"
            get_run_logger().warning("%s request: %s", request_type, exc)
            return {"outcome": outcome, "request": exc.request_id or request_id, "reason": str(exc)}
    return {"outcome": "registered", "request": ref}


@task(name="forget-closed-request", cache_policy=NO_CACHE, persist_result=False)
def forget_closed_task(request_id: str) -> bool:
    """Delete the sealed key of a request that is closed now; True when it was closed."""
    settings = load_settings()
    if get_request(state_engine(settings), request_id).status == "open":
        return False
    forget_subject(settings, request_id)
    return True


@task(name="replace-parameters", cache_policy=NO_CACHE, persist_result=False)
def replace_parameters_task(
    kind: str, request_id: str | None, identifier: str, replaced: Mapping[str, Any]
) -> int:
    """D-2: put ``replaced`` (the reference, blanks) into this run's parameters, and into those of earlier
    runs of the same flow that named the same identifier or request; name this run from the reference.

    Returns how many runs were rewritten. Outside a Prefect run (no run id) there is nothing to rewrite.
    """
    from prefect import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterId
    from prefect.client.schemas.sorting import FlowRunSort
    from prefect.runtime import flow_run

    run_id = flow_run.get_id()
    if run_id is None:
        return 0
    typed = identifier.strip().casefold()

    def same_request(parameters: Mapping[str, Any]) -> bool:
        named = str(parameters.get("subject_id") or "").strip().casefold()
        return bool(typed and named == typed) or bool(
            request_id and parameters.get("request_id") == request_id
        )

    rewritten = 0
    with get_client(sync_client=True) as client:
        me = client.read_flow_run(uuid.UUID(str(run_id)))
        earlier = client.read_flow_runs(
            flow_filter=FlowFilter(id=FlowFilterId(any_=[me.flow_id])),
            sort=FlowRunSort.EXPECTED_START_TIME_DESC,
            limit=200,
        )
        for run in [me, *(r for r in earlier if r.id != me.id and same_request(r.parameters))]:
            name = f"{kind}-{request_id}" if run.id == me.id and request_id else None
            client.update_flow_run(run.id, parameters={**run.parameters, **replaced}, name=name)
            rewritten += 1
    get_run_logger().info("parameters replaced by the request's reference in %d run(s)", rewritten)
    return rewritten


@task(name="export-subject", cache_policy=NO_CACHE, persist_result=False)
def export_task(
    policy_path: str,
    subject: str,
    identifier: str,
    out_dir: str,
    passphrase_secret: str | None,
    received: datetime | None,
    request_type: str = "access",
    request_id: str | None = None,
) -> dict[str, Any]:
    """Deliver the subject's export to ``out_dir`` (empty: LETHE_EXPORT_DESTINATION, a folder or a URL);
    return its location, size, SHA-256, due date, expiry and row counts."""
    from datetime import timedelta

    from lethe.requests.export.destination import Destination

    # The passphrase is read here, from its Secret block, so it never travels as a flow or task argument.
    passphrase = None
    if passphrase_secret:
        from prefect.blocks.system import Secret

        # Called from a synchronous task, Block.load returns the block (its type says "maybe a coroutine").
        secret: Any = Secret.load(passphrase_secret)
        passphrase = str(secret.get())
    with request_context(policy_path) as ctx:
        settings = ctx.settings
        target = out_dir.strip() or settings.export_destination
        destination = Destination(target, settings.export_storage_options)

        def run() -> dict[str, Any]:
            result = export_subject(
                ctx.policy, ctx.stores, subject, _subject(ctx, identifier, request_id), destination,
                settings=settings, ledger=ctx.ledger, run_id=_run_id(), passphrase=passphrase,
                request_type=request_type, request_id=request_id, received_at=received,
            )  # fmt: skip
            expires = datetime.now(UTC) + timedelta(days=settings.export_retention_days)
            return {
                "outcome": "completed",
                "request": result.request_id,
                "file": result.file_name,
                "location": result.location,
                "bytes": result.size,
                "sha256": result.sha256,
                "encrypted": result.encrypted,
                "due": result.due,
                "expires": expires.date().isoformat(),
                "rows": dict(result.counts),
            }

        return _answered("export", run)


@task(name="erase-subject", cache_policy=NO_CACHE, persist_result=False)
def erase_task(
    policy_path: str,
    subject: str,
    identifier: str,
    dry_run: bool,
    received: datetime | None,
    request_id: str | None = None,
) -> dict[str, Any]:
    """Erase (or plan erasing) the subject; return the receipt's counts and reasons."""
    with request_context(policy_path) as ctx:

        def run() -> dict[str, Any]:
            receipt = erase_subject(
                ctx.policy, ctx.stores, ctx.settings, subject, _subject(ctx, identifier, request_id),
                ledger=ctx.ledger, run_id=_run_id(), dry_run=dry_run, received_at=received,
                request_id=request_id,
            )  # fmt: skip
            tables = {
                t.table: f"{t.action} {t.rows} row(s)" + (f": {t.reason}" if t.reason else "")
                for t in receipt.tables
            }
            return {
                "outcome": receipt.outcome,
                "verified": receipt.verified,
                "request": receipt.request_id or request_id,
                "tables": tables,
                "plan": [[t.table, t.action, t.rows, t.reason or ""] for t in receipt.tables],
            }

        return _answered("erasure", run)


@task(name="erase-subjects", cache_policy=NO_CACHE, persist_result=False)
def erase_queue_task(
    policy_path: str,
    subject: str,
    queue: Sequence[tuple[int, str]],
    dry_run: bool,
    received: datetime | None,
) -> dict[str, Any]:
    """Erase (or plan erasing) a queue of (position, identifier), each alone; return counts per outcome and,
    per position, its outcome, key fingerprint and request (never an identifier)."""
    with request_context(policy_path) as ctx:
        summary = erase_queue(
            ctx.policy, ctx.stores, ctx.settings, subject, [i for _, i in queue], lines=[n for n, _ in queue],
            ledger=ctx.ledger, run_id=_run_id(), dry_run=dry_run, received_at=received,
        )  # fmt: skip
    if summary.refused or summary.failed:
        get_run_logger().warning(
            "erasure queue: %d refused, %d failed of %d", summary.refused, summary.failed, len(summary.items)
        )
    outcome = "dry-run" if dry_run else "completed" if not (summary.refused or summary.failed) else "partial"
    return {
        "outcome": outcome,
        "subjects": len(summary.items),
        "counts": summary.counts,
        "queue": {
            str(item.line): f"{item.outcome} {item.key_fingerprint or '-'} {item.request_id or ''}".strip()
            for item in summary.items
        },
    }


@task(name="rectify-subject", cache_policy=NO_CACHE, persist_result=False)
def rectify_task(
    policy_path: str,
    subject: str,
    identifier: str,
    changes: Mapping[str, str | None],
    received: datetime | None,
    request_id: str | None = None,
) -> dict[str, Any]:
    """Update the subject's declared columns; return the names of the columns changed."""
    with request_context(policy_path) as ctx:

        def run() -> dict[str, Any]:
            result = rectify_subject(
                ctx.policy, ctx.stores, ctx.settings, subject, _subject(ctx, identifier, request_id), changes,
                ledger=ctx.ledger, run_id=_run_id(), received_at=received, request_id=request_id,
            )  # fmt: skip
            return {
                "outcome": result.outcome,
                "columns": sorted(changes),
                "rows": result.rows,
                "request": result.request_id,
            }

        return _answered("rectification", run)


@task(name="restrict-subject", cache_policy=NO_CACHE, persist_result=False)
def restrict_task(
    policy_path: str,
    subject: str,
    identifier: str,
    ground: str,
    activities: Sequence[str],
    objection: bool,
    lift: bool,
    received: datetime | None,
    request_id: str | None = None,
) -> dict[str, Any]:
    """Register (or lift) a restriction or objection; return how many register entries changed."""
    with request_context(policy_path) as ctx:

        def run() -> dict[str, Any]:
            if lift:
                result = lift_restriction(
                    ctx.policy,
                    ctx.stores,
                    ctx.settings,
                    subject,
                    _subject(ctx, identifier, request_id),
                    ledger=ctx.ledger,
                    run_id=_run_id(),
                )
            else:
                result = restrict_subject(
                    ctx.policy, ctx.stores, ctx.settings, subject, _subject(ctx, identifier, request_id),
                    ground=ground,
                    activities=activities, objection=objection, ledger=ctx.ledger, run_id=_run_id(),
                    received_at=received, request_id=request_id,
                )  # fmt: skip
            return {
                "outcome": "lifted" if lift else "completed",
                "entries": result.entries,
                "request": result.request_id,
            }

        return _answered("restriction", run)


@task(name="record-decision", cache_policy=NO_CACHE, persist_result=False)
def record_decision_task(
    policy_path: str, kind: str, request_id: str, approved: bool, reason: str, asked_at: datetime
) -> None:
    """Record an operator's answer to an approval in the ledger; a rejection is noted on the open request."""
    from lethe.ledger.entry import LedgerEntry
    from lethe.requests.register import note_request

    with request_context(policy_path) as ctx:
        ctx.ledger.append(
            LedgerEntry(
                run_id=_run_id(), flow=kind, policy_hash=ctx.policy.hash, action=f"{kind}.approval",
                outcome="approved" if approved else "rejected", started_at=asked_at,
                ended_at=datetime.now(UTC), details={"request": request_id, "reason": reason},
            )
        )  # fmt: skip
        if not approved and request_id:  # a queue has no single request to note it on
            note_request(state_engine(ctx.settings), request_id, f"not approved: {reason}; still open"[:480])


@task(name="publish-request-outcome", cache_policy=NO_CACHE, persist_result=False)
def publish_outcome_task(kind: str, outcome: Mapping[str, Any]) -> None:
    """A Markdown artifact of the outcome: counts, file names and reasons, never values.

    Keyed per request (``<kind>-<reference>``), so that one request's card never hides another's.
    """
    lines = [f"## {kind}: {outcome.get('outcome')}", ""]
    if outcome.get("warning"):
        lines += [f"> **Warning: {outcome['warning']}**", ""]
    for key, value in outcome.items():
        if key in {"outcome", "plan", "warning"}:
            continue
        if isinstance(value, Mapping):
            lines += [f"- **{key}**:"] + [f"  - {k}: {v}" for k, v in value.items()]
        else:
            lines.append(f"- **{key}**: {value}")
    reference = outcome.get("request")
    create_markdown_artifact(
        "\n".join(lines),
        key=f"{kind}-{reference}".lower() if reference else None,
        description=f"{kind} request outcome",
    )


# ------------------------------------------------------------------------------ flow-level helpers (no tasks)

# The state each outcome ends a request flow in: its Prefect type and the name the UI shows. A request that
# was answered (done, refused on a legal hold, nobody found) completes; one an operator did not approve is
# cancelled: nothing changed and the request is still open. docs/flows.md lists them.
STATES: dict[str, tuple[str, str]] = {
    "export:completed": ("COMPLETED", "Exported"),
    "erasure:completed": ("COMPLETED", "Erased"),
    "erasure:completed-earlier": ("COMPLETED", "Erased"),
    "erasure:dry-run": ("COMPLETED", "Dry run"),
    "erasure:blocked": ("COMPLETED", "Refused: legal hold"),
    "rectification:completed": ("COMPLETED", "Rectified"),
    "restriction:completed": ("COMPLETED", "Restricted"),
    "restriction:lifted": ("COMPLETED", "Lifted"),
    "not-found": ("COMPLETED", "Not found"),
    "ambiguous": ("COMPLETED", "Refused: ambiguous"),
    "blocked": ("COMPLETED", "Refused: legal hold"),
    "not-approved": ("CANCELLED", "Not approved"),
    "erasure:partial": ("COMPLETED", "Partly refused"),
    "cancelled": ("CANCELLED", "Not approved"),
}


UNENCRYPTED_WARNING = (
    "NOT ENCRYPTED: this export holds personal data in clear; deliver it over a secure channel"
)


def outcome_state(kind: str, outcome: Mapping[str, Any]) -> Any:
    """The final state of a request flow for ``outcome`` (see ``STATES``), its data the outcome itself.

    The message names the request's reference and the outcome, never a value.
    """
    from prefect.states import Cancelled, Completed

    name = str(outcome.get("outcome"))
    type_, label = STATES.get(f"{kind}:{name}") or STATES.get(name) or ("COMPLETED", name.capitalize())
    message = f"{kind} request {outcome.get('request') or '(none)'}: {name}"
    if outcome.get("warning"):
        message += f" ({outcome['warning']})"
    make = Cancelled if type_ == "CANCELLED" else Completed
    if type_ == "CANCELLED":
        from prefect.runtime import flow_run

        # A flow that returns a Cancelled state runs no on_cancellation hook: close what its tasks shared here.
        if (run_id := flow_run.get_id()) is not None:
            close_shared(str(run_id))
    return make(name=label, message=message, data=dict(outcome))


def begin_request(
    kind: str,
    policy: str,
    subject_type: str,
    subject_id: str,
    request_type: str,
    received: datetime | None,
    request_id: str,
    blanks: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Register the request (or check the one ``request_id`` names), then replace the identifier in the
    run's parameters by the reference (D-2). Called from a flow; returns ``register_task``'s answer."""
    if not subject_id.strip() and not request_id.strip():
        raise ValueError(
            "give subject_id (the subject's identifier) or request_id (the reference of its open request)"
        )
    try:
        registered = register_task(
            policy, subject_type, subject_id, request_type, received, request_id.strip() or None
        )
    except BaseException:
        # D-2 holds on failure too (store or ledger down, a bad policy): the identifier leaves the parameters.
        replace_parameters_task(
            kind, request_id.strip() or None, subject_id, {"subject_id": "", **(blanks or {})}
        )
        raise
    reference = registered.get("request") or ""
    replace_parameters_task(
        kind, reference or None, subject_id, {"subject_id": "", "request_id": reference, **(blanks or {})}
    )
    return registered
