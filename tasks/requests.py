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
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from pydantic import Field

from lethe.errors import AmbiguousSubjectError, SubjectError
from lethe.ledger.chain import Ledger
from lethe.policy.loading import load_policy
from lethe.policy.model import Policy
from lethe.requests.erasure.erase import ErasureBlockedError, erase_subject
from lethe.requests.erasure.queue import erase_queue
from lethe.requests.export.archive import export_subject
from lethe.requests.rectification import lift_restriction, rectify_subject, restrict_subject
from lethe.settings import Settings, load_settings
from lethe.stores.engines import Stores

T = TypeVar("T")
# How every request form asks for the subject: the key or a lookup value, never blank.
SubjectId = Annotated[str, Field(min_length=1, max_length=320)]


@dataclass
class RequestContext:
    """What every request task opens: policy, stores, settings, ledger."""

    policy: Policy
    stores: Stores
    settings: Settings
    ledger: Ledger


@contextmanager
def request_context(policy_path: str) -> Iterator[RequestContext]:
    """Load the policy and open its stores and the ledger for one task."""
    policy = load_policy(policy_path)
    settings = load_settings()
    with Stores(policy) as stores:
        yield RequestContext(policy, stores, settings, Ledger.from_settings(settings))


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
    """Write the subject's export zip into ``out_dir``; return its file name and row counts."""
    # The passphrase is read here, from its Secret block, so it never travels as a flow or task argument.
    passphrase = None
    if passphrase_secret:
        from prefect.blocks.system import Secret

        # Called from a synchronous task, Block.load returns the block (its type says "maybe a coroutine").
        secret: Any = Secret.load(passphrase_secret)
        passphrase = str(secret.get())
    with request_context(policy_path) as ctx:

        def run() -> dict[str, Any]:
            result = export_subject(
                ctx.policy, ctx.stores, subject, identifier, Path(out_dir),
                settings=ctx.settings, ledger=ctx.ledger, run_id=_run_id(), passphrase=passphrase,
                request_type=request_type, request_id=request_id, received_at=received,
            )  # fmt: skip
            return {
                "outcome": "completed",
                "request": result.request_id,
                "file": result.file_name,
                "rows": dict(result.counts),
                "encrypted": result.encrypted,
                "sha256": result.sha256,
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
                ctx.policy, ctx.stores, ctx.settings, subject, identifier,
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
                "request": receipt.request_id,
                "tables": tables,
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
                ctx.policy, ctx.stores, ctx.settings, subject, identifier, changes,
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
                    identifier,
                    ledger=ctx.ledger,
                    run_id=_run_id(),
                )
            else:
                result = restrict_subject(
                    ctx.policy, ctx.stores, ctx.settings, subject, identifier, ground=ground,
                    activities=activities, objection=objection, ledger=ctx.ledger, run_id=_run_id(),
                    received_at=received, request_id=request_id,
                )  # fmt: skip
            return {
                "outcome": "lifted" if lift else "completed",
                "entries": result.entries,
                "request": result.request_id,
            }

        return _answered("restriction", run)


@task(name="publish-request-outcome", cache_policy=NO_CACHE, persist_result=False)
def publish_outcome_task(kind: str, outcome: Mapping[str, Any]) -> None:
    """A Markdown artifact of the outcome: counts, file names and reasons, never values."""
    lines = [f"## {kind}: {outcome.get('outcome')}", ""]
    for key, value in outcome.items():
        if key == "outcome":
            continue
        if isinstance(value, Mapping):
            lines += [f"- **{key}**:"] + [f"  - {k}: {v}" for k, v in value.items()]
        else:
            lines.append(f"- **{key}**: {value}")
    create_markdown_artifact("\n".join(lines), key=f"request-{kind}", description=f"{kind} request outcome")
