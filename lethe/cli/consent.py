"""``lethe consent``: the consent report (Art. 7), and honouring withdrawn consent (Art. 7(3))."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import click

from lethe.cli.common import emit_json, handle_errors
from lethe.consent.report import consent_report, render_text
from lethe.consent.withdrawal import honour_withdrawals
from lethe.ledger.chain import Ledger
from lethe.policy.loading import load_policy
from lethe.settings import load_settings
from lethe.stores.engines import Stores

EXIT_NOT_HONOURED = 5  # as VerificationError: a post-condition (withdrawals honoured) does not hold
POLICY = click.argument("policy_path", metavar="POLICY", type=click.Path(dir_okay=False, path_type=Path))


@click.group(short_help="Consent records: report, honour withdrawals")
def consent() -> None:
    """Consent records (GDPR Art. 7), as the policy's `consent:` block declares them."""


@consent.command(short_help="Counts per purpose and notice; withdrawals honoured?")
@POLICY
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@handle_errors
def report(policy_path: Path, as_json: bool) -> None:
    """Count consents given, holding and withdrawn per purpose and notice version, and show per purpose
    that the data processed only under a withdrawn consent is gone or restricted (counts only).

    Exit 5 when a purpose's withdrawals are not honoured.
    """
    policy = load_policy(policy_path)
    with Stores(policy) as stores:
        result = consent_report(policy, stores)
    if as_json:
        emit_json({"report": result, "honoured": result.honoured})
    else:
        for line in render_text(result):
            click.echo(line)
    if not result.honoured:
        sys.exit(EXIT_NOT_HONOURED)


@consent.command(short_help="Erase or restrict what withdrawn consent covered")
@POLICY
@click.option("--purpose", "purposes", multiple=True, help="Only this purpose (repeatable); default: all.")
@click.option("--dry-run", is_flag=True, help="Count what would change; change nothing, record nothing.")
@handle_errors
def honour(policy_path: Path, purposes: tuple[str, ...], dry_run: bool) -> None:
    """For every subject whose consent for a purpose is withdrawn, erase or restrict the data processed only
    under it, as the policy says; one ledger entry per purpose (counts and keyed fingerprints)."""
    policy = load_policy(policy_path)
    settings = load_settings()
    ledger = None if dry_run else Ledger.from_settings(settings)
    with Stores(policy) as stores:
        result = honour_withdrawals(
            policy, stores, settings, ledger=ledger, run_id=str(uuid.uuid4()), purposes=list(purposes),
            dry_run=dry_run,
        )  # fmt: skip
    verb = "would" if dry_run else "did"
    for o in result.purposes:
        rows = ", ".join(f"{t}: {n} row(s)" for t, n in o.rows.items()) or "no rows"
        click.echo(
            f"{o.purpose}: {o.withdrawn_subjects} withdrawn subject(s); {o.action} {verb} handle "
            f"{o.handled_subjects} subject(s) ({rows}; {o.restricted} restriction(s))"
        )
    if not dry_run:
        click.echo(f"run {result.run_id}: recorded in the ledger")
