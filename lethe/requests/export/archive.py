"""The access and portability export (GDPR Art. 15 and 20): every row of one subject, in one zip file.

``export-<subject kind>-<UTC time>-<random>.zip`` (the name never contains the identifier) holds:

* ``data.json``: ``{"format", "subject", "exported_at", "policy_hash", "facts", "tables": {"store.table":
  {"columns", "primary_key", "references", "rows": [{column: value}]}}}``. Rows keep their key and foreign-key
  columns and ``references`` names the foreign keys, so relations (an order line's order) stay visible;
* ``data.schema.json``: its JSON Schema (draft 2020-12), generated from the reflected column types;
* ``csv/<store.table>.csv``: one per table, UTF-8, a header row, RFC 4180 quoting, empty cell for NULL;
* ``index.html``: a self-contained page to read, the Art. 15(1) facts then every table;
* ``manifest.json``: every other file with its size and SHA-256, rows per table, policy hash, time, run id.

Values are JSON-safe alike on every engine: decimals as exact text, timestamps as ISO 8601 in UTC (naive
ones read in the store's ``timezone``), bytes as base64, booleans as booleans (MariaDB's TINYINT(1) too).
The zip is written to a private part file (``lethe.requests.export.part``) and renamed into place (mode 0600); with a
passphrase it is encrypted as it is written (``lethe.requests.export.crypto``), so its plaintext never touches the
disk. A killed export leaves only its part file, which the next export in the folder removes. The ledger gets one
entry per request: counts and the keyed fingerprint of the subject's key, never a value. Tables reached only
through another kind of subject's table are that subject's data: left out, and listed in the manifest.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import secrets
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import IO, Any

from lethe.errors import SubjectError
from lethe.ledger.chain import Ledger
from lethe.ledger.entry import LedgerEntry, Scalar
from lethe.policy.model import Policy
from lethe.requests.export.crypto import SUFFIX, SealedStream, check_passphrase, encrypted_output, sealing
from lethe.requests.export.destination import CountingWriter, Destination
from lethe.requests.export.facts import facts_for
from lethe.requests.export.html import render_index
from lethe.requests.export.part import part_file, remove_stale_parts
from lethe.requests.export.plan import ExportPlan, Rows, collect_rows, plan_export
from lethe.requests.export.receipts import consent_receipts
from lethe.requests.export.schema import FORMAT
from lethe.requests.register import EXPORT_TYPES, RequestError
from lethe.requests.subjects import resolve_subject
from lethe.requests.tracking import resolve_for_request, track_request
from lethe.settings import Settings
from lethe.stores.engines import Stores

_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")
_READ_CHUNK = 1 << 20

# Test-only hook, None in production: called with a zip member's name once it is written, so that
# tests/support/export_worker.py can kill an export in the middle of writing its file.
_after_member: Callable[[str], None] | None = None


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote: where, how many rows per table, the file's SHA-256; never a personal value."""

    path: Path
    file_name: str
    counts: dict[str, int]
    sha256: str  # of the file delivered (the encrypted one when encrypted)
    encrypted: bool
    run_id: str
    unreachable: list[str] = field(default_factory=list)  # declared for the subject, not reached
    zip_sha256: str = ""  # of the zip before encryption (the same as sha256 when not encrypted)
    request_id: str | None = None  # the register's request it answered (None: not recorded as a request)
    location: str = ""  # where it was delivered: a local path or a URL (s3://bucket/prefix/name)
    size: int = 0  # bytes delivered
    due: str | None = None  # the request's due date (ISO), when it answered one


