"""``lethe ledger``: show, verify and anchor the evidence ledger, and list the keys it registered."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC

import click

from lethe.crypto import canonical_json
from lethe.errors import LedgerTamperedError, LetheError
from lethe.ledger.chain import ZERO_MAC, Ledger
from lethe.ledger.entry import RecordedEntry
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
    entry.update(
        seq=recorded.seq, recorded_at=recorded.recorded_at, mac=recorded.mac, keys=dict(recorded.keys)
    )
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
@click.option("--since", type=click.IntRange(min=0), default=None, help="Only entries after this seq.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most this many entries.")
@click.option("--run", "run_id", default=None, help="Only entries of this run id.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line instead of a table.")
def show(since: int | None, limit: int | None, run_id: str | None, as_json: bool) -> None:
    """List ledger entries in seq order (counts and fingerprints only, never personal values).

    Rows stored outside the chain (seq <= 0) are listed too, and they and any missing seq are named on
    stderr, with exit 4: run `lethe ledger verify` for the full check. A body that is not in canonical
    form stops the listing (exit 4, its seq named).
    """
    with _lethe_errors():
        led = _open_ledger()
        entries = led.entries(since, limit, run_id=run_id)
        if not as_json:
            click.echo(
                _ROW.format("seq", "recorded_at", "flow", "rule", "action", "outcome", "counts", "run_id")
            )
        for recorded in entries:
            click.echo(_as_json(recorded) if as_json else _as_row(recorded))
        anomalies = led.seq_anomalies()
        for problem in anomalies:
            click.echo(f"warning: {problem}", err=True)
        if anomalies:
            raise LedgerTamperedError("the ledger's numbering is broken: run `lethe ledger verify`")


@ledger.command("verify", short_help="Check the HMAC chain; exit 4 if anything was changed")
@click.option(
    "--expect-head",
    "expected_head",
    callback=_parse_anchor,
    metavar="SEQ:MAC",
    help="Anchor kept elsewhere (from `lethe ledger head`); detects a wiped or rolled-back ledger.",
)
@click.option(
    "--min-count",
    type=click.IntRange(min=0),
    default=None,
    help="Fail if the ledger has fewer entries than this.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def verify(expected_head: tuple[int, str] | None, min_count: int | None, as_json: bool) -> None:
    """Check the HMAC chain; exit 4 and name the first bad entry if anything was changed."""
    with _lethe_errors():
        report = verify_ledger(_open_ledger(), expected_head, min_count)
        if as_json:
            click.echo(json.dumps(dataclasses.asdict(report), sort_keys=True))
        elif report.ok:
            head = "none" if report.head_seq is None else f"{report.head_seq} {report.head_mac}"
            click.echo(f"ledger OK: {report.count} entries, head {head}")
        if not report.ok:
            raise LedgerTamperedError(report.problem or "ledger verification failed")


@ledger.command("head", short_help="Print the ledger head (SEQ:MAC) to keep as an anchor")
def head() -> None:
    """Print the ledger head as SEQ:MAC, to keep outside the ledger as an anchor for `verify`."""
    with _lethe_errors():
        current = _open_ledger().head()
        seq, mac = current if current is not None else (0, ZERO_MAC.hex())
        click.echo(f"{seq}:{mac}")


@ledger.command("keys", short_help="List registered key ids, versions and rotations")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line instead of a table.")
def keys(as_json: bool) -> None:
    """List the key registry: each key's public id, version, first use and how it came in.

    A run refuses a LETHE_MASTER_KEY other than the one registered for its LETHE_KEY_VERSION (exit 2);
    declare a rotation by raising LETHE_KEY_VERSION. Ids are HMACs of a constant, never the keys.
    """
    with _lethe_errors():
        registered = _open_ledger().registered_keys()
        if not as_json:
            click.echo(_KEY_ROW.format("kind", "version", "key_id", "first_seen", "declared"))
        for key in registered:
            if as_json:
                click.echo(canonical_json(dataclasses.asdict(key)).decode("utf-8"))
            else:
                when = key.first_seen.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                click.echo(_KEY_ROW.format(key.kind, key.version, key.key_id, when, key.declared))


_KEY_ROW = "{:<8}  {:>7}  {:<16}  {:<20}  {}"
