"""``make demo``: the core steps of ``lethe demo``, then the Prefect flows on the demo store.

Runs in Prefect's ephemeral mode (no server needed): Prefect starts a local server in a subprocess, and the
run records land in var/demo/prefect (unless ``PREFECT_HOME`` or ``PREFECT_API_URL`` say otherwise).
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from lethe.demo.restore import BACKUP, RESTORED, copy_database, data_digest, sqlite_path
from lethe.demo.setup import (
    DEMO_AS_OF,
    DEMO_DIR,
    DEMO_POLICY,
    demo_environment,
    repeat_plan_command,
    step,
)
from lethe.ledger.chain import Ledger
from lethe.ledger.verify import verify_ledger
from lethe.policy.loading import load_policy
from lethe.ropa.record import build_ropa
from lethe.ropa.render import render_html
from lethe.settings import load_settings

EXPORTS = DEMO_DIR / "exports"
DPIA = DEMO_DIR / "dpia"
ROPA = DEMO_DIR / "ropa.html"
# Customer 1 is active (kept by retention) and not on legal hold; customer 2 asks to be erased.
EXPORTED, ERASED = "1", "2"
# Seconds Prefect's local server may take to answer. Its default, 20 s, is too short on a busy machine: its
# first start (with database migrations) took 18-25 s at load 5 on 2 cores, and 142 s at load 9. A value the
# user set wins.
STARTUP_TIMEOUT_S = 300
TIMEOUT_VAR = "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"
EXIT_UNREACHABLE = 3  # as the CLI's "a store or the ledger unreachable"


def prefect_environment() -> None:
    """Prefect's settings for the demo, set before Prefect is imported (it reads them at import)."""
    os.environ.setdefault("PREFECT_HOME", str(Path(DEMO_DIR, "prefect").resolve()))  # never ~/.prefect
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault(TIMEOUT_VAR, str(STARTUP_TIMEOUT_S))


def start_prefect() -> None:
    """Start Prefect's local server (or reach ``PREFECT_API_URL``) before the first flow; exit 3 in one line.

    The flows reuse the server started here. Without this, a server that does not start in time surfaces as
    a 30-line traceback from inside the first flow call.
    """
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS

    remote, timeout = PREFECT_API_URL.value(), PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value()
    if not remote:
        click.echo(
            f"  starting Prefect's local server (a busy machine can take minutes; waiting up to {timeout} s)"
        )
    try:
        with get_client(sync_client=True) as client:
            problem = client.api_healthcheck()
    except Exception as exc:  # the local server did not answer in time, or could not start at all
        problem = exc
    if problem is None:
        return
    if remote:
        message = (
            f"the Prefect server named by PREFECT_API_URL does not answer ({type(problem).__name__}): "
            "start it, or unset PREFECT_API_URL to let the demo start its own"
        )
    else:
        message = (
            f"Prefect's local server did not start within {timeout} s (is the machine busy?): "
            f"run `make demo` again, or give it longer, e.g. `{TIMEOUT_VAR}=900 make demo`"
        )
    click.echo(f"error: {message}", err=True)
    sys.exit(EXIT_UNREACHABLE)