@contextmanager
def _member(
    archive: zipfile.ZipFile, name: str, moment: datetime, files: list[dict[str, Any]]
) -> Iterator[Callable[[str], None]]:
    """A writer of one zip member that records the member's size and SHA-256 in ``files``."""
    info = zipfile.ZipInfo(name, date_time=moment.timetuple()[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o600 << 16  # unpacked files readable by their owner only
    digest = hashlib.sha256()
    with archive.open(info, "w") as raw:

        def write(text: str) -> None:
            data = text.encode("utf-8")
            digest.update(data)
            raw.write(data)

        yield write
    files.append({"name": name, "bytes": info.file_size, "sha256": digest.hexdigest()})  # size set on close
    if _after_member is not None:
        _after_member(name)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _csv_cell(value: Any) -> Any:
    return ("true" if value else "false") if isinstance(value, bool) else value


def _write_zip(
    handle: IO[bytes] | SealedStream | CountingWriter,
    head: dict[str, str],
    extra: dict[str, Any],
    facts: dict[str, Any],
    plan: ExportPlan,
    collected: list[Rows],
    moment: datetime,
    receipts: list[dict[str, Any]] | None = None,
) -> None:
    """The whole archive into ``handle``; ``head`` starts data.json and the manifest, ``extra`` the latter.

    ``receipts`` (the subject's consent records, ``lethe.requests.export.receipts``) go to consent.json.
    """
    tables = list(zip(plan.tables, collected, strict=True))
    files: list[dict[str, Any]] = []
    with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with _member(archive, "data.json", moment, files) as write:
            write("{" + _dumps(head)[1:-1] + ',\n"facts":' + _dumps(facts) + ',\n"tables":{')
            for i, (t, rows) in enumerate(tables):
                meta = {"columns": t.columns, "primary_key": t.primary_key, "references": t.references}
                write(("," if i else "") + f'\n{_dumps(t.name)}:{{{_dumps(meta)[1:-1]},"rows":[')
                for j, row in enumerate(rows):
                    write(("," if j else "") + "\n" + _dumps(dict(zip(t.columns, row, strict=True))))
                write("]}")
            write("}}\n")
        with _member(archive, "data.schema.json", moment, files) as write:
            write(plan.schema)
        seen: set[str] = set()
        for t, rows in tables:
            name = f"csv/{_UNSAFE_NAME.sub('_', t.name)}.csv"
            while name in seen:  # two names that only differ in unsafe characters
                name = name.removesuffix(".csv") + "_.csv"
            seen.add(name)
            with _member(archive, name, moment, files) as write:
                writer = csv.writer(SimpleNamespace(write=write), lineterminator="\r\n")
                writer.writerow(t.columns)
                writer.writerows([_csv_cell(v) for v in row] for row in rows)
        if receipts:
            with _member(archive, "consent.json", moment, files) as write:
                write(json.dumps({"consent_records": receipts}, ensure_ascii=False, indent=1) + "\n")
        with _member(archive, "index.html", moment, files) as write:
            rendered = [(t.name, t.columns, rows) for t, rows in tables]
            write(render_index(head, facts, rendered))
        manifest = {**head, **extra, "tables": {t.name: len(rows) for t, rows in tables}, "files": files}
        with _member(archive, "manifest.json", moment, []) as write:
            write(json.dumps(manifest, ensure_ascii=False, indent=1) + "\n")


def _file_sha256(path: Path) -> str:
    """SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_READ_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def export_subject(
    policy: Policy,
    stores: Stores,
    subject: str,
    identifier: str,
    out_dir: Path | Destination,
    *,
    settings: Settings,
    ledger: Ledger | None,
    run_id: str,
    passphrase: str | None = None,
    now: datetime | None = None,
    plan: ExportPlan | None = None,
    request_type: str = "access",
    request_id: str | None = None,
    received_at: datetime | None = None,
) -> ExportResult:
    """Write the export of the one ``subject`` whose key or lookup column equals ``identifier``.

    With a ``ledger`` the export answers a request (``request_type`` access or portability) and is recorded
    in the ledger and the request register (``lethe.requests.tracking``): it continues ``request_id``, or the
    subject's open export request, or registers one received at ``received_at`` (default now). Raises
    SubjectError (after recording "not-found" or "ambiguous") when no subject or more than one matches.
    ``plan`` (``plan_export``) may be shared by the exports of one run. ``out_dir`` is a folder or a
    ``Destination`` (``lethe.requests.export.destination``: a folder or an fsspec URL).
    """
    started = datetime.now(UTC)
    if request_type not in EXPORT_TYPES:
        raise RequestError(f"an export answers a request of type {' or '.join(EXPORT_TYPES)}")
    if passphrase is not None:
        check_passphrase(passphrase)  # before any work, so a short passphrase costs nothing
    destination = out_dir if isinstance(out_dir, Destination) else Destination(str(out_dir))
    if not destination.remote and destination.folder.is_dir():
        remove_stale_parts(
            destination.folder
        )  # left by killed exports: plain ones hold personal data in clear
    plan = plan or plan_export(policy, stores, subject)
    if plan.subject != subject:
        raise SubjectError(f"the export plan is for {plan.subject}, not {subject}")
    if ledger is None:
        key = resolve_subject(policy, stores, subject, identifier, settings)
        return _deliver(
            policy, stores, plan, key, destination, run_id, passphrase, (now or started).astimezone(UTC)
        )
    ref = resolve_for_request(
        policy, stores, settings, subject, identifier, request_type=request_type, ledger=ledger,
        run_id=run_id, flow="export", action="export", started_at=started, request_id=request_id,
    )  # fmt: skip
    with track_request(
        settings, request_type, subject, ref.key_fingerprint, received_at=received_at, request_id=request_id
    ) as request:
        moment = (now or started).astimezone(UTC)
        result = _deliver(policy, stores, plan, ref.key, destination, run_id, passphrase, moment)
        entry = LedgerEntry(run_id, "export", policy.hash, "export", "completed", started, datetime.now(UTC))
        details: dict[str, Scalar] = dict(
            subject=subject, request=request.id, file=result.file_name, sha256=result.sha256,
            zip_sha256=result.zip_sha256, encrypted=result.encrypted, location=result.location,
            bytes=result.size,
        )  # fmt: skip
        try:
            ledger.append(
                replace(entry, counts=result.counts, fingerprints=[ref.key_fingerprint], details=details)
            )
        except BaseException:
            destination.delete(result.file_name)  # no export without its evidence: the request stays open
            raise
        result = replace(result, request_id=request.id, due=request.record.due_at.date().isoformat())
        rows = sum(result.counts.values())
        request.finish(
            "completed", f"exported: {rows} row(s) of {len(result.counts)} table(s) in {result.file_name}"
        )
    return result


def _deliver(
    policy: Policy,
    stores: Stores,
    plan: ExportPlan,
    key: Any,
    destination: Destination,
    run_id: str,
    passphrase: str | None,
    moment: datetime,
) -> ExportResult:
    """Read the subject's rows and write the zip (encrypted with a passphrase) to ``destination``."""
    collected = collect_rows(stores, plan, key)
    subject = plan.subject
    receipts = consent_receipts(policy, stores, subject, key)
    extra = dict(
        run_id=run_id, unreachable_tables=plan.unreachable, other_subjects_tables=plan.other_subjects
    )
    facts = facts_for(policy, subject).as_dict()
    return write_export(
        policy, plan, collected, destination, f"export-{subject}", run_id, passphrase, moment, facts, extra,
        receipts=receipts,
    )  # fmt: skip


def write_export(
    policy: Policy,
    plan: ExportPlan,
    collected: list[Rows],
    out: Destination | Path,
    prefix: str,
    run_id: str,
    passphrase: str | None,
    moment: datetime,
    facts: dict[str, Any],
    extra: dict[str, Any],
    receipts: list[dict[str, Any]] | None = None,
) -> ExportResult:
    """Write rows already read (``collect_rows``) as an export zip (encrypted with a passphrase) to ``out``, a
    destination (a folder or an fsspec URL) or a local folder.

    The file is ``<prefix>-<UTC time>-<random>.zip``: ``prefix`` must not hold personal data.
    """
    destination = out if isinstance(out, Destination) else Destination(str(out))
    head = dict(format=FORMAT, subject=plan.subject, exported_at=moment.isoformat(), policy_hash=policy.hash)
    name = f"{prefix}-{moment.strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(4)}.zip"
    if passphrase is not None:
        name += SUFFIX

    def write(handle: IO[bytes] | SealedStream | CountingWriter) -> None:
        _write_zip(handle, head, extra, facts, plan, collected, moment, receipts)

    zip_sha = ""
    if destination.remote:
        # Streamed into the remote file: neither the zip nor its plaintext ever touches the local disk.
        with destination.output(name) as counted:
            if passphrase is None:
                write(counted)
            else:
                with sealing(counted, passphrase) as sealed:  # type: ignore[arg-type]
                    write(sealed)
                zip_sha = sealed.plain_sha256.hexdigest()
        path, sha, size = Path(name), counted.sha256.hexdigest(), counted.size
        zip_sha = zip_sha or sha
    else:
        out_dir = destination.folder
        path = out_dir / name
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            if passphrase is None:
                with part_file(path) as handle:
                    write(handle)
                zip_sha = sha = _file_sha256(path)
            else:
                with encrypted_output(path, passphrase) as sealed:
                    write(sealed)
                zip_sha, sha = sealed.plain_sha256.hexdigest(), _file_sha256(path)
            size = path.stat().st_size
        except OSError as exc:  # e.g. --out names a file, or a folder Lethe may not write
            raise RequestError(f"cannot write the export into {out_dir} ({type(exc).__name__})") from None
    counts = {t.name: len(rows) for t, rows in zip(plan.tables, collected, strict=True)}
    encrypted = passphrase is not None
    return ExportResult(
        path, name, counts, sha, encrypted, run_id, plan.unreachable, zip_sha,
        location=destination.location(name), size=size,
    )  # fmt: skip
