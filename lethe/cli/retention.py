"""``lethe retention plan|enforce``: storage limitation from the command line."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from lethe.cli.common import emit_json, handle_errors, parse_instant
from lethe.errors import LetheError, ParameterError
from lethe.ledger.chain import Ledger
from lethe.policy.loading import load_policy
from lethe.policy.retention import MAX_PARTITIONS, parse_share
from lethe.requests.holds import access_holds
from lethe.retention.enforce import RuleResult, enforce_partitioned, enforce_rule
from lethe.retention.guard import large_changes
from lethe.retention.partitions import partition_count
from lethe.retention.plan import RulePlan, plan_entry, plan_rule
from lethe.retention.run import RetentionRun
from lethe.settings import load_settings
from lethe.stores.engines import Stores
from lethe.validation.policy import require_valid


def parse_as_of(text: str | None, *, allow_future: bool = False, future_flag: str | None = None) -> datetime:
    """``--as-of``: an ISO 8601 instant with a zone (or a date, taken as midnight UTC); default now.

    Later than now is refused unless ``allow_future``: expiry judged in the future removes rows whose period
    has not ended (``--as-of 2099-01-01`` would empty a 7-year table).
    """
    moment = parse_instant(text, "--as-of", allow_future=allow_future, future_flag=future_flag)
    return moment or datetime.now(UTC)


def _percent(share: float) -> str:
    return f"{share:.1%}"


def print_plans(plans: list[RulePlan]) -> None:
    """A plan as a table, like ``terraform plan`` for personal data; ``!`` marks a share above its limit."""
    click.echo(
        f"{'rule':28} {'action':9} {'table':28} {'pending':>9} {'held':>6} {'share':>7} {'batches':>7}  cut-off"
    )
    for p in plans:
        share = _percent(p.share) + ("!" if p.too_large else " ")
        click.echo(
            f"{p.rule:28} {p.action:9} {p.table:28} {p.pending:>9,} {p.held:>6,} {share:>8} {p.batches:>6}  "
            f"{p.cutoff.isoformat(timespec='seconds')}"
        )
        for child, n in p.children.items():
            click.echo(f"{'':38}  + {child:24} {n:>9,}")
        for controller, counts in p.by_controller.items():
            click.echo(f"{'':38}  controller {controller:13} {counts['pending']:>9,} {counts['held']:>6,}")
        if p.sample_keys:
            click.echo(
                f"{'':38}  sample keys: {', '.join(str(k[0] if len(k) == 1 else tuple(k)) for k in p.sample_keys)}"
            )
    total = sum(p.pending for p in plans)
    click.echo(f"{total:,} row(s) to handle in {len(plans)} rule(s); nothing has been changed")
    for line in large_changes(plans):
        click.echo(f"! {line}: enforce refuses it without --allow-large-share")


def refuse_large_changes(plans: list[RulePlan]) -> None:
    """Raise ParameterError (exit 2) naming every rule that would change more than its share of its table."""
    lines = large_changes(plans)
    if lines:
        raise ParameterError(
            "\n".join(lines) + "\nnothing has been changed: check the rule's period and --as-of, then pass "
            "--allow-large-share to apply it (or set the rule's max_share in the policy, or --max-share)"
        )


def print_results(results: list[RuleResult]) -> None:
    """The summary of an enforcing run."""
    click.echo(f"{'rule':28} {'action':9} {'applied':>9} {'held':>6} {'batches':>7} {'remaining':>9}")
    for r in results:
        click.echo(f"{r.rule:28} {r.action:9} {r.applied:>9,} {r.held:>6,} {r.batches:>7} {r.remaining:>9}")
        for part, n in r.partitions.items():
            click.echo(f"{'':38}  {part:26} {n:>9,}")
        for child, n in r.children.items():
            click.echo(f"{'':38}  + {child:24} {n:>9,}")


@click.group(short_help="Plan and enforce the retention rules")
def retention() -> None:
    """Plan and enforce the policy's retention rules."""


_policy = click.argument("policy_path", metavar="POLICY", type=click.Path(dir_okay=False, path_type=Path))
_as_of = click.option(
    "--as-of", "as_of", help="Instant to judge expiry at (ISO 8601 with zone); default now."
)
_rules = click.option("--rule", "rules", multiple=True, help="Only this rule (repeatable); default all.")
_batch = click.option(
    "--batch-size",
    type=click.IntRange(1, 1_000_000),
    help="Fixed span: rows of the primary-key index per transaction (default: adaptive, ~0.5 s each).",
)
_allow_future = click.option(
    "--allow-future", is_flag=True, help="Accept an --as-of later than now (expires rows early)."
)


