"""``lethe dpia``: run the DPIA checks and write the report (HTML, JSON, Markdown)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from lethe.cli.common import emit_json, handle_errors
from lethe.cli.retention import parse_as_of
from lethe.dpia.checks import CheckRun, run_checks, summary
from lethe.dpia.report import write_report
from lethe.ledger.chain import Ledger
from lethe.policy.loading import load_policy
from lethe.settings import load_settings
from lethe.stores.engines import Stores

EXIT_FAILED = 5  # as VerificationError: a post-condition (here: a DPIA check) does not hold
_UNREACHABLE = ("StoreError", "TransientStoreError")


def exit_code(run: CheckRun) -> int:
    """0 all passed; 5 a check failed; 1 a check errored or went unevaluated (3 when stores were unreachable).

    Errors come before failures: an assessment that could not be completed is the more urgent problem.
    """
    errors = [r for r in run.results if r.status == "error"]
    if errors or not run.complete:
        unreachable = errors and all((r.error or "").startswith(_UNREACHABLE) for r in errors)
        return 3 if unreachable else 1
    return EXIT_FAILED if run.count("fail") else 0


def print_run(run: CheckRun) -> None:
    """One line per check, then the totals."""
    colours = {"pass": "green", "fail": "red", "error": "yellow"}
    for r in run.results:
        observed = ", ".join(f"{k}={v}" for k, v in r.observed.items())
        click.echo(click.style(f"{r.status:5}", fg=colours[r.status]) + f" {r.id:48} {observed}")
        if r.error:
            click.echo(f"      error: {r.error}")
    click.echo(
        f"{run.count('pass')} passed, {run.count('fail')} failed, {run.count('error')} errors; "
        f"{run.evaluated_count} of {run.expected_count} checks evaluated"
    )


@click.command(short_help="Run the DPIA checks of a policy and write the report")
@click.argument("policy_path", metavar="POLICY", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path), help="Report folder."
)
@click.option("--as-of", "as_of", help="Instant to judge retention at (ISO 8601 with zone); default now.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON for machines.")
@handle_errors
def dpia(policy_path: Path, out_dir: Path, as_of: str | None, as_json: bool) -> None:
    """Run the DPIA checks of POLICY and write dpia.html, dpia.json and dpia.md into --out.

    With LETHE_LEDGER_KEY set, the run is recorded in the evidence ledger and the report charts the
    backlog of expired rows from it. Exit 0 when every check passes, 5 when a check fails, 1 when a check
    errors or was not evaluated, 3 when the errors are stores that cannot be reached.
    """
    policy = load_policy(policy_path)
    settings = load_settings()
    ledger = Ledger.from_settings(settings) if settings.ledger_key is not None else None
    with Stores(policy) as stores:
        run = run_checks(policy, stores, settings, as_of=parse_as_of(as_of), ledger=ledger)
    files = write_report(run, policy, out_dir, ledger=ledger)
    if as_json:
        emit_json({**summary(run), "report": {k: str(v) for k, v in vars(files).items()}})
    else:
        print_run(run)
        if ledger is None:
            click.echo("LETHE_LEDGER_KEY not set: the run is not recorded and the backlog chart is empty")
        click.echo(f"report: {files.html}")
    sys.exit(exit_code(run))
