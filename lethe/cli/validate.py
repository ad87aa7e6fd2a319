"""``lethe validate``: does the policy fit the live databases, and what personal data does it miss?"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from lethe.cli.common import emit_json, handle_errors
from lethe.dpia.coverage import DEFAULT_SAMPLE, CoverageFinding, scan_coverage, undeclared
from lethe.policy.loading import load_policy
from lethe.policy.model import Policy
from lethe.stores.checks import Finding
from lethe.stores.engines import Stores
from lethe.validation.policy import validate_policy


def run_validation(
    policy: Policy, *, coverage: bool = True, sample_size: int = DEFAULT_SAMPLE
) -> tuple[list[Finding], list[CoverageFinding]]:
    """Schema findings, and the coverage scan when the schema check found no unreachable store."""
    with Stores(policy) as stores:
        findings = validate_policy(policy, stores)
        unreachable = any(f.code == "store-unreachable" for f in findings)
        scan = scan_coverage(policy, stores, sample_size=sample_size) if coverage and not unreachable else []
    return findings, scan


def print_report(policy: Policy, findings: list[Finding], scan: list[CoverageFinding]) -> None:
    """Human-readable report of schema findings and coverage gaps."""
    errors = [f for f in findings if f.severity == "error"]
    click.echo(f"policy {policy.source} (sha256 {policy.hash[:12]})")
    click.echo(
        f"  {len(policy.stores)} store(s), {len(policy.data_map)} mapped table(s), "
        f"{len(policy.retention)} retention rule(s), {len(policy.activities)} activit(y/ies)"
    )
    if not findings:
        click.echo(click.style("schema: the policy fits the database", fg="green"))
    for finding in findings:
        colour = {"error": "red", "warning": "yellow"}.get(finding.severity)
        click.echo(
            click.style(
                f"{finding.severity:7} {finding.code:24} {finding.where}: {finding.message}", fg=colour
            )
        )
    gaps = undeclared(scan)
    if scan:
        declared = len(scan) - len(gaps)
        click.echo(
            f"coverage: {len(scan)} personal-looking column(s), {declared} declared, {len(gaps)} not declared"
        )
        for gap in gaps:
            click.echo(
                f"  undeclared {gap.where:40} looks like {gap.kind:14} (by {gap.evidence}, "
                f"{gap.matched}/{gap.sampled} sampled) -> category {gap.suggested_category}"
            )
    click.echo(
        click.style(
            "valid" if not errors else f"invalid: {len(errors)} error(s)", fg="red" if errors else "green"
        )
    )


@click.command(short_help="Check a policy and scan for undeclared personal data")
@click.argument("policy_path", metavar="POLICY", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON report for machines.")
@click.option("--no-coverage", is_flag=True, help="Skip the scan for undeclared personal data.")
@click.option(
    "--sample", "sample_size", default=DEFAULT_SAMPLE, show_default=True, help="Values sampled per column."
)
@click.option(
    "--strict", is_flag=True, help="Also fail (exit 2) when personal-looking columns are undeclared."
)
@handle_errors
def validate(policy_path: Path, as_json: bool, no_coverage: bool, sample_size: int, strict: bool) -> None:
    """Check POLICY against the live schemas and report undeclared personal data.

    Exit 0 when the policy fits every store, 2 when it does not (or, with --strict, when the coverage
    scan finds undeclared personal-looking columns), 3 when a store cannot be reached.
    """
    policy = load_policy(policy_path)
    findings, scan = run_validation(policy, coverage=not no_coverage, sample_size=sample_size)
    errors = [f for f in findings if f.severity == "error"]
    failed = bool(errors) or (strict and bool(undeclared(scan)))
    if as_json:
        emit_json(
            {
                "policy": policy.source,
                "policy_hash": policy.hash,
                "valid": not failed,
                "findings": findings,
                "coverage": scan,
            }
        )
    else:
        print_report(policy, findings, scan)
    if any(f.code == "store-unreachable" for f in errors):
        sys.exit(3)
    if failed:
        sys.exit(2)
