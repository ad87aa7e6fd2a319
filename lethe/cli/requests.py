"""``lethe erase|rectify|restrict|unrestrict|requests``: data-subject requests from the command line.

Every command that changes data shows what it will do first and asks for confirmation on a terminal
(``--yes`` skips it; without a terminal and without ``--yes`` it refuses). An unknown subject exits 2 with
a recorded "not found" outcome, an ambiguous identifier exits 2 refused, a legal hold exits 2 naming the
flag and Art. 17(3)(e). Nothing printed or recorded holds a personal value: subjects appear as keyed
fingerprints, rectifications as column names.
"""

from __future__ import annotations

import sys
import uuid
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import click

from lethe.cli.common import emit_json, handle_errors
from lethe.cli.common import parse_instant as parse_option_instant
from lethe.errors import LetheError, ParameterError
from lethe.ledger.chain import Ledger
from lethe.policy.loading import load_policy
from lethe.policy.model import Policy
from lethe.requests.erasure.erase import ErasureBlockedError, ErasurePlan, ErasureReceipt, erase_subject
from lethe.requests.erasure.plan import prepare_erasure
from lethe.requests.erasure.queue import QueueItem, erase_queue, read_subjects_file
from lethe.requests.evidence import COMPLETED_EARLIER
from lethe.requests.rectification import lift_restriction, rectify_subject, restrict_subject
from lethe.requests.register import (
    DEFAULT_DUE_SOON_DAYS,
    RequestError,
    RequestRecord,
    list_requests,
    state_engine,
)
from lethe.requests.restriction import GROUNDS
from lethe.settings import load_settings
from lethe.stores.engines import Stores

_policy = click.option(
    "--policy",
    "policy_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Policy file.",
)
_kind = click.option(
    "--subject-type", "subject_type", help="Kind of subject (default: the policy's only one)."
)
_subject = click.option("--subject", "identifier", required=True, help="The subject's key or a lookup value.")
_received = click.option(
    "--received", help="When the request was received (ISO 8601 date or instant); default now."
)
_request = click.option(
    "--request",
    "request_id",
    metavar="ID",
    help="Continue this open request (an id `lethe requests` lists); default: the subject's open request "
    "of the same type, else a new one.",
)
_yes = click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
_json = click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")


def subject_kind(policy: Policy, given: str | None) -> str:
    """``--subject-type``, or the policy's only kind of subject."""
    if given:
        return given
    if len(policy.subjects) == 1:
        return next(iter(policy.subjects))
    raise LetheError(
        f"--subject-type is needed: the policy defines {', '.join(sorted(policy.subjects)) or 'none'}"
    )


def parse_instant(text: str | None, option: str = "--received") -> datetime | None:
    """``--received`` (never later than now) or ``--now``: see ``lethe.cli.common.parse_instant``."""
    return parse_option_instant(text, option, allow_future=option != "--received")


def _confirmed(question: str, yes: bool) -> bool:
    """True with --yes, or when the person at the terminal agrees; refuses without a terminal."""
    if yes:
        return True
    if not sys.stdin.isatty():
        raise LetheError("refusing to change data without confirmation: run on a terminal or pass --yes")
    return click.confirm(question, default=False)


def print_plan(plan: ErasurePlan | ErasureReceipt, title: str) -> None:
    """Per table: action, rows and reason; detached rows; blocking holds."""
    click.echo(f"{title} for {plan.subject} {plan.key_fingerprint}")
    click.echo(f"  {'table':32} {'action':10} {'rows':>7}  reason")
    for t in plan.tables:
        columns = f" [{', '.join(t.columns)}]" if t.columns else ""
        click.echo(f"  {t.table:32} {t.action:10} {t.rows:>7,}  {t.reason or '-'}{columns}")
    for table, n in plan.detached.items():
        click.echo(f"  + {table}: {n:,} row(s) detached (their key to a deleted row becomes NULL)")
    for hold in plan.blocked:
        click.echo(click.style(f"  blocked: {hold.flag} is set ({hold.reason})", fg="red"))


def print_receipt(receipt: ErasureReceipt) -> None:
    """The receipt: what was erased, kept and why, verification, request and run."""
    print_plan(receipt, "erasure receipt")
    for check in receipt.checks:
        click.echo(f"  verified: {check}")
    click.echo(
        f"request {receipt.request_id}, run {receipt.run_id}: {receipt.outcome}, recorded in the ledger"
    )


def print_earlier(request_id: str | None, run_id: str, notes: tuple[str, ...]) -> None:
    """A retry of a change made earlier (e.g. by a run killed before its ledger copy): nothing changes now."""
    for note in notes:
        click.echo(f"  {note}")
    click.echo(
        f"request {request_id or '-'}, run {run_id}: completed earlier; its evidence is in the ledger "
        "and nothing was changed now"
    )


