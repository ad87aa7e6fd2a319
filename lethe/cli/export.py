"""``lethe export`` and ``lethe export decrypt``: the access and portability export of one data subject.

Passphrases are never taken as command-line arguments: arguments are kept in shell history and shown to
every user of the machine by ``ps``. They come from the environment variable ``--passphrase-env`` names
(set it from a secret store), or from a hidden prompt on a terminal.
"""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

import click

from lethe.cli.common import emit_json, handle_errors
from lethe.cli.requests import parse_instant
from lethe.errors import SettingsError, SubjectError
from lethe.ledger.chain import Ledger
from lethe.policy.loading import load_policy
from lethe.policy.model import Policy
from lethe.requests.export.archive import export_subject
from lethe.requests.export.crypto import check_passphrase, decrypt_file
from lethe.requests.register import EXPORT_TYPES
from lethe.settings import load_settings
from lethe.stores.engines import Stores
from lethe.validation.policy import require_valid


def read_passphrase(env_var: str | None, *, prompt: bool, confirm: bool) -> str | None:
    """The passphrase from ``$env_var``, else from a hidden prompt when ``prompt`` (terminal only)."""
    if env_var:
        value = os.environ.get(env_var)
        if not value:
            raise SettingsError(f"the environment variable {env_var} (--passphrase-env) is not set or empty")
        return value
    if not prompt:
        return None
    if not sys.stdin.isatty():
        raise SettingsError(
            "a passphrase is needed: pass --passphrase-env VAR, or run on a terminal to be asked"
        )
    text: str = click.prompt("passphrase", hide_input=True, confirmation_prompt=confirm)
    return text


def subject_kind(policy: Policy, name: str | None) -> str:
    """``--subject-type``, defaulting to the policy's only kind of subject."""
    if name is not None:
        return name
    if len(policy.subjects) == 1:
        return next(iter(policy.subjects))
    kinds = ", ".join(sorted(policy.subjects)) or "none"
    raise SubjectError(
        f"the policy defines several kinds of subject ({kinds}): choose one with --subject-type"
    )


_passphrase_env = click.option(
    "--passphrase-env",
    metavar="VAR",
    help="Read the passphrase from this environment variable (never from the command line).",
)


@click.group(invoke_without_command=True, short_help="Export a data subject's data (Art. 15 and 20)")
@click.option("--policy", "policy_path", type=click.Path(dir_okay=False, path_type=Path), help="Policy file.")
@click.option("--subject-type", help="Kind of subject (default: the policy's only one).")
@click.option("--subject", "identifier", help="The subject's key or a lookup value such as the email.")
@click.option(
    "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), help="Folder for the zip."
)
@click.option("--encrypt", is_flag=True, help="Encrypt with a passphrase (asked on the terminal).")
@_passphrase_env
@click.option(
    "--request-type",
    type=click.Choice(EXPORT_TYPES),
    default="access",
    show_default=True,
    help="The request it answers: access (Art. 15) or portability (Art. 20).",
)
@click.option("--received", help="When the request was received (ISO 8601 date or instant); default now.")
@click.option(
    "--request",
    "request_id",
    metavar="ID",
    help="Continue this open request (an id `lethe requests` lists); default: the subject's open export "
    "request, else a new one.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@click.pass_context
@handle_errors
def export(
    ctx: click.Context,
    policy_path: Path | None,
    subject_type: str | None,
    identifier: str | None,
    out_dir: Path | None,
    encrypt: bool,
    passphrase_env: str | None,
    request_type: str,
    received: str | None,
    request_id: str | None,
    as_json: bool,
) -> None:
    """Export every row of one data subject, with the Art. 15(1) facts, into one zip (Art. 15 and 20).

    The zip holds data.json (with its JSON Schema), one CSV per table, a readable index.html and a
    manifest with SHA-256 sums. With --encrypt or --passphrase-env it is encrypted (AES-256-GCM, key from
    scrypt); `lethe export decrypt FILE --out DIR` decrypts it. The export is registered as a request
    (`lethe requests` tracks its one-month deadline); a failed attempt leaves it open and the next export
    of the subject closes it. An unknown or ambiguous identifier is refused (exit 2) and recorded in the
    ledger.
    """
    if ctx.invoked_subcommand is not None:
        return
    missing = [
        o for o, v in (("--policy", policy_path), ("--subject", identifier), ("--out", out_dir)) if not v
    ]
    if missing:
        raise click.UsageError(f"missing {', '.join(missing)} (see lethe export --help)")
    assert policy_path is not None and identifier is not None and out_dir is not None
    policy = load_policy(policy_path)
    kind = subject_kind(policy, subject_type)
    received_at = parse_instant(received)
    passphrase = read_passphrase(passphrase_env, prompt=encrypt, confirm=True)
    if passphrase is not None:
        check_passphrase(passphrase)  # before the policy is validated against the databases
    settings = load_settings()
    settings.require_master_key()
    ledger = Ledger.from_settings(settings)
    with Stores(policy) as stores:
        require_valid(policy, stores)
        result = export_subject(
            policy,
            stores,
            kind,
            identifier,
            out_dir,
            settings=settings,
            ledger=ledger,
            run_id=str(uuid.uuid4()),
            passphrase=passphrase,
            request_type=request_type,
            request_id=request_id,
            received_at=received_at,
        )
    if as_json:
        emit_json(result)
        return
    click.echo(f"wrote {result.path}{' (encrypted)' if result.encrypted else ''}")
    for table, count in result.counts.items():
        click.echo(f"  {table:40} {count:>8,} row(s)")
    click.echo(
        f"sha256 {result.sha256}; request {result.request_id}, run {result.run_id}: recorded in the ledger"
    )
    for table in result.unreachable:
        click.echo(f"warning: {table} is declared for {kind} but no foreign key reaches it", err=True)


@export.command(short_help="Decrypt an encrypted export (.zip.enc)")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@_passphrase_env
@handle_errors
def decrypt(file: Path, out_dir: Path, passphrase_env: str | None) -> None:
    """Decrypt an encrypted export FILE (.zip.enc) into the folder --out."""
    passphrase = read_passphrase(passphrase_env, prompt=True, confirm=False)
    assert passphrase is not None
    click.echo(f"wrote {decrypt_file(file, passphrase, out_dir)}")