def _share_option(_ctx: click.Context, _param: click.Parameter, value: str | None) -> float | None:
    try:
        return None if value is None else parse_share(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


_max_share = click.option(
    "--max-share",
    callback=_share_option,
    help="Largest share of a table a rule may change (0.5 or 50%); default each rule's max_share, else 50%.",
)


@retention.command(short_help="Show what each rule would change; change nothing")
@_policy
@_as_of
@_allow_future
@_rules
@_batch
@_max_share
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@handle_errors
def plan(
    policy_path: Path,
    as_of: str | None,
    allow_future: bool,
    rules: tuple[str, ...],
    batch_size: int | None,
    max_share: float | None,
    as_json: bool,
) -> None:
    """Show what each rule would delete or anonymise now, and which share of its table; change nothing."""
    moment = parse_as_of(as_of, allow_future=allow_future, future_flag="--allow-future")
    policy = load_policy(policy_path)
    with Stores(policy) as stores:
        require_valid(policy, stores)
        settings = load_settings()
        # Subjects with an open access request are held (lethe.requests.holds), as enforce holds them.
        run = RetentionRun(policy, stores, settings, moment, holds=access_holds(policy, stores, settings))
        plans = [
            plan_rule(run, rule, batch_size=batch_size, max_share=max_share) for rule in run.rules(rules)
        ]
    if as_json:
        emit_json({"policy_hash": policy.hash, "as_of": run.as_of, "rules": plans})
    else:
        print_plans(plans)


@retention.command(short_help="Delete or anonymise expired rows, verified and recorded")
@_policy
@_as_of
@_allow_future
@_rules
@_batch
@_max_share
@click.option(
    "--allow-large-share", is_flag=True, help="Apply rules that change more than their share of a table."
)
@click.option(
    "--partitions",
    type=click.IntRange(1, MAX_PARTITIONS),
    help="Split each rule into N primary-key ranges enforced concurrently (default: the rule's partitions, 1).",
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@handle_errors
def enforce(
    policy_path: Path,
    as_of: str | None,
    allow_future: bool,
    rules: tuple[str, ...],
    batch_size: int | None,
    max_share: float | None,
    allow_large_share: bool,
    partitions: int | None,
    yes: bool,
    as_json: bool,
) -> None:
    """Delete or anonymise expired rows, in batches, recorded in the ledger and verified.

    Shows the plan first and asks for confirmation on a terminal (--yes skips it). Refuses (exit 2, nothing
    changed) an --as-of later than now without --allow-future, and a rule that would change more than its
    share of a table (default 50%) without --allow-large-share. Exit 5 when a rule leaves expired rows
    behind, 6 when another run holds a rule's lock (or one of its partitions').

    --partitions N (or the rule's ``partitions:``) splits a rule into N primary-key ranges, each enforced on
    its own thread under its own lock, then verified once over the whole rule.
    """
    moment = parse_as_of(as_of, allow_future=allow_future, future_flag="--allow-future")
    policy = load_policy(policy_path)
    settings = load_settings()
    settings.require_master_key()
    with Stores(policy) as stores:
        require_valid(policy, stores)
        run = RetentionRun(
            policy, stores, settings, moment, ledger=Ledger.from_settings(settings),
            holds=access_holds(policy, stores, settings),
        )  # fmt: skip
        selected = run.rules(rules)
        started = datetime.now(UTC)
        plans = [plan_rule(run, rule, batch_size=batch_size, max_share=max_share) for rule in selected]
        if not as_json:
            print_plans(plans)
        if not allow_large_share:
            refuse_large_changes(plans)
        run.ledger.append(plan_entry(run, plans, started))  # type: ignore[union-attr]
        if not yes:
            if not sys.stdin.isatty():
                raise LetheError(
                    "refusing to change data without confirmation: run on a terminal or pass --yes"
                )
            click.confirm("apply these changes?", abort=True)
        results = []
        for rule, rule_plan in zip(selected, plans, strict=True):
            label = f"{rule.name:28}"
            count = partition_count(rule, partitions)
            if count > 1:
                if not as_json:
                    click.echo(f"{label} {count} partitions")
                results.append(enforce_partitioned(run, rule, count, batch_size=batch_size))
            elif rule_plan.pending and not as_json:
                with click.progressbar(length=rule_plan.pending, label=label) as bar:
                    results.append(
                        enforce_rule(
                            run,
                            rule,
                            batch_size=batch_size,
                            progress=lambda done, _t: bar.update(done - bar.pos),
                            expected=rule_plan.pending,
                        )
                    )
            else:
                results.append(enforce_rule(run, rule, batch_size=batch_size))
    if as_json:
        emit_json({"policy_hash": policy.hash, "run_id": run.run_id, "as_of": run.as_of, "rules": results})
    else:
        print_results(results)
        click.echo(f"run {run.run_id}: verified, recorded in the ledger")
