"""``lethe processor end-contract``: return, then delete, one controller's data (Art. 28(3)(g))."""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from lethe.cli.common import emit_json, handle_errors
from lethe.errors import LetheError, SettingsError
from lethe.ledger.chain import Ledger
from lethe.policy.loading import load_policy
from lethe.processor.contract import ContractEnd, end_contract, plan_contract_end
from lethe.retention.run import RetentionRun
from lethe.settings import load_settings
from lethe.stores.engines import Stores
from lethe.validation.policy import require_valid


@click.group(short_help="Duties of a processor (Art. 28)")
def processor() -> None:
    """Duties of a processor towards the controllers it works for (policy `role: processor`)."""


def _print(done: ContractEnd, dry_run: bool) -> None:
    click.echo(f"{'table':32} {'rows':>9}")
    for table, rows in done.plan.counts.items():
        click.echo(f"{table:32} {rows:>9,}")
    if dry_run:
        click.echo(f"controller {done.plan.controller}: nothing has been exported nor deleted (dry run)")
        return
    assert done.export is not None and done.certificate is not None
    click.echo(f"returned: {done.export.path} (sha256 {done.export.sha256})")
    click.echo(
        f"deleted: {sum(done.certificate.deleted_rows.values()):,} row(s); certificate {done.certificate.file} "
        f"(ledger entry {done.certificate.ledger_seq})"
    )


@processor.command("end-contract", short_help="Export, then delete, one controller's data; certify it")
@click.argument("policy_path", metavar="POLICY", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--controller", required=True, help="The controller, as named under processor.controllers.")
@click.option(
    "--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
    help="Folder of the encrypted export and the deletion certificate.",
)  # fmt: skip
@click.option("--dry-run", is_flag=True, help="Count the controller's rows per table; change nothing.")
@click.option(
    "--passphrase-env",
    help="Read the export's passphrase from this environment variable (default LETHE_CONTRACT_PASSPHRASE).",
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@handle_errors
def end_contract_command(
    policy_path: Path,
    controller: str,
    out_dir: Path,
    dry_run: bool,
    passphrase_env: str | None,
    yes: bool,
    as_json: bool,
) -> None:
    """Return all of one controller's data as an encrypted export, then delete it, then certify the deletion.

    The export (AES-256-GCM, key from the passphrase by scrypt; `lethe export decrypt` opens it) holds every
    row of every table with a controller column. The deletion runs in journalled batches, table by table,
    and only after the export is written and recorded and still holds every row. The certificate (counts per
    table, the export's SHA-256, times) goes to the ledger and to a JSON file in --out. Exit 2 (nothing
    changed) for an unknown controller, a missing passphrase, or data changed since the export.
    """
    policy = load_policy(policy_path)
    settings = load_settings()
    passphrase = settings.contract_passphrase
    if passphrase_env:
        passphrase = os.environ.get(passphrase_env) or None
        if passphrase is None:
            raise SettingsError(
                f"the environment variable {passphrase_env} (--passphrase-env) is not set or empty"
            )
    with Stores(policy) as stores:
        require_valid(policy, stores)
        if dry_run:
            run = RetentionRun(policy, stores, settings, _now(), flow="contract_end")
            done = end_contract(run, controller, out_dir, passphrase=None, dry_run=True)
        else:
            settings.require_master_key()
            run = RetentionRun(
                policy, stores, settings, _now(), ledger=Ledger.from_settings(settings), flow="contract_end"
            )
            plan = plan_contract_end(policy, stores, controller)
            if not yes:
                if not sys.stdin.isatty():
                    raise LetheError(
                        "refusing to delete without confirmation: run on a terminal or pass --yes"
                    )
                click.echo(
                    f"{sum(plan.counts.values()):,} row(s) of {controller} will be exported then deleted"
                )
                click.confirm("go on?", abort=True)
            done = end_contract(run, controller, out_dir, passphrase=passphrase)
    if as_json:
        emit_json(
            {
                "controller": controller,
                "dry_run": dry_run,
                "tables": done.plan.counts,
                "export": None
                if done.export is None
                else {"file": str(done.export.path), "sha256": done.export.sha256},
                "certificate": done.certificate,
            }
        )
    else:
        _print(done, dry_run)


def _now() -> datetime:
    return datetime.now(UTC)
