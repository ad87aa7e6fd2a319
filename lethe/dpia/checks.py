"""DPIA checks generated from the policy, and their results: counts and measures only, never values.

``run_checks`` builds one check per retention rule (compliance, and pseudonymisation for anonymise
rules), per consent-based activity, per activity that must respect restrictions, per k-anonymity entry
(and l-diversity when declared), per expectation the policy names, plus coverage and localisation.
Great Expectations evaluates the SQL checks inside each store's database (``lethe.dpia.gx``, imported
only here); Lethe evaluates coverage and localisation itself (``lethe.dpia.native``). Each result says
which (``evidence``).

A check that cannot be built or whose query fails is an *error*, never a pass, and the run counts how many
checks reached an evaluator: ``evaluated_count`` must equal ``expected_count`` (the checks generated) for
the run to be complete. Likelihood, severity and mitigation come from ``lethe.dpia.risk``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from lethe.dpia.anonymity import k_anonymity_check, k_anonymity_def, l_diversity_check, l_diversity_def
from lethe.dpia.catalog import Catalog
from lethe.dpia.native import COVERAGE, LOCALISATION, coverage_check, localisation_check
from lethe.dpia.risk import ERROR_MITIGATION, RISKS, owner, rating
from lethe.dpia.sql import (
    CheckDef,
    Evidence,
    GxCheck,
    Measures,
    Outcome,
    Status,
    consent_check,
    consent_def,
    expectation_def,
    expectation_spec,
    pseudonymisation_check,
    pseudonymisation_def,
    restriction_check,
    restriction_def,
    retention_check,
    retention_def,
    safe_error,
)
from lethe.errors import LetheError
from lethe.ledger.chain import Ledger
from lethe.ledger.entry import LedgerEntry
from lethe.policy.model import Policy
from lethe.settings import Settings
from lethe.stores.engines import Stores


@dataclass(frozen=True)
class CheckResult:
    """One check's result, with its place in the risk register."""

    id: str
    title: str
    kind: str
    status: Status
    observed: Measures
    threshold: str
    evidence: Evidence
    severity: int
    likelihood: int
    mitigation: str
    owner: str
    error: str | None = None
    where: tuple[str, ...] = ()
    note: str | None = None

    @property
    def risk(self) -> int:
        """Likelihood x severity of a finding (0 when the check passed)."""
        return 0 if self.status == "pass" else self.likelihood * self.severity

    @property
    def rating(self) -> str:
        """``high``, ``medium``, ``low`` or ``none``."""
        return rating(self.risk)


@dataclass(frozen=True)
class CheckRun:
    """All results of one run, how many checks were evaluated out of how many generated."""

    results: list[CheckResult]
    evaluated_count: int
    expected_count: int
    started: datetime
    ended: datetime
    policy_hash: str
    as_of: datetime
    policy_source: str = "<memory>"
    run_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def count(self, status: Status) -> int:
        """How many checks ended with ``status``."""
        return sum(1 for r in self.results if r.status == status)

    @property
    def complete(self) -> bool:
        """True when every generated check reached an evaluator."""
        return self.evaluated_count == self.expected_count == len(self.results)

    @property
    def status(self) -> Status:
        """``error`` when any check errored or the run is incomplete, else ``fail`` or ``pass``."""
        if self.count("error") or not self.complete:
            return "error"
        return "fail" if self.count("fail") else "pass"

    def findings(self) -> list[CheckResult]:
        """Failed and errored checks, highest risk first: the risk register."""
        return sorted((r for r in self.results if r.status != "pass"), key=lambda r: (-r.risk, r.id))


def _attempt(definition: CheckDef, build: Callable[[], GxCheck | Outcome | None]) -> GxCheck | Outcome | None:
    """Build a check; a build that fails is the check's error outcome (not evaluated)."""
    try:
        return build()
    except (LetheError, SQLAlchemyError, KeyError, ValueError) as exc:
        return Outcome(definition, "error", {}, "great_expectations", False, error=safe_error(exc))


def generate(catalog: Catalog) -> list[GxCheck | Outcome]:
    """Every database check the policy implies, in report order (built, or an error outcome)."""
    policy = catalog.policy
    items: list[GxCheck | Outcome | None] = []
    for rule in policy.retention:
        items.append(_attempt(retention_def(rule), partial(retention_check, catalog, rule)))
    for rule in policy.retention:
        if rule.action == "anonymise":
            items.append(_attempt(pseudonymisation_def(rule), partial(pseudonymisation_check, catalog, rule)))
    for activity in policy.activities:
        if activity.lawful_basis == "consent" and activity.consent and activity.processing:
            items.append(_attempt(consent_def(activity), partial(consent_check, catalog, activity)))
    for activity in policy.activities:
        if activity.respects_restriction and activity.processing:
            items.append(_attempt(restriction_def(activity), partial(restriction_check, catalog, activity)))
    for k_check in policy.checks.k_anonymity:
        items.append(_attempt(k_anonymity_def(k_check), partial(k_anonymity_check, catalog, k_check)))
        if k_check.l is not None:
            items.append(_attempt(l_diversity_def(k_check), partial(l_diversity_check, catalog, k_check)))
    for i, e_check in enumerate(policy.checks.expectations, start=1):
        items.append(_attempt(expectation_def(i, e_check), partial(expectation_spec, catalog, i, e_check)))
    return [item for item in items if item is not None]


