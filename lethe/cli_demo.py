"""``lethe demo``: seed the demo shop into SQLite, validate the demo policy against it, show the plan.

``make demo`` runs this first, then the Prefect flows on the same store (``flows/demo.py``); this command
is the part that needs no orchestrator. The demo judges expiry at the instant the data was generated for
(``DemoSpec.as_of``), so its figures are the same on every machine and every day.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import click

from lethe.cli_common import handle_errors
from lethe.cli_retention import print_plans
from lethe.cli_validate import print_report, run_validation
from lethe.demo import DemoSpec, seed
from lethe.errors import SchemaMismatchError
from lethe.loading import load_policy
from lethe.retention import RetentionRun, plan_rule
from lethe.settings import load_settings
from lethe.stores import Stores, create_store_engine

DEMO_DIR = Path("var/demo")
DEMO_DATABASE = DEMO_DIR / "shop.db"
DEMO_POLICY = Path("config/demo.yaml")
KEYS_FILE = DEMO_DIR / "keys.env"
DEMO_KEYS = ("LETHE_LEDGER_KEY", "LETHE_MASTER_KEY")
DEMO_AS_OF = DemoSpec().as_of


def ensure_demo_keys(path: Path = KEYS_FILE) -> None:
    """Load the demo's keys into the environment, creating random ones in a git-ignored file once.

    Keys never come from code: a real deployment sets them from its secret store. The demo keeps its own
    so that re-runs can verify the ledger written by earlier runs.
    """
    if all(os.environ.get(name) for name in DEMO_KEYS):
        return
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"{name}={secrets.token_hex(32)}\n" for name in DEMO_KEYS))
        path.chmod(0o600)
    for line in path.read_text().splitlines():
        name, _, value = line.partition("=")
        if name in DEMO_KEYS:
            os.environ.setdefault(name, value.strip())


def demo_environment() -> None:
    """Keys, and the demo store's URL for config/demo.yaml."""
    ensure_demo_keys()
    os.environ.setdefault("LETHE_DEMO_URL", f"sqlite:///{DEMO_DATABASE}")


def repeat_plan_command(policy_path: Path) -> str:
    """The command that repeats the demo's plan: ``lethe retention plan`` at the demo's instant.

    Without ``--as-of`` a plan is judged now, so rows that expired since the demo's instant would show as
    pending too; the demo prints this so that a newcomer who repeats it sees the same figures.
    """
    return f"lethe retention plan {policy_path} --as-of {DEMO_AS_OF.isoformat()}"


def step(title: str) -> None:
    """Print a step heading."""
    click.echo(click.style(f"\n== {title}", bold=True))


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
        run = RetentionRun(policy, stores, load_settings(), DEMO_AS_OF)
        print_plans([plan_rule(run, rule) for rule in policy.retention])
    click.echo(f"  the same plan: {repeat_plan_command(policy_path)}")
    click.echo("  (without --as-of a plan is judged now, and rows that expired since then are pending too)")
