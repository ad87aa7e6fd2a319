"""``lethe ledger``: show, verify and anchor the evidence ledger, sign checkpoints, check proofs."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC
from pathlib import Path

import click

from lethe.crypto import canonical_json
from lethe.errors import LedgerTamperedError, LetheError, ParameterError
from lethe.ledger.chain import ZERO_MAC, Ledger
from lethe.ledger.checkpoint import (
    make_checkpoint,
    new_key,
    read_checkpoint,
    signing_key,
    trusted_key,
    verify_with_checkpoint,
)
from lethe.ledger.entry import RecordedEntry
from lethe.ledger.proof import check_proof, parse_proof
from lethe.ledger.verify import verify_ledger
from lethe.settings import load_settings

_ANCHOR = re.compile(r"(\d+):([0-9a-fA-F]{64})")


@contextmanager
def _lethe_errors() -> Iterator[None]:
    """Turn a LetheError into ``error: <message>`` on stderr and its exit code, without a traceback."""
    try:
        yield
    except LetheError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(exc.exit_code) from None


def _open_ledger() -> Ledger:
    """The ledger named by the environment (LETHE_LEDGER_URL, LETHE_LEDGER_KEY)."""
    return Ledger.from_settings(load_settings())


def _parse_anchor(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[int, str] | None:
    """Parse ``SEQ:MAC`` as printed by ``lethe ledger head``."""
    if value is None:
        return None
    match = _ANCHOR.fullmatch(value.strip())
    if match is None:
        raise click.BadParameter("expected SEQ:MAC as printed by `lethe ledger head`")
    return int(match.group(1)), match.group(2).lower()


def _as_json(recorded: RecordedEntry) -> str:
    """One entry as one line of JSON."""
    entry = dataclasses.asdict(recorded.entry)
    entry.update(seq=recorded.seq, recorded_at=recorded.recorded_at, mac=recorded.mac)
    return canonical_json(entry).decode("utf-8")


def _as_row(recorded: RecordedEntry) -> str:
    """One entry as one table row."""
    entry = recorded.entry
    when = recorded.recorded_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    counts = ",".join(f"{name}={value}" for name, value in sorted(entry.counts.items())) or "-"
    cells = (entry.flow, entry.rule or "-", entry.action, entry.outcome, counts, entry.run_id)
    return _ROW.format(recorded.seq, when, *cells)


# Fixed widths, so rows stream out without reading the whole ledger first; long values just overflow.
_ROW = "{:>6}  {:<20}  {:<24}  {:<20}  {:<12}  {:<10}  {:<28}  {}"


@click.group("ledger", short_help="Show, verify and anchor the evidence ledger")
def ledger() -> None:
    """Show, verify and anchor the tamper-evident evidence ledger (LETHE_LEDGER_URL, LETHE_LEDGER_KEY)."""


@ledger.command("show", short_help="List ledger entries (counts and fingerprints only)")
@click.option("--since", type=click.IntRange(min=0), default=0, help="Only entries after this seq.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most this many entries.")
@click.option("--run", "run_id", default=None, help="Only entries of this run id.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line instead of a table.")
def show(since: int, limit: int | None, run_id: str | None, as_json: bool) -> None:
    """List ledger entries in seq order (counts and fingerprints only, never personal values)."""
    with _lethe_errors():
        entries = _open_ledger().entries(since, limit, run_id=run_id)
        if not as_json:
            click.echo(
                _ROW.format("seq", "recorded_at", "flow", "rule", "action", "outcome", "counts", "run_id")
            )
        for recorded in entries:
            click.echo(_as_json(recorded) if as_json else _as_row(recorded))


_PUBLIC_KEY_HELP = (
    "The Ed25519 public key to trust (base64, hex, PEM, or a file holding one); default "
    "LETHE_CHECKPOINT_PUBLIC_KEY. Never taken from the checkpoint itself."
)


@ledger.command("verify", short_help="Check the HMAC chain; exit 4 if anything was changed")
@click.option(
    "--expect-head",
    "expected_head",
    callback=_parse_anchor,
    metavar="SEQ:MAC",
    help="Anchor kept elsewhere (from `lethe ledger head`); detects a wiped or rolled-back ledger.",
)
@click.option(
    "--expect-checkpoint",
    "checkpoint_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Signed checkpoint (from `lethe ledger checkpoint`): the ledger must still hold it, byte for byte.",
)
@click.option("--public-key", default=None, metavar="KEY", help=_PUBLIC_KEY_HELP)
@click.option(
    "--min-count",
    type=click.IntRange(min=0),
    default=None,
    help="Fail if the ledger has fewer entries than this.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def verify(
    expected_head: tuple[int, str] | None,
    checkpoint_file: Path | None,
    public_key: str | None,
    min_count: int | None,
    as_json: bool,
) -> None:
    """Check the HMAC chain; exit 4 and name the first bad entry if anything was changed.

    With --expect-checkpoint, the checkpoint's signature is checked under the trusted key first, then the
    ledger must still hold its entry and its first entries must give its tree root.
    """
    with _lethe_errors():
        if checkpoint_file is not None and expected_head is not None:
            raise ParameterError("give --expect-head or --expect-checkpoint, not both")
        if checkpoint_file is None:
            report = verify_ledger(_open_ledger(), expected_head, min_count)
        else:
            settings = load_settings()
            signed = read_checkpoint(checkpoint_file)
            trusted = trusted_key(settings, _key_text(public_key))
            report = verify_with_checkpoint(Ledger.from_settings(settings), signed, trusted, min_count)
        if as_json:
            click.echo(json.dumps(dataclasses.asdict(report), sort_keys=True))
        elif report.ok:
            head = "none" if report.head_seq is None else f"{report.head_seq} {report.head_mac}"
            click.echo(f"ledger OK: {report.count} entries, head {head}")
            if checkpoint_file is not None:
                click.echo(f"checkpoint OK: {signed.size} entries signed at {signed.time} ({signed.key_id})")
        if not report.ok:
            raise LedgerTamperedError(report.problem or "ledger verification failed")


@ledger.command("head", short_help="Print the ledger head (SEQ:MAC) to keep as an anchor")
def head() -> None:
    """Print the ledger head as SEQ:MAC, to keep outside the ledger as an anchor for `verify`."""
    with _lethe_errors():
        current = _open_ledger().head()
        seq, mac = current if current is not None else (0, ZERO_MAC.hex())
        click.echo(f"{seq}:{mac}")


@ledger.command(
    "checkpoint", short_help="Write a signed checkpoint (size, head, tree root) to keep elsewhere"
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="File to write the checkpoint to (it holds no secret and no personal data).",
)
@click.option(
    "--new-key", "make_key", is_flag=True, help="Print a new Ed25519 key pair as settings, and nothing else."
)
def checkpoint(out: Path | None, make_key: bool) -> None:
    """Verify the ledger, then sign its size, head MAC and tree root with LETHE_CHECKPOINT_KEY (Ed25519).

    Keep the file outside the ledger's reach, and the public key (LETHE_CHECKPOINT_PUBLIC_KEY) wherever
    checkpoints are checked: `lethe ledger verify --expect-checkpoint FILE` then refuses a ledger that was
    wiped, rolled back or changed since.
    """
    with _lethe_errors():
        if make_key:
            private, public = new_key()
            click.echo(f"LETHE_CHECKPOINT_KEY={private}")
            click.echo(f"LETHE_CHECKPOINT_PUBLIC_KEY={public}")
            return
        if out is None:
            raise ParameterError("give --out FILE (or --new-key to make a signing key)")
        settings = load_settings()
        key = signing_key(settings)  # before reading the ledger: a missing key is the likelier mistake
        signed = make_checkpoint(Ledger.from_settings(settings), key)
        try:
            out.write_text(signed.to_json(), encoding="utf-8")
        except OSError as exc:
            raise ParameterError(f"cannot write {out} ({type(exc).__name__})") from None
        click.echo(f"checkpoint: {signed.size} entries, root {signed.tree_root}, signed by {signed.key_id}")


@ledger.command("check-proof", short_help="Check a key's inclusion proof offline; exit 4 if it fails")
@click.argument("proof_file", metavar="FILE", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--checkpoint",
    "checkpoint_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Signed checkpoint the proof is anchored in; without it the proof is only consistent with itself.",
)
@click.option("--public-key", default=None, metavar="KEY", help=_PUBLIC_KEY_HELP)
def check_proof_command(proof_file: Path, checkpoint_file: Path | None, public_key: str | None) -> None:
    """Check a proof from `lethe ledger prove` with nothing but the proof (and a checkpoint): no database,
    no ledger key, no master key.
    """
    with _lethe_errors():
        proof = parse_proof(_read(proof_file, "proof"))
        signed = trusted = None
        if checkpoint_file is not None:
            signed = read_checkpoint(checkpoint_file)
            trusted = trusted_key(load_settings(), _key_text(public_key))
        for line in check_proof(proof, signed, trusted):
            click.echo(f"ok: {line}")
        if signed is None:
            click.echo("note: no checkpoint given; the ledger root is not vouched for by a signature")
        click.echo(
            f"proof OK: {proof.store}.{proof.table} leaf {proof.leaf.hex()} in ledger entry {proof.seq}"
        )


def _read(path: Path, what: str) -> str:
    """A text file's content, or ParameterError naming it."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ParameterError(f"cannot read the {what} {path} ({type(exc).__name__})") from None


def _key_text(value: str | None) -> str | None:
    """A --public-key value: the key itself, or the content of the file it names."""
    if value is None:
        return None
    path = Path(value)
    if len(value) < 1024 and "\n" not in value and path.is_file():
        return _read(path, "public key")
    return value
