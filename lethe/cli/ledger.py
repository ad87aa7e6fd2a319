"""``lethe ledger``: show, verify and anchor the evidence ledger, and list the keys it registered."""

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
    Checkpoint,
    check_signature,
    ledger_name,
    make_checkpoint,
    new_key,
    read_checkpoint,
    signing_key,
    trusted_key,
    verify_with_checkpoint,
)
from lethe.ledger.deep import DeepReport, verify_deep
from lethe.ledger.entry import RecordedEntry
from lethe.ledger.proof import check_proof, parse_proof
from lethe.ledger.prove import parse_key, prove_key
from lethe.ledger.verify import VerifyReport, verify_ledger
from lethe.policy import TableRef, load_policy
from lethe.settings import load_settings
from lethe.stores.engines import Stores

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
    "--deep",
    is_flag=True,
    help="Also recompute every batch's Merkle root from its journal blob in the store (needs --policy).",
)
@click.option(
    "--policy",
    "policy_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Policy naming the stores whose journals --deep reads.",
)
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
    deep: bool,
    policy_path: Path | None,
    min_count: int | None,
    as_json: bool,
) -> None:
    """Check the HMAC chain; exit 4 and name the first bad entry if anything was changed.

    With --expect-checkpoint, the checkpoint's signature is checked under the trusted key first, then the
    ledger must still hold its entry and its first entries must give its tree root. With --deep, every
    retention batch's entry is matched to its journal row in the store: the row's leaves must give the root
    the entry records (a changed, missing or reordered leaf is named with the entry's seq and journal row).
    """
    with _lethe_errors():
        if checkpoint_file is not None and expected_head is not None:
            raise ParameterError("give --expect-head or --expect-checkpoint, not both")
        if deep and policy_path is None:
            raise ParameterError("--deep reads the stores' journals: give --policy")
        settings = load_settings()
        led = Ledger.from_settings(settings)
        signed = None if checkpoint_file is None else read_checkpoint(checkpoint_file)
        if signed is None:
            report = verify_ledger(led, expected_head, min_count)
        else:
            report = verify_with_checkpoint(
                led, signed, trusted_key(settings, _key_text(public_key)), min_count
            )
            if signed.ledger != ledger_name(led):
                # Not a failure: a ledger may move (a restored copy, a renamed host); its entries decide.
                click.echo(
                    f"note: the checkpoint was made for {signed.ledger}; this is {ledger_name(led)}", err=True
                )
        deep_report = _verify_deep(led, policy_path) if deep and report.ok and policy_path else None
        if as_json:
            payload: dict[str, object] = dataclasses.asdict(report)
            if deep_report is not None:
                payload["deep"] = dataclasses.asdict(deep_report) | {"ok": deep_report.ok}
            click.echo(json.dumps(payload, sort_keys=True))
        elif report.ok:
            _print_ok(report, signed, deep_report)
        if not report.ok:
            raise LedgerTamperedError(report.problem or "ledger verification failed")
        if deep_report is not None and not deep_report.ok:
            lines = [f"entry {f.seq} (journal {f.journal}): {f.problem}" for f in deep_report.findings]
            raise LedgerTamperedError(
                f"{len({f.seq for f in deep_report.findings})} batch(es) differ from their journal rows:\n"
                + "\n".join(lines)
            )


def _verify_deep(led: Ledger, policy_path: Path) -> DeepReport:
    """``verify_deep`` over the stores the policy names."""
    policy = load_policy(policy_path)
    with Stores(policy) as stores:
        return verify_deep(led, lambda store: stores.engine(store) if store in policy.stores else None)


def _print_ok(report: VerifyReport, signed: Checkpoint | None, deep: DeepReport | None) -> None:
    """The summary lines of a verification that found nothing wrong in the chain."""
    head = "none" if report.head_seq is None else f"{report.head_seq} {report.head_mac}"
    click.echo(f"ledger OK: {report.count} entries, head {head}")
    if signed is not None:
        click.echo(f"checkpoint OK: {signed.size} entries signed at {signed.time} ({signed.key_id})")
    if deep is not None and deep.ok:
        skipped = ", ".join(f"{store}: {n}" for store, n in sorted(deep.skipped.items()))
        click.echo(
            f"deep OK: {deep.checked} batch roots recomputed from their journals"
            + (f"; not checked (stores not in the policy) {skipped}" if skipped else "")
        )


@ledger.command("checkpoint", short_help="Sign the ledger's size, head and root (Ed25519) to keep")
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


@ledger.command("prove", short_help="Prove one key was deleted or anonymised; exit 1 if not")
@click.option(
    "--policy",
    "policy_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Policy file.",
)
@click.option("--store", required=True, help="Store of the table, as the policy names it.")
@click.option(
    "--table",
    required=True,
    help="Table whose key is asked about, as the policy names it (schema.table too).",
)
@click.option("--key", "key_text", required=True, help="The primary key; a composite key as a JSON list.")
@click.option(
    "--entry", "seq", type=click.IntRange(min=1), default=None, help="The batch of this ledger entry."
)
@click.option(
    "--checkpoint",
    "checkpoint_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Anchor the proof in this signed checkpoint's tree (checked under the trusted key first).",
)
@click.option("--public-key", default=None, metavar="KEY", help=_PUBLIC_KEY_HELP)
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Write the proof here."
)
def prove(
    policy_path: Path,
    store: str,
    table: str,
    key_text: str,
    seq: int | None,
    checkpoint_file: Path | None,
    public_key: str | None,
    out: Path | None,
) -> None:
    """Find the batch that deleted or anonymised one key and print its inclusion proof (JSON).

    The leaf is recomputed under LETHE_MASTER_KEY and searched in the store's journal; the latest batch
    holding it is proved (or the one of --entry). Check the proof with `lethe ledger check-proof`, or with
    the offline procedure of docs/evidence.md. Exit 1, naming only the leaf, when no batch holds the key.
    """
    with _lethe_errors():
        settings = load_settings()
        master = settings.require_master_key()
        signed = None
        if checkpoint_file is not None:
            signed = read_checkpoint(checkpoint_file)
            check_signature(signed, trusted_key(settings, _key_text(public_key)))
        policy = load_policy(policy_path)
        with Stores(policy) as stores:
            key = parse_key(key_text, stores.table(TableRef(store=store, table=table)))
            proof, others = prove_key(
                Ledger.from_settings(settings), stores.engine(store), store=store, table=table, key=key,
                master_key=master, seq=seq, checkpoint=signed,
            )  # fmt: skip
        if out is None:
            click.echo(proof.to_json(), nl=False)
        else:
            try:
                out.write_text(proof.to_json(), encoding="utf-8")
            except OSError as exc:
                raise ParameterError(f"cannot write {out} ({type(exc).__name__})") from None
        click.echo(
            f"proved: {store}.{table} leaf {proof.leaf.hex()} in ledger entry {proof.seq} (rule {proof.rule}, "
            f"{proof.recorded_at}, journal {proof.journal}), anchored at {proof.ledger_size} entries",
            err=True,
        )
        if others:
            click.echo(
                f"also in the batches of entries {', '.join(map(str, others))} (--entry SEQ)", err=True
            )


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