def main() -> None:
    """Seed, validate, plan; then retention, a subject's export and erasure, the RoPA and the DPIA."""
    # Steps 1-3 are `lethe demo` (seed, validate, plan), run as the command a user would type.
    seeded = subprocess.run([sys.executable, "-m", "lethe", "demo", *sys.argv[1:]], check=False)
    if seeded.returncode:
        sys.exit(seeded.returncode)
    demo_environment()
    prefect_environment()
    # Imported after prefect_environment(): Prefect reads its settings at import.
    from flows.dpia import dpia_flow
    from flows.erasure import erasure_flow
    from flows.export import export_flow
    from flows.retention import retention_flow

    policy = str(DEMO_POLICY)
    # A backup of the store before the flows change it: step 12 restores it into a copy and replays.
    store_file = sqlite_path(os.environ["LETHE_DEMO_URL"])
    backed_up_at = datetime.now(UTC)
    backup = copy_database(store_file, BACKUP) if store_file is not None else None
    step("4. retention flow (Prefect): delete and anonymise what expired, in verified batches")
    start_prefect()
    outcome = retention_flow(policy=policy, as_of=DEMO_AS_OF, approval_threshold=10_000_000)
    click.echo(f"  {outcome['applied']:,} rows handled of {outcome['pending']:,} planned")
    click.echo(
        f"  repeat the plan at the demo's instant (0 rows left): .venv/bin/{repeat_plan_command(DEMO_POLICY)}"
    )

    step(f"5. access request (Art. 15/20): export customer {EXPORTED}")
    exported = export_flow(subject_id=EXPORTED, policy=policy, out_dir=str(EXPORTS), encrypt=False)
    click.echo(
        f"  {exported['outcome']}: {EXPORTS / exported['file']}" if "file" in exported else f"  {exported}"
    )

    step(f"6. erasure request (Art. 17): erase customer {ERASED}, as the policy says per table")
    erased = erasure_flow(subject_id=ERASED, policy=policy, dry_run=False)
    click.echo(f"  {erased['outcome']}, verified: {erased.get('verified')}")
    for table, what in erased.get("tables", {}).items():
        click.echo(f"    {table}: {what}")

    after_erasure = data_digest(os.environ["LETHE_DEMO_URL"]) if backup is not None else ""

    step("7. record of processing activities (Art. 30)")
    ROPA.write_text(render_html(build_ropa(load_policy(policy))), encoding="utf-8")
    click.echo(f"  {ROPA}")

    step("8. DPIA flow: checks in the database (Great Expectations), risk register, report")
    checks = dpia_flow(policy=policy, out_dir=str(DPIA), as_of=DEMO_AS_OF)
    click.echo(
        f"  {checks['passed']} passed, {checks['failed']} failed, {checks['errors']} errors: {DPIA / 'dpia.html'}"
    )

    step("9. consent withdrawal (Art. 7(3)): one customer unticks the newsletter; the flow honours it")
    from flows.consent import consent_withdrawal_flow
    from lethe.demo.measures import open_demo_breach, withdraw_one_consent

    ended = withdraw_one_consent(policy)
    click.echo(f"  the preference centre recorded the withdrawal: {ended} consent row(s) ended")
    honoured = consent_withdrawal_flow(policy=policy)
    for purpose in honoured["purposes"]:
        click.echo(
            f"  {purpose['purpose']}: {purpose['withdrawn_subjects']} withdrawn subject(s), {purpose['action']}: "
            f"{sum(purpose['rows'].values())} row(s), {purpose['restricted']} restriction(s)"
        )
    click.echo(f"  withdrawals honoured: {'yes' if honoured['honoured'] else 'NO'}")

    step("10. personal data breach (Art. 33): open one, draft the notification")
    breach = open_demo_breach(policy)
    click.echo(
        f"  {breach.breach_id}: ~{breach.scope.subjects} subject(s), ~{breach.scope.records} record(s)"
    )
    click.echo(f"  draft: {breach.folder / 'notification.md'} ({len(breach.gaps)} gap(s) to fill)")

    step("11. evidence ledger")
    settings = load_settings()
    report = verify_ledger(Ledger.from_settings(settings))
    click.echo(
        f"  {settings.ledger_url}: {report.count} entries, chain {'verified' if report.ok else 'BROKEN'}"
    )
    click.echo("  inspect it: set -a; . var/demo/keys.env; set +a; .venv/bin/lethe ledger show")

    step("12. replay after restore: the backup taken before step 4, restored into a copy, replayed")
    if backup is None:
        click.echo("  skipped: the demo store is not the SQLite file (LETHE_DEMO_URL is set)")
        return
    from flows.replay import replay_flow

    live = os.environ["LETHE_DEMO_URL"]
    os.environ["LETHE_DEMO_URL"] = f"sqlite:///{copy_database(backup, RESTORED)}"
    try:
        replayed = replay_flow(since=backed_up_at, policy=policy)
        same = data_digest(os.environ["LETHE_DEMO_URL"]) == after_erasure
    finally:
        os.environ["LETHE_DEMO_URL"] = live
    click.echo(
        f"  {RESTORED}: {replayed['records']} journal row(s) since the backup, {replayed['applied']:,} row(s) "
        f"changed again, {replayed['already']:,} already handled"
    )
    skipped = sum(n for name, n in replayed.items() if name.startswith("skipped:"))
    click.echo(
        f"  identical to the store after step 6 (before the consent step): {'yes' if same else 'NO'}"
        + (f"; {skipped} journal row(s) of other requests not replayed" if skipped else "")
    )


if __name__ == "__main__":
    main()