@click.command(short_help="Erase a data subject, or a queue of them (Art. 17)")
@_policy
@_kind
@click.option("--subject", "identifier", help="The subject's key or a lookup value.")
@click.option(
    "--subjects-file",
    "subjects_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A queue: a UTF-8 file with one identifier per line (blank lines skipped), all of --subject-type.",
)
@click.option("--dry-run", is_flag=True, help="Only show (and record) what would be done.")
@_yes
@_received
@_request
@_json
@handle_errors
def erase(
    policy_path: Path,
    subject_type: str | None,
    identifier: str | None,
    subjects_file: Path | None,
    dry_run: bool,
    yes: bool,
    received: str | None,
    request_id: str | None,
    as_json: bool,
) -> None:
    """Erase a subject (Art. 17): delete or anonymise per table as the policy says, verify, record.

    Shows the plan first. Exit 2 when the subject is not found, the identifier is ambiguous or a hold flag
    blocks the erasure; 5 when verification fails (the change is rolled back).

    With --subjects-file, a queue in one run: the file is checked whole before anything changes (a line
    with a comma, tab or control character, an over-long or repeated line, or no identifier at all is
    refused), then each subject is erased in its own transactions; one refused (hold, not found, ambiguous)
    or failed does not stop the others. Prints one line per subject (its line number, outcome, key
    fingerprint and request; never an identifier) and the counts per outcome. Exit 0 when all were erased,
    2 when some were refused, 3 when a store failed for some, 5 when a verification failed for some (the
    highest applies).
    """
    if (identifier is None) == (subjects_file is None):
        raise ParameterError("give either --subject or --subjects-file")
    if subjects_file is not None:
        if request_id is not None:
            raise ParameterError("--request names one request: it does not go with --subjects-file")
        _erase_queue(policy_path, subject_type, subjects_file, dry_run, yes, received, as_json)
        return
    assert identifier is not None  # checked above, for the type checker
    policy = load_policy(policy_path)
    settings = load_settings()
    settings.require_master_key()
    ledger = Ledger.from_settings(settings)
    kind = subject_kind(policy, subject_type)
    refused: list[bool] = []

    def confirm(plan: ErasurePlan) -> bool:
        if not as_json:
            print_plan(plan, "erasure plan")
        if yes or sys.stdin.isatty():
            return _confirmed(f"erase this {kind}?", yes)
        refused.append(True)
        return False

    with Stores(policy) as stores:
        setup = prepare_erasure(policy, stores, settings, kind)
        try:
            receipt = erase_subject(
                policy, stores, settings, kind, identifier, ledger=ledger, run_id=str(uuid.uuid4()),
                dry_run=dry_run, confirm=confirm, received_at=parse_instant(received), setup=setup,
                request_id=request_id,
            )  # fmt: skip
        except ErasureBlockedError as exc:
            if exc.plan is not None and not as_json:
                print_plan(exc.plan, "erasure plan")
            raise
    if refused:
        raise LetheError("refusing to change data without confirmation: run on a terminal or pass --yes")
    if as_json:
        emit_json(receipt)
    elif receipt.dry_run:
        print_plan(receipt, "erasure plan (dry run)")
        click.echo("nothing has been changed")
    elif receipt.outcome == "cancelled":
        click.echo("cancelled: nothing has been changed")
        sys.exit(1)
    elif receipt.outcome == COMPLETED_EARLIER:
        print_plan(receipt, "erasure completed earlier")
        print_earlier(receipt.request_id, receipt.run_id, receipt.checks)
    else:
        print_receipt(receipt)


def _erase_queue(
    policy_path: Path,
    subject_type: str | None,
    subjects_file: Path,
    dry_run: bool,
    yes: bool,
    received: str | None,
    as_json: bool,
) -> None:
    """``lethe erase --subjects-file``: see ``erase``."""
    queue = read_subjects_file(subjects_file)  # refused here, before anything is opened or changed
    received_at = parse_instant(received)
    policy = load_policy(policy_path)
    settings = load_settings()
    settings.require_master_key()
    kind = subject_kind(policy, subject_type)
    if not dry_run and not _confirmed(f"erase {len(queue):,} {kind}(s) of {subjects_file.name}?", yes):
        click.echo("cancelled: nothing has been changed")
        sys.exit(1)

    def progress(item: QueueItem) -> None:
        if not as_json:
            detail = item.reason or f"request {item.request_id or '-'}"
            click.echo(f"  line {item.line:>6}: {item.outcome:17} {item.key_fingerprint or '-':35} {detail}")

    with Stores(policy) as stores:
        summary = erase_queue(
            policy, stores, settings, kind, [i for _, i in queue], lines=[n for n, _ in queue],
            ledger=Ledger.from_settings(settings), run_id=str(uuid.uuid4()), dry_run=dry_run,
            received_at=received_at, progress=progress,
        )  # fmt: skip
    if as_json:
        emit_json({**asdict(summary), "refused": summary.refused, "failed": summary.failed})
    else:
        counts = ", ".join(f"{n:,} {outcome}" for outcome, n in summary.counts.items())
        what = "planned (dry run, nothing changed)" if dry_run else "handled"
        click.echo(
            f"{len(summary.items):,} {kind}(s) {what}: {counts}; run {summary.run_id}, recorded in the ledger"
        )
    if summary.exit_code:
        sys.exit(summary.exit_code)


