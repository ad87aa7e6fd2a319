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
from lethe.loading import load_policy
from lethe.ropa import build_ropa
from lethe.ropa_render import render_html
from lethe.settings import load_settings

EXPORTS = DEMO_DIR / "exports"
DPIA = DEMO_DIR / "dpia"
ROPA = DEMO_DIR / "ropa.html"
# Customer 1 is active (kept by retention) and not on legal hold; customer 2 asks to be erased.
EXPORTED, ERASED = "1", "2"


def main() -> None:
    """Seed, validate, plan; then retention, a subject's export and erasure, the RoPA and the DPIA."""
    demo.main(args=sys.argv[1:], standalone_mode=False)
    demo_environment()
    os.environ.setdefault("PREFECT_HOME", str(Path(DEMO_DIR, "prefect").resolve()))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # Imported after PREFECT_HOME is set: Prefect reads its settings at import.
    from flows.dpia import dpia_flow
    from flows.erasure import erasure_flow
    from flows.export import export_flow
    from flows.retention import retention_flow

    policy = str(DEMO_POLICY)
    step("4. retention flow (Prefect): delete and anonymise what expired, in verified batches")
    outcome = retention_flow(policy=policy, as_of=DEMO_AS_OF, approval_threshold=10_000_000)
    click.echo(f"  {outcome['applied']:,} rows handled of {outcome['pending']:,} planned")

    step(f"5. access request (Art. 15/20): export customer {EXPORTED}")
    exported = export_flow(subject_id=EXPORTED, policy=policy, out_dir=str(EXPORTS))
    click.echo(
        f"  {exported['outcome']}: {EXPORTS / exported['file']}" if "file" in exported else f"  {exported}"
    )

    step(f"6. erasure request (Art. 17): erase customer {ERASED}, as the policy says per table")
    erased = erasure_flow(subject_id=ERASED, policy=policy, dry_run=False)
    click.echo(f"  {erased['outcome']}, verified: {erased.get('verified')}")
    for table, what in erased.get("tables", {}).items():
        click.echo(f"    {table}: {what}")

    step("7. record of processing activities (Art. 30)")
    ROPA.write_text(render_html(build_ropa(load_policy(policy))), encoding="utf-8")
    click.echo(f"  {ROPA}")

    step("8. DPIA flow: checks in the database (Great Expectations), risk register, report")
    checks = dpia_flow(policy=policy, out_dir=str(DPIA), as_of=DEMO_AS_OF)
    click.echo(
        f"  {checks['passed']} passed, {checks['failed']} failed, {checks['errors']} errors: {DPIA / 'dpia.html'}"
    )

    step("9. evidence ledger")
    settings = load_settings()
    report = Ledger.from_settings(settings).verify()
    click.echo(
        f"  {settings.ledger_url}: {report.count} entries, chain {'verified' if report.ok else 'BROKEN'}"
    )
    click.echo("  inspect it: set -a; . var/demo/keys.env; set +a; .venv/bin/lethe ledger show")


if __name__ == "__main__":
    main()
