"""``lethe demo``: seed the demo shop into SQLite and run everything Lethe can do on it, step by step."""

from __future__ import annotations

import os
import secrets
import uuid
from datetime import UTC, datetime
from pathlib import Path

import click

from lethe.cli_common import handle_errors
from lethe.cli_validate import print_report, run_validation
from lethe.coverage import undeclared
from lethe.demo import DemoSpec, seed
from lethe.ledger import Ledger, LedgerEntry
from lethe.loading import load_policy
from lethe.settings import load_settings
from lethe.stores import create_store_engine

DEMO_DIR = Path("var/demo")
KEYS_FILE = DEMO_DIR / "keys.env"
DEMO_KEYS = ("LETHE_LEDGER_KEY", "LETHE_MASTER_KEY")


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


def _step(title: str) -> None:
    click.echo(click.style(f"\n== {title}", bold=True))


@click.command()
@click.option(
    "--policy", "policy_path", default="config/demo.yaml", show_default=True, type=click.Path(path_type=Path)
)
@click.option("--customers", default=5000, show_default=True, help="Size of the demo shop.")
@click.option("--reseed", is_flag=True, help="Seed again even when the demo database exists.")
@handle_errors
def demo(policy_path: Path, customers: int, reseed: bool) -> None:
    """Seed the demo shop (SQLite under var/demo/) and run Lethe's jobs on it."""
    ensure_demo_keys()
    settings = load_settings()
    started = datetime.now(UTC)
    database = DEMO_DIR / "shop.db"
    os.environ.setdefault("LETHE_DEMO_URL", f"sqlite:///{database}")

    _step("1. demo store")
    if reseed or not database.exists():
        spec = DemoSpec(customers=customers)
        engine = create_store_engine(os.environ["LETHE_DEMO_URL"])
        with click.progressbar(length=customers, label="seeding customers", file=None) as bar:
            counts = seed(engine, spec, progress=lambda done, _total: bar.update(done - bar.pos))
        engine.dispose()
        click.echo("  " + ", ".join(f"{table} {n:,}" for table, n in counts.items()))
    else:
        click.echo(f"  using {database} (pass --reseed to start over)")

    _step(f"2. validate {policy_path} against the schema, and scan for undeclared personal data")
    policy = load_policy(policy_path)
    findings, scan = run_validation(policy)
    print_report(policy, findings, scan)

    _step("3. evidence ledger")
    ledger = Ledger.from_settings(settings)
    errors = [f for f in findings if f.severity == "error"]
    ledger.append(
        LedgerEntry(
            run_id=str(uuid.uuid4()),
            flow="demo.validate",
            policy_hash=policy.hash,
            action="validate",
            outcome="valid" if not errors else "invalid",
            started_at=started,
            ended_at=datetime.now(UTC),
            counts={"errors": len(errors), "findings": len(findings), "undeclared": len(undeclared(scan))},
        )
    )
    report = ledger.verify()
    click.echo(
        f"  ledger {settings.ledger_url}: {report.count} entries, chain {'OK' if report.ok else 'BROKEN'}"
    )
    click.echo("  see it with: .venv/bin/lethe ledger show   (keys in var/demo/keys.env for the demo only)")