def _changes(values: tuple[str, ...]) -> dict[str, str]:
    changes: dict[str, str] = {}
    for item in values:
        column, sep, value = item.partition("=")
        if not sep or not column.strip():
            raise LetheError("--set takes column=value (an empty value sets NULL)")
        if column.strip() in changes:
            raise LetheError(f"--set {column.strip()} given twice")
        changes[column.strip()] = value
    return changes


@click.command(short_help="Rectify a data subject's data (Art. 16)")
@_policy
@_kind
@_subject
@click.option(
    "--set", "sets", multiple=True, required=True, metavar="COLUMN=VALUE", help="New value (repeatable)."
)
@_yes
@_received
@_request
@_json
@handle_errors
def rectify(
    policy_path: Path,
    subject_type: str | None,
    identifier: str,
    sets: tuple[str, ...],
    yes: bool,
    received: str | None,
    request_id: str | None,
    as_json: bool,
) -> None:
    """Rectify a subject (Art. 16): update columns the policy opens to rectification.

    The ledger records which columns changed, never their old or new values.
    """
    policy = load_policy(policy_path)
    settings = load_settings()
    settings.require_master_key()
    changes = _changes(sets)
    kind = subject_kind(policy, subject_type)
    if not _confirmed(f"update {', '.join(sorted(changes))} of this {kind}?", yes):
        click.echo("cancelled: nothing has been changed")
        sys.exit(1)
    with Stores(policy) as stores:
        result = rectify_subject(
            policy, stores, settings, kind, identifier, changes, ledger=Ledger.from_settings(settings),
            run_id=str(uuid.uuid4()), received_at=parse_instant(received), request_id=request_id,
        )  # fmt: skip
    if as_json:
        emit_json(result)
    elif result.outcome == COMPLETED_EARLIER:
        print_earlier(result.request_id, result.run_id, (f"rectified {', '.join(result.columns)} earlier",))
    else:
        click.echo(f"rectified {', '.join(result.columns)} of {kind} {result.key_fingerprint}")
        click.echo(f"request {result.request_id}, run {result.run_id}: recorded in the ledger")


def _lift(policy_path: Path, subject_type: str | None, identifier: str, as_json: bool) -> None:
    policy = load_policy(policy_path)
    settings = load_settings()
    settings.require_master_key()
    kind = subject_kind(policy, subject_type)
    with Stores(policy) as stores:
        result = lift_restriction(
            policy,
            stores,
            settings,
            kind,
            identifier,
            ledger=Ledger.from_settings(settings),
            run_id=str(uuid.uuid4()),
        )
    if as_json:
        emit_json(result)
    else:
        click.echo(f"lifted {result.entries} restriction(s) of {kind} {result.key_fingerprint}")


