"""``lethe breach``: open a personal data breach (Art. 33), and record the Art. 34 decision."""

from __future__ import annotations

import uuid
from pathlib import Path

import click

from lethe.breach.assessment import ASSESSMENT_QUESTIONS
from lethe.breach.register import open_breach, record_assessment
from lethe.breach.scope import ScopeRequest
from lethe.cli.common import handle_errors, parse_instant
from lethe.cli.export import read_passphrase
from lethe.ledger.chain import Ledger
from lethe.policy.loading import load_policy
from lethe.settings import load_settings
from lethe.stores.engines import Stores

PASSPHRASE_ENV = "LETHE_BREACH_PASSPHRASE"
POLICY = click.argument("policy_path", metavar="POLICY", type=click.Path(dir_okay=False, path_type=Path))


def _names(values: tuple[str, ...]) -> tuple[str, ...]:
    """Repeated or comma-separated names."""
    return tuple(name.strip() for value in values for name in value.split(",") if name.strip())


@click.group(short_help="Data breaches: open one, record the Art. 34 decision")
def breach() -> None:
    """Personal data breaches (GDPR Arts. 33 and 34)."""


@breach.command("open", short_help="Open a breach: register entry, scope, Art. 33 drafts")
@POLICY
@click.option("--stores", multiple=True, help="Stores reached (repeatable or comma-separated).")
@click.option("--tables", multiple=True, help="Tables reached, as store.table.")
@click.option("--columns", multiple=True, help="Columns reached, as store.table.column.")
@click.option("--from", "from_", help="When the breach started (ISO 8601).")
@click.option("--to", help="When it ended (ISO 8601).")
@click.option("--aware-at", help="When you became aware of it (starts the 72 hours); default now.")
@click.option("--description", default="", help="What happened (no personal data: it goes into the drafts).")
@click.option("--out", "out_dir", default="var/breaches", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--passphrase-env", metavar="VAR", default=PASSPHRASE_ENV, show_default=True,
    help="Environment variable holding the passphrase of the encrypted contact list.",
)  # fmt: skip
@handle_errors
def open_command(
    policy_path: Path,
    stores: tuple[str, ...],
    tables: tuple[str, ...],
    columns: tuple[str, ...],
    from_: str | None,
    to: str | None,
    aware_at: str | None,
    description: str,
    out_dir: Path,
    passphrase_env: str,
) -> None:
    """Open a breach register entry (Art. 33(5)) in the ledger: its scope from the data map (categories,
    special categories, approximate subjects and records: counts only), the Art. 33 notification drafts
    (Markdown and HTML) with the gaps to fill, and the affected subjects' contact points, encrypted."""
    policy = load_policy(policy_path)
    settings = load_settings()
    request = ScopeRequest(
        _names(stores), _names(tables), _names(columns),
        parse_instant(from_, "--from", allow_future=False), parse_instant(to, "--to", allow_future=False),
    )  # fmt: skip
    aware = parse_instant(aware_at, "--aware-at", allow_future=False)
    passphrase = read_passphrase(passphrase_env, prompt=False, confirm=False) if passphrase_env else None
    with Stores(policy) as opened:
        result = open_breach(
            policy, opened, ledger=Ledger.from_settings(settings), request=request, description=description,
            out_dir=out_dir, run_id=str(uuid.uuid4()), passphrase=passphrase, aware_at=aware,
        )  # fmt: skip
    scope = result.scope
    click.echo(
        f"breach {result.breach_id} recorded in the ledger; notify the authority by {result.due.isoformat()}"
    )
    click.echo(
        f"start its clock: flow breach-clock, breach_id={result.breach_id}, aware_at={result.aware_at.isoformat()}"
    )
    click.echo(
        f"scope: {len(scope.tables)} table(s), ~{scope.subjects} subject(s), ~{scope.records} record(s), "
        f"{len(scope.special_categories)} special categor(y/ies)"
    )
    click.echo(f"drafts: {result.folder}")
    if result.contacts:
        click.echo(f"contact list (encrypted): {result.contacts}")
    click.echo(f"{len(result.gaps)} gap(s) to fill (listed at the top of the drafts)")


@breach.command(short_help="Record the Art. 34 decision: tell the subjects?")
@POLICY
@click.argument("breach_id")
@click.option("--high-risk/--no-high-risk", default=None, help=ASSESSMENT_QUESTIONS["high_risk"])
@click.option("--unintelligible/--intelligible", default=None, help=ASSESSMENT_QUESTIONS["unintelligible"])
@click.option(
    "--risk-contained/--risk-not-contained", default=None, help=ASSESSMENT_QUESTIONS["risk_contained"]
)
@click.option(
    "--disproportionate/--proportionate", default=None, help=ASSESSMENT_QUESTIONS["disproportionate"]
)
@handle_errors
def assess(
    policy_path: Path,
    breach_id: str,
    high_risk: bool | None,
    unintelligible: bool | None,
    risk_contained: bool | None,
    disproportionate: bool | None,
) -> None:
    """Answer the Art. 34 questions for BREACH_ID; print and record the recommendation."""
    policy = load_policy(policy_path)
    given = dict(
        high_risk=high_risk, unintelligible=unintelligible, risk_contained=risk_contained,
        disproportionate=disproportionate,
    )  # fmt: skip
    answers = {k: v for k, v in given.items() if v is not None}
    result = record_assessment(
        policy, ledger=Ledger.from_settings(load_settings()), breach_id=breach_id, answers=answers,
        run_id=str(uuid.uuid4()),
    )  # fmt: skip
    click.echo(f"{result.recommendation}: {result.reason}")
