"""``lethe replay``: re-apply journalled erasures and retention changes to a store restored from a backup."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from lethe.cli.common import emit_json, handle_errors, parse_instant
from lethe.errors import LetheError, ParameterError
from lethe.ledger.chain import Ledger
from lethe.policy.loading import load_policy
from lethe.replay import ReplayResult, replay
from lethe.settings import load_settings
from lethe.stores.engines import Stores
from lethe.validation.policy import require_valid


def print_replay(result: ReplayResult) -> None:
    """Counts per table: rows whose leaf a journal row holds, changed again, already handled, absent."""
    click.echo(f"{'table':36} {'scanned':>9} {'matched':>9} {'applied':>9} {'already':>9} {'absent':>8}")
    for t in result.tables:
        click.echo(
            f"{t.store + '.' + t.table:36} {t.scanned:>9,} {t.matched:>9,} {t.applied:>9,} {t.already:>9,} "
            f"{t.absent:>8,}"
        )
        for child, n in t.children.items():
            click.echo(f"{'':38}+ {child:24} {n:>9,}")
    for kind, n in result.skipped.items():
        click.echo(f"not replayed: {n} journal row(s) of {kind} (their new values are not journalled)")
    verb = "would be changed again (dry run, nothing changed)" if result.dry_run else "changed again"
    click.echo(
        f"{result.records} journal row(s) since {result.since.isoformat()}: {result.applied:,} row(s) {verb}, "
        f"{result.already:,} already handled; run {result.run_id}"
    )


@click.command(short_help="Re-apply erasures and retention after a restore")
@click.argument("policy_path", metavar="POLICY", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--since", required=True, help="When the backup was taken (ISO 8601 with zone, or a date).")
@click.option("--store", "stores", multiple=True, help="Only this store (repeatable); default all.")
@click.option("--dry-run", is_flag=True, help="Count what would be changed again; change nothing.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@handle_errors
def replay_command(
    policy_path: Path, since: str, stores: tuple[str, ...], dry_run: bool, yes: bool, as_json: bool
) -> None:
    """Re-apply every erasure and retention delete or anonymisation journalled since --since.

    After restoring a store from a backup taken at T, `lethe replay POLICY --since T` finds the journal rows
    made since T (in the ledger database's lethe_leaves, which the restore did not touch, and in the restored
    journal), reads the restored tables' primary keys, and changes again the rows whose keyed leaves those
    rows hold. Rows already handled are left alone. Journalled and recorded in the ledger; a dry run counts
    only. Exit 2 for a --since in the future, an unknown store, or journal rows the policy no longer explains.
    """
    moment = parse_instant(since, "--since", allow_future=False)
    if moment is None:
        raise ParameterError("--since is required")
    policy = load_policy(policy_path)
    settings = load_settings()
    settings.require_master_key()
    ledger = Ledger.from_settings(settings)
    with Stores(policy) as opened:
        require_valid(policy, opened)
        if not dry_run and not yes:
            if not sys.stdin.isatty():
                raise LetheError(
                    "refusing to change data without confirmation: run on a terminal or pass --yes"
                )
            plan = replay(policy, opened, settings, ledger, since=moment, store_names=stores, dry_run=True)
            print_replay(plan)
            click.confirm("apply these changes?", abort=True)
        result = replay(policy, opened, settings, ledger, since=moment, store_names=stores, dry_run=dry_run)
    if as_json:
        emit_json(result)
    else:
        print_replay(result)
