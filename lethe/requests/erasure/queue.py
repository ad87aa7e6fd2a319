"""A queue of erasures (Art. 17) in one run: many subjects of one kind, each in its own transaction.

``read_subjects_file`` reads the queue: a UTF-8 text file with one identifier per line (the subject's key
or a lookup value such as the email, as ``lethe erase --subject`` takes it), surrounding whitespace stripped,
blank lines skipped. The whole file is checked before anything changes, and refused (``ParameterError``,
naming line numbers, never a value) when it is not UTF-8, holds no identifier, a line holds a control
character, a tab or a comma (a CSV export given by mistake), is longer than ``MAX_IDENTIFIER`` characters,
or repeats an earlier line. All subjects are of one kind (``--subject-type``).

``erase_queue`` prepares once for the whole queue (policy checks, reflection and the subject graph:
``prepare_erasure``; the ledger's writability and the recovery of what an interrupted run journalled:
``evidence.GroupCopy``), then works through the queue a chunk (``CHUNK``) at a time: it finds the chunk's
subjects in clear and opens (or continues) their requests in one register transaction
(``tracking.RegisterBatch``), then erases each subject with ``erase_subject``: its own store transactions,
journal row (with the keyed leaves of the keys it changed) and receipt, as one ``lethe erase`` would; its
request is closed with the next group copy. A subject refused (a hold flag, nobody found, an
ambiguous identifier) or failed (rolled back, or committed but not verified, or a store error) is recorded
as such and the queue goes on with the next one. The journal rows of completed erasures are copied into the
ledger in groups (every ``GROUP_SECONDS`` and at the end). An error that concerns the whole run (the ledger,
settings, the policy against the schema) stops the queue after copying what was committed.

The summary holds per subject its line, outcome, the keyed fingerprint of its key and its request, and the
counts per outcome: never an identifier.
"""

from __future__ import annotations

import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from lethe.errors import (
    AmbiguousSubjectError,
    LetheError,
    ParameterError,
    StoreError,
    SubjectError,
    VerificationError,
)
from lethe.ledger.chain import Ledger
from lethe.policy.model import Policy
from lethe.requests.erasure.apply import ErasureBlockedError
from lethe.requests.erasure.erase import UnverifiedErasureError, erase_subject
from lethe.requests.erasure.plan import ERASURE_FLOW, ErasureSetup, prepare_erasure, resolve_key
from lethe.requests.evidence import GROUP_SECONDS, GroupCopy
from lethe.requests.register import type_name
from lethe.requests.tracking import RegisterBatch, SubjectRef, key_fingerprint
from lethe.settings import Settings
from lethe.stores.engines import Stores

MAX_IDENTIFIER = 320  # as a flow's subject_id: the longest email address
REFUSED = ("blocked", "not-found", "ambiguous")
FAILED = ("failed", "unverified")
CHUNK = 200  # subjects found, and their requests opened, ahead of erasing them


def parse_subjects(text: str) -> list[tuple[int, str]]:
    """The identifiers of a queue's text with their line numbers; ParameterError for a malformed queue."""
    return check_queue(enumerate(text.splitlines(), start=1))


def check_queue(numbered: Iterable[tuple[int, str]]) -> list[tuple[int, str]]:
    """Numbered identifiers, stripped, blanks skipped, refused whole (ParameterError naming the numbers)
    when one is malformed (see the module docstring) or none is left."""
    problems: dict[str, list[int]] = {}
    seen: set[str] = set()
    queue: list[tuple[int, str]] = []
    for number, line in numbered:
        identifier = line.strip()
        if not identifier:
            continue
        problem = None
        if "," in identifier or "\t" in identifier:
            problem = "a comma or tab (give one identifier per line, not CSV)"
        elif any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in identifier):
            problem = "a control character"
        elif len(identifier) > MAX_IDENTIFIER:
            problem = f"more than {MAX_IDENTIFIER} characters"
        elif identifier in seen:
            problem = "an identifier given on an earlier line"
        if problem is not None:
            problems.setdefault(problem, []).append(number)
            continue
        seen.add(identifier)
        queue.append((number, identifier))
    if problems:
        raise ParameterError(
            "the queue is refused, nothing was changed: "
            + "; ".join(f"{_lines(numbers)} hold(s) {problem}" for problem, numbers in problems.items())
        )
    if not queue:
        raise ParameterError("the queue holds no identifier (one per line); nothing was changed")
    return queue


