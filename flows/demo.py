"""``make demo``: the core steps of ``lethe demo``, then the Prefect flows on the demo store.

Runs in Prefect's ephemeral mode (no server needed); the run records land in var/demo/prefect.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from lethe.cli_demo import DEMO_AS_OF, DEMO_DIR, DEMO_POLICY, demo, demo_environment, step
from lethe.ledger import Ledger
from lethe.settings import load_settings


def main() -> None:
    """Seed, validate, plan; then enforce retention through the Prefect flow and check the ledger."""
    demo.main(args=sys.argv[1:], standalone_mode=False)
    demo_environment()
    os.environ.setdefault("PREFECT_HOME", str(Path(DEMO_DIR, "prefect").resolve()))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # Imported after PREFECT_HOME is set: Prefect reads its settings at import.
    from flows.retention import retention_flow

    step("4. retention flow (Prefect): delete and anonymise what expired, in verified batches")
    outcome = retention_flow(policy=str(DEMO_POLICY), as_of=DEMO_AS_OF, approval_threshold=10_000_000)
    click.echo(f"  {outcome['applied']:,} rows handled of {outcome['pending']:,} planned")

    step("5. evidence ledger")
    settings = load_settings()
    report = Ledger.from_settings(settings).verify()
    click.echo(
        f"  {settings.ledger_url}: {report.count} entries, chain {'verified' if report.ok else 'BROKEN'}"
    )
    click.echo("  inspect it: set -a; . var/demo/keys.env; set +a; .venv/bin/lethe ledger show")
    click.echo("  run it again: nothing is left to do, and the ledger records that too")


if __name__ == "__main__":
    main()