def _lethe_evaluated(catalog: Catalog) -> list[Outcome]:
    """Coverage and localisation, each an error outcome when a store it reads cannot be."""
    outcomes: list[Outcome] = []
    for definition, evaluate in ((COVERAGE, coverage_check), (LOCALISATION, localisation_check)):
        try:
            if definition is COVERAGE:
                for store in catalog.policy.stores:  # the scan reads every store
                    catalog.reachable(store)
            outcome = evaluate(catalog.policy, catalog.stores)
        except (LetheError, SQLAlchemyError) as exc:
            outcome = Outcome(definition, "error", {}, "lethe", False, error=safe_error(exc))
        if outcome is not None:
            outcomes.append(outcome)
    return outcomes


def to_result(outcome: Outcome, policy: Policy) -> CheckResult:
    """An outcome placed in the risk register."""
    definition = outcome.definition
    risk = RISKS[definition.kind]
    mitigation = (ERROR_MITIGATION + risk.mitigation) if outcome.status == "error" else risk.mitigation
    return CheckResult(
        id=definition.id, title=definition.title, kind=definition.kind, status=outcome.status,
        observed=dict(outcome.observed), threshold=definition.threshold, evidence=outcome.evidence,
        severity=definition.severity or risk.severity, likelihood=risk.likelihood, mitigation=mitigation,
        owner=owner(policy), error=outcome.error, where=definition.where, note=outcome.note,
    )  # fmt: skip


def run_checks(
    policy: Policy,
    stores: Stores,
    settings: Settings,
    *,
    as_of: datetime,
    ledger: Ledger | None = None,
    run_id: str | None = None,
    flow: str = "dpia",
) -> CheckRun:
    """Generate and evaluate every check; record the run's counts in the ledger when one is given."""
    if as_of.tzinfo is None:
        raise LetheError("as_of must be timezone-aware (e.g. 2026-11-25T00:00:00+00:00)")
    started = datetime.now(UTC)
    catalog = Catalog(policy, stores, settings, as_of)
    items = generate(catalog)
    gx_checks = [i for i in items if not isinstance(i, Outcome)]
    by_id: dict[str, Outcome] = {i.definition.id: i for i in items if isinstance(i, Outcome)}
    if gx_checks:
        from lethe.dpia.gx import run_gx_checks

        by_id.update({o.definition.id: o for o in run_gx_checks(gx_checks, stores)})
    outcomes = [by_id[i.definition.id] for i in items] + _lethe_evaluated(catalog)
    run = CheckRun(
        results=[to_result(o, policy) for o in outcomes],
        evaluated_count=sum(1 for o in outcomes if o.evaluated),
        expected_count=len(outcomes),
        started=started,
        ended=datetime.now(UTC),
        policy_hash=policy.hash,
        as_of=as_of,
        policy_source=policy.source,
        run_id=run_id or str(uuid.uuid4()),
    )
    if ledger is not None:
        ledger.append(run_entry(run, flow))
    return run


def run_entry(run: CheckRun, flow: str = "dpia") -> LedgerEntry:
    """The ledger entry of a run: status counts, and the pending rows of each retention rule."""
    counts: dict[str, int] = {
        "pass": run.count("pass"),
        "fail": run.count("fail"),
        "error": run.count("error"),
        "evaluated": run.evaluated_count,
        "expected": run.expected_count,
    }
    for result in run.results:
        pending = result.observed.get("violations")
        if result.kind == "retention" and isinstance(pending, int):
            counts[f"pending:{result.id.split(':', 1)[1]}"] = pending
    return LedgerEntry(
        run_id=run.run_id,
        flow=flow,
        policy_hash=run.policy_hash,
        action="dpia.checks",
        outcome=run.status,
        started_at=run.started,
        ended_at=run.ended,
        counts=counts,
        details={"as_of": run.as_of.isoformat()},
    )


def summary(run: CheckRun) -> dict[str, Any]:
    """Counts of a run, for a flow's return value or a command's output."""
    return {
        "status": run.status,
        "passed": run.count("pass"),
        "failed": run.count("fail"),
        "errors": run.count("error"),
        "evaluated": run.evaluated_count,
        "expected": run.expected_count,
        "checks": {r.id: r.status for r in run.results},
    }