def read_subjects_file(path: Path) -> list[tuple[int, str]]:
    """Read and check a queue file (see the module docstring): its identifiers with their line numbers."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ParameterError(f"cannot read the queue file {path} ({type(exc).__name__})") from None
    try:
        text = data.decode("utf-8-sig")  # a byte-order mark (Windows editors) is not part of line 1
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ParameterError(
            f"the queue file {path} is not UTF-8 text (line {line}); nothing was changed"
        ) from None
    return parse_subjects(text)


def _lines(numbers: list[int]) -> str:
    shown = ", ".join(str(n) for n in numbers[:10])
    more = f" and {len(numbers) - 10} more" if len(numbers) > 10 else ""
    return f"line{'s' if len(numbers) > 1 else ''} {shown}{more}"


@dataclass(frozen=True)
class QueueItem:
    """One subject of the queue: its line, outcome, key fingerprint and request (never the identifier)."""

    line: int
    outcome: str
    key_fingerprint: str | None = None
    request_id: str | None = None
    reason: str | None = None  # hold flags or the error's class, never a value
    seconds: float = 0.0
    exit_code: int = 0  # what ``lethe erase`` would exit with for this subject alone


@dataclass(frozen=True)
class QueueSummary:
    """What a queue did: one item per subject, in queue order, and the counts per outcome."""

    subject: str
    run_id: str
    dry_run: bool
    items: tuple[QueueItem, ...]
    group_copies: int = 0  # how many times journal rows were copied into the ledger
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def refused(self) -> int:
        """Subjects refused: a hold flag set, nobody found or an ambiguous identifier."""
        return sum(self.counts.get(o, 0) for o in REFUSED)

    @property
    def failed(self) -> int:
        """Subjects whose erasure was rolled back or is not verified."""
        return sum(self.counts.get(o, 0) for o in FAILED)

    @property
    def exit_code(self) -> int:
        """The highest of the subjects' exit codes: 0 when every subject was erased (or planned); 2 when some
        were refused; 3 when a store failed, 5 when a verification failed (rolled back, or not verified)."""
        return max((item.exit_code for item in self.items), default=0)


def erase_queue(
    policy: Policy,
    stores: Stores,
    settings: Settings,
    subject: str,
    identifiers: Sequence[str],
    *,
    ledger: Ledger,
    run_id: str,
    dry_run: bool = False,
    received_at: datetime | None = None,
    every: float = GROUP_SECONDS,
    lines: Sequence[int] | None = None,
    progress: Callable[[QueueItem], None] | None = None,
) -> QueueSummary:
    """Erase (or with ``dry_run`` plan) each subject of the queue in turn; see the module docstring.

    ``lines`` numbers the subjects in the summary (the file's lines, as ``read_subjects_file`` gives them;
    default 1, 2, ...). ``progress`` is called with each subject's item as soon as it is done.
    """
    numbers = list(lines) if lines is not None else list(range(1, len(identifiers) + 1))
    if len(numbers) != len(identifiers):
        raise ParameterError("a queue needs one line number per identifier")
    queue = list(zip(numbers, identifiers, strict=True))
    setup = prepare_erasure(policy, stores, settings, subject)
    register = None if dry_run else RegisterBatch(settings, "erasure", subject, received_at=received_at)
    evidence = GroupCopy(
        ledger, setup.stores, setup.store_order(), ERASURE_FLOW, journal=not dry_run, every=every,
        register=register,
    )  # fmt: skip
    items: list[QueueItem] = []
    try:
        for at in range(0, len(queue), CHUNK):
            chunk = queue[at : at + CHUNK]
            found = {} if register is None else _open_ahead(setup, register, chunk)
            for line, identifier in chunk:
                started = time.perf_counter()
                try:
                    receipt = erase_subject(
                        policy, stores, settings, subject, identifier, ledger=ledger, run_id=run_id,
                        dry_run=dry_run, received_at=received_at, setup=setup, evidence=evidence,
                        resolved=found.get(line),
                    )  # fmt: skip
                    item = QueueItem(line, receipt.outcome, receipt.key_fingerprint, receipt.request_id)
                except (SubjectError, VerificationError, StoreError) as exc:
                    item = QueueItem(line, *_refusal(exc), exit_code=exc.exit_code)
                items.append(replace(item, seconds=time.perf_counter() - started))
                if progress is not None:
                    progress(items[-1])
                evidence.flush_if_due()
    except BaseException:
        # The error that stops the queue matters more than a failed copy: the next run copies what is left.
        with suppress(LetheError):
            evidence.flush()
        raise
    evidence.flush()
    counts = Counter(item.outcome for item in items)
    return QueueSummary(subject, run_id, dry_run, tuple(items), evidence.copies, dict(sorted(counts.items())))


def _open_ahead(
    setup: ErasureSetup, register: RegisterBatch, chunk: Sequence[tuple[int, str]]
) -> dict[int, SubjectRef]:
    """Find the chunk's subjects (in clear, on one connection) and open their requests in one transaction.

    Only subjects found in clear: one found by nobody, by several or only through a token of the identifier
    (pseudonymised, perhaps by an earlier run) goes the single way, which records or answers it.
    """
    found: dict[int, SubjectRef] = {}
    try:
        with setup.stores.engine(setup.identity.entry.store).connect() as connection:
            for line, identifier in chunk:
                try:
                    key = resolve_key(setup, identifier, connection, tokens=False)
                except SubjectError:
                    continue
                fingerprint = key_fingerprint(setup.policy, setup.settings, setup.subject, key)
                found[line] = SubjectRef(setup.subject, key, fingerprint)
    except SQLAlchemyError as exc:
        raise StoreError(f"finding the queue's subjects failed ({type_name(exc)})") from None
    register.open_for([ref.key_fingerprint for ref in found.values()])
    return found


def _refusal(exc: LetheError) -> tuple[str, str | None, str | None, str]:
    """A subject's refusal or failure as (outcome, key fingerprint, request, reason); already recorded.

    ``erase_subject`` has recorded it in the ledger (and the register) before raising; a store error that
    is not transient concerns every subject alike, but the next one tells: a queue is not stopped for it.
    """
    if isinstance(exc, ErasureBlockedError):
        plan = exc.plan
        flags = ", ".join(h.flag for h in plan.blocked) if plan is not None else ""
        return (
            "blocked",
            plan.key_fingerprint if plan is not None else None,
            None,
            f"blocked: {flags or 'a hold'}",
        )
    if isinstance(exc, AmbiguousSubjectError):
        return "ambiguous", None, None, "the identifier matches more than one subject"
    if isinstance(exc, SubjectError):
        return "not-found", None, None, "no such subject"
    if isinstance(exc, UnverifiedErasureError):
        receipt = exc.receipt
        return (
            "unverified",
            receipt.key_fingerprint,
            receipt.request_id,
            "an identifier still finds the subject",
        )
    return "failed", None, None, f"rolled back ({type(exc).__name__})"
