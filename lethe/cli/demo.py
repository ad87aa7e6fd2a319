"""``lethe demo``: seed the demo shop into SQLite, validate the demo policy against it, show the plan.

``make demo`` runs this first, then the Prefect flows on the same store (``flows/demo.py``); this command
is the part that needs no orchestrator. The demo judges expiry at the instant the data was generated for
(``DemoSpec.as_of``), so its figures are the same on every machine and every day.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from lethe.cli.common import handle_errors
from lethe.cli.retention import print_plans
from lethe.cli.validate import print_report, run_validation
from lethe.demo.seed import DemoSpec, seed
from lethe.demo.setup import (
    DEMO_AS_OF,
    DEMO_DATABASE,
    DEMO_POLICY,
    demo_environment,
    repeat_plan_command,
    step,
)
from lethe.errors import SchemaMismatchError
from lethe.policy.loading import load_policy
from lethe.requests.holds import access_holds
from lethe.retention.plan import plan_rule
from lethe.retention.run import RetentionRun
from lethe.settings import load_settings
from lethe.stores.engines import Stores, create_store_engine


def seed_demo(customers: int, reseed: bool) -> None:
    """Seed the demo store unless it exists (or ``reseed``)."""
    if DEMO_DATABASE.exists() and not reseed:
        click.echo(f"  using {DEMO_DATABASE} (pass --reseed to start over)")
        return
    engine = create_store_engine(os.environ["LETHE_DEMO_URL"])
    try:
        with click.progressbar(length=customers, label="  seeding customers") as bar:
            counts = seed(
                engine, DemoSpec(customers=customers), progress=lambda done, _t: bar.update(done - bar.pos)
            )
    finally:
        engine.dispose()
    click.echo("  " + ", ".join(f"{table} {n:,}" for table, n in counts.items()))


@click.command(short_help="Seed the demo shop, validate its policy, show the plan")
@click.option(
    "--policy", "policy_path", default=str(DEMO_POLICY), show_default=True, type=click.Path(path_type=Path)
)
@click.option(
    "--customers", default=5000, show_default=True, type=click.IntRange(1), help="Size of the demo shop."
)
@click.option("--reseed", is_flag=True, help="Seed again even when the demo database exists.")
@handle_errors
def demo(policy_path: Path, customers: int, reseed: bool) -> None:
    """Seed the demo shop (SQLite under var/demo/), validate the demo policy, and show the retention plan."""
    demo_environment()
    step(f"1. demo store {DEMO_DATABASE}")
    seed_demo(customers, reseed)

    step(f"2. validate {policy_path} against the schema, and scan for undeclared personal data")
    policy = load_policy(policy_path)
    findings, scan = run_validation(policy)
    print_report(policy, findings, scan)
    if any(f.severity == "error" for f in findings):
        raise SchemaMismatchError("the demo policy does not fit the demo store")

    step(f"3. retention plan at {DEMO_AS_OF.isoformat()}, the instant the demo data was made for (a dry run)")
    with Stores(policy) as stores:
        settings = load_settings()
        run = RetentionRun(policy, stores, settings, DEMO_AS_OF, holds=access_holds(policy, stores, settings))
        print_plans([plan_rule(run, rule) for rule in policy.retention])
    click.echo(f"  the same plan: {repeat_plan_command(policy_path)}")
    click.echo("  (without --as-of a plan is judged now, and rows that expired since then are pending too)")
