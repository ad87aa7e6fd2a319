"""The DPIA's risk register rules: likelihood, severity and mitigation per kind of check, and the owner.

Fixed values, so two runs over the same findings rate them the same. Scores are likelihood x severity on
1-5 scales: 15 and above is *high*, 8-14 *medium*, below 8 *low*. A check that errors gets its kind's
values (a check that cannot run gives no assurance, so its risk is not assumed to be lower), and the
mitigation says to repair the check first.

| kind | likelihood | severity | why |
|---|---|---|---|
| retention | 4 | 3 | expired rows accumulate every day a rule is not enforced; storage limitation, Art. 5(1)(e) |
| pseudonymisation | 3 | 4 | plaintext identifiers in "anonymised" rows defeat Art. 25/32 measures |
| consent | 3 | 4 | processing without a lawful basis, Art. 6(1)(a) and 7(3) |
| restriction | 3 | 4 | processing a restricted or objecting subject, Art. 18 and 21 |
| k_anonymity | 3 | 3 | re-identification through quasi-identifiers |
| l_diversity | 2 | 3 | attribute disclosure inside an equivalence class |
| coverage | 3 | 3 | personal data the policy does not govern (no retention, no erasure) |
| localisation | 2 | 5 | EU subjects' data outside the allowed regions, Chapter V |
| expectation | 3 | 2/3/4 | the policy's own expectation; severity low/medium/high as the policy says |
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from lethe.policy.model import Policy

Kind = Literal[
    "retention",
    "pseudonymisation",
    "consent",
    "restriction",
    "k_anonymity",
    "l_diversity",
    "coverage",
    "localisation",
    "expectation",
]


@dataclass(frozen=True)
class RiskRule:
    """How a finding of one kind is rated and mitigated."""

    likelihood: int
    severity: int
    mitigation: str


RISKS: dict[Kind, RiskRule] = {
    "retention": RiskRule(
        4,
        3,
        "Enforce the rule (`lethe retention enforce` or the retention-nightly deployment) and find why "
        "expired rows were left: a failed run, a disabled schedule, or a rule that no longer fits the schema.",
    ),
    "pseudonymisation": RiskRule(
        3,
        4,
        "Re-anonymise the affected rows and fix the writer that stores identifiers in columns the policy "
        "anonymises (or the rule's operator, if it leaves identifiers behind).",
    ),
    "consent": RiskRule(
        3,
        4,
        "Stop the processing for subjects without an active consent, exclude withdrawn subjects in the "
        "sending job's query, and assess whether the incident must be notified.",
    ),
    "restriction": RiskRule(
        3,
        4,
        "Exclude restricted subjects in the processing query (`lethe.requests.restriction.not_restricted`) and "
        "tell the affected subjects' request handler.",
    ),
    "k_anonymity": RiskRule(
        3,
        3,
        "Generalise or suppress the quasi-identifiers of the small groups (e.g. year instead of date, "
        "shorter postcode) until every combination is shared by at least k rows.",
    ),
    "l_diversity": RiskRule(
        2,
        3,
        "Generalise the quasi-identifiers further, or suppress the groups whose sensitive values are "
        "too uniform, until each group has at least l distinct sensitive values.",
    ),
    "coverage": RiskRule(
        3,
        3,
        "Declare the columns in the policy's data map (category, retention, erasure) or drop the data; "
        "`lethe validate` lists them.",
    ),
    "localisation": RiskRule(
        2,
        5,
        "Move EU subjects' data to a store in an allowed region, or document the transfer and its "
        "safeguard (Art. 44-49) and update `checks.allowed_regions`.",
    ),
    "expectation": RiskRule(
        3, 3, "Correct the data that breaks the expectation, or the process that writes it."
    ),
}
EXPECTATION_SEVERITY = {"low": 2, "medium": 3, "high": 4}
ERROR_MITIGATION = "Repair the check first (see its error): until it runs, this risk is not assessed. "


def owner(policy: Policy) -> str:
    """Who owns the findings: the controller's DPO as the policy names it, else the role."""
    dpo = policy.controller.dpo
    return dpo.name if dpo is not None and dpo.name else "DPO"


def rating(score: int) -> str:
    """``high``, ``medium`` or ``low`` for a likelihood x severity score (0: no risk found)."""
    if score >= 15:
        return "high"
    if score >= 8:
        return "medium"
    return "low" if score > 0 else "none"