@click.command(short_help="Restrict processing (Art. 18) or object (Art. 21)")
@_policy
@_kind
@_subject
@click.option(
    "--ground", type=click.Choice(sorted(GROUNDS)), help="Legal ground of the restriction or objection."
)
@click.option("--activity", "activities", multiple=True, help="Only this activity (repeatable); default all.")
@click.option("--objection", is_flag=True, help="An objection (Art. 21) rather than a restriction (Art. 18).")
@click.option("--lift", is_flag=True, help="End the subject's restrictions and objections instead.")
@_received
@_request
@_json
@handle_errors
def restrict(
    policy_path: Path,
    subject_type: str | None,
    identifier: str,
    ground: str | None,
    activities: tuple[str, ...],
    objection: bool,
    lift: bool,
    received: str | None,
    request_id: str | None,
    as_json: bool,
) -> None:
    """Restrict processing of a subject (Art. 18) or register an objection (Art. 21).

    Flows and exports that respect restriction then leave the subject out; retention and erasure still
    apply. --lift ends every active entry (Art. 18(3): tell the subject before).
    """
    if lift:
        if request_id is not None:
            raise RequestError("--request does not go with --lift: lifting answers no request of the subject")
        _lift(policy_path, subject_type, identifier, as_json)
        return
    if ground is None:
        raise LetheError(f"--ground is needed: one of {', '.join(sorted(GROUNDS))}")
    policy = load_policy(policy_path)
    settings = load_settings()
    settings.require_master_key()
    kind = subject_kind(policy, subject_type)
    with Stores(policy) as stores:
        result = restrict_subject(
            policy, stores, settings, kind, identifier, ground=ground, activities=activities,
            objection=objection, ledger=Ledger.from_settings(settings), run_id=str(uuid.uuid4()),
            received_at=parse_instant(received), request_id=request_id,
        )  # fmt: skip
    if as_json:
        emit_json(result)
    else:
        scope = ", ".join(result.activities) or "every activity that respects restriction"
        click.echo(
            f"{result.kind} registered for {kind} {result.key_fingerprint}: {scope} ({GROUNDS[ground]})"
        )
        click.echo(f"request {result.request_id}, run {result.run_id}: recorded in the ledger")


@click.command(short_help="Lift a subject's restrictions and objections")
@_policy
@_kind
@_subject
@_json
@handle_errors
def unrestrict(policy_path: Path, subject_type: str | None, identifier: str, as_json: bool) -> None:
    """End a subject's restrictions and objections (same as ``restrict --lift``)."""
    _lift(policy_path, subject_type, identifier, as_json)


def _rows(title: str, records: list[RequestRecord], now: datetime) -> None:
    click.echo(f"{title} ({len(records)})")
    for r in records:
        days = (r.due_at - now).total_seconds() / 86400
        when = f"{-days:.0f} day(s) late" if days < 0 else f"{days:.0f} day(s) left"
        click.echo(
            f"  {r.id}  {r.type:13} {r.subject:12} received {r.received_at:%Y-%m-%d}  "
            f"due {r.due_at:%Y-%m-%d} ({when})  {r.outcome or ''}"
        )


@click.group(
    "requests", invoke_without_command=True, short_help="List open data-subject requests and their deadlines"
)
@click.option(
    "--policy", "policy_path", type=click.Path(dir_okay=False, path_type=Path), help="Only its subjects."
)
@click.option(
    "--due-soon-days", default=DEFAULT_DUE_SOON_DAYS, show_default=True, type=click.IntRange(0, 365)
)
@click.option("--now", "now_text", help="Judge due dates at this instant (ISO 8601); default now.")
@_json
@handle_errors
@click.pass_context
def requests(
    ctx: click.Context, policy_path: Path | None, due_soon_days: int, now_text: str | None, as_json: bool
) -> None:
    """List open data-subject requests: overdue, due soon, open (Art. 12(3): one month).

    `lethe requests extend ID --reason ...` extends one by two months (Art. 12(3)).
    """
    if ctx.invoked_subcommand is not None:
        return
    subjects = list(load_policy(policy_path).subjects) if policy_path else None
    now = parse_instant(now_text, "--now") or datetime.now(UTC)
    engine = state_engine(load_settings())
    try:
        overview = list_requests(engine, now, due_soon_days, subjects=subjects)
    finally:
        engine.dispose()
    if as_json:
        emit_json(overview)
        return
    _rows("overdue", overview.overdue, now)
    _rows(f"due within {due_soon_days} days", overview.due_soon, now)
    _rows("open", overview.open, now)


@requests.command("extend", short_help="Extend a request's deadline by two months (Art. 12(3))")
@click.argument("request_id", metavar="ID")
@click.option("--reason", required=True, help="Why (complexity, number of requests); told to the subject.")
@_json
@handle_errors
def extend(request_id: str, reason: str, as_json: bool) -> None:
    """Extend the open request ID by two further months (Art. 12(3)) and record it in the ledger.

    The subject must be told of the extension and its reasons by the original due date, which is printed.
    """
    from lethe.requests.extension import extend_request

    settings = load_settings()
    engine = state_engine(settings)
    try:
        extended = extend_request(
            engine, request_id, reason, ledger=Ledger.from_settings(settings), run_id=f"cli-{uuid.uuid4()}"
        )
    finally:
        engine.dispose()
    if as_json:
        emit_json(extended)
        return
    click.echo(
        f"request {extended.request_id}: due {extended.due:%Y-%m-%d} (was {extended.previous_due:%Y-%m-%d}); "
        f"tell the subject of the extension and its reasons by {extended.tell_by:%Y-%m-%d}; recorded in the ledger"
    )
