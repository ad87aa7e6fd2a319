"""``consent_report``: consents per purpose and notice version, and proof that withdrawals are honoured.

Counts only. Per purpose and notice version: consents given, still holding, withdrawn. Per declared purpose:
subjects whose consent is withdrawn and, by what the policy says a withdrawal does, what is left of the data
processed only under it (``erase``: rows of the purpose's tables; ``restrict``: subjects without a
restriction of the activity). A purpose is honoured when nothing is left. Purposes and notice versions are
shown as recorded when they look like codes (letters, digits, ``.-_``, short); any other text is not shown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from lethe.consent.records import ConsentTable, open_consent
from lethe.consent.withdrawal import legal_holds, restricted_keys
from lethe.errors import StoreError
from lethe.policy.model import Policy
from lethe.stores.engines import Stores

_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}")
HIDDEN = "(not shown)"
NONE = "(none recorded)"


@dataclass(frozen=True)
class NoticeCounts:
    """Consents of one purpose under one version of the notice."""

    purpose: str
    notice_version: str
    given: int
    holding: int
    withdrawn: int
    declared: bool


@dataclass(frozen=True)
class WithdrawalCheck:
    """Whether withdrawals of one purpose are honoured, by the policy's action."""

    purpose: str
    action: str
    withdrawn_subjects: int
    rows_left: dict[str, int] = field(default_factory=dict)  # erase: rows still there, per table
    unrestricted_subjects: int = 0  # restrict: withdrawn subjects the activity may still process
    held_subjects: int = 0  # erase: withdrawn subjects on legal hold, whose rows rightly stay

    @property
    def honoured(self) -> bool:
        """Nothing processed only under a withdrawn consent is left unerased or unrestricted."""
        return not any(self.rows_left.values()) and self.unrestricted_subjects == 0


@dataclass(frozen=True)
class ConsentReport:
    """The whole report."""

    table: str
    generated_at: datetime
    notices: list[NoticeCounts]
    withdrawals: list[WithdrawalCheck]

    @property
    def honoured(self) -> bool:
        """Every purpose's withdrawals are honoured."""
        return all(check.honoured for check in self.withdrawals)


def _shown(value: Any) -> str:
    if value is None:
        return NONE
    text = str(value)
    return text if _CODE.fullmatch(text) else HIDDEN


def _notices(consent: ConsentTable, connection: sa.Connection) -> list[NoticeCounts]:
    spec = consent.spec
    version = consent.column(spec.notice_version) if spec.notice_version else sa.null()
    withdrawn = sa.func.sum(sa.case((consent.withdrawn.is_not(None), 1), else_=0))
    query = (
        sa.select(consent.purpose, version.label("version"), sa.func.count(), withdrawn)
        .group_by(consent.purpose, version)
    )  # fmt: skip
    merged: dict[tuple[str, str], list[int]] = {}
    for purpose, notice, given, gone in connection.execute(query):
        key = (_shown(purpose), _shown(notice))
        counts = merged.setdefault(key, [0, 0])
        counts[0] += int(given)
        counts[1] += int(gone or 0)
    return [
        NoticeCounts(purpose, notice, given, given - gone, gone, purpose in spec.purposes)
        for (purpose, notice), (given, gone) in sorted(merged.items())
    ]


def consent_report(policy: Policy, stores: Stores, *, now: datetime | None = None) -> ConsentReport:
    """Count consents and check, per declared purpose, that withdrawals are honoured."""
    consent = open_consent(policy, stores)
    spec = consent.spec
    checks: list[WithdrawalCheck] = []
    try:
        with consent.engine.connect() as connection:
            notices = _notices(consent, connection)
            for name, purpose in spec.purposes.items():
                withdrawn = consent.withdrawn_subjects(name)
                count = int(
                    connection.execute(
                        sa.select(sa.func.count()).select_from(withdrawn.subquery())
                    ).scalar_one()
                )
                rows_left: dict[str, int] = {}
                unrestricted = held = 0
                if purpose.on_withdrawal == "erase":
                    # Subjects on legal hold keep their rows (a hold wins over a withdrawal): counted apart.
                    holds = legal_holds(policy, stores, spec.subject, spec.table.store)
                    if holds is not None:
                        on_hold = withdrawn.where(consent.subject.in_(holds))
                        held = int(
                            connection.execute(
                                sa.select(sa.func.count()).select_from(on_hold.subquery())
                            ).scalar_one()
                        )
                        withdrawn = withdrawn.where(consent.subject.not_in(holds))
                    for ref, target in purpose.tables.items():
                        table = stores.sa_table(ref.store, ref.table)
                        left = sa.select(sa.func.count()).select_from(table)
                        left = left.where(table.c[target.subject_column].in_(withdrawn))
                        rows_left[str(ref)] = int(connection.execute(left).scalar_one())
                elif purpose.on_withdrawal == "restrict" and purpose.activity:
                    keys = connection.execute(withdrawn).scalars().all()
                    engine = stores.engine(policy.subjects[spec.subject].store)
                    restricted = restricted_keys(engine, spec.subject, purpose.activity)
                    unrestricted = sum(1 for key in keys if str(key) not in restricted)
                checks.append(
                    WithdrawalCheck(name, purpose.on_withdrawal, count, rows_left, unrestricted, held)
                )
    except SQLAlchemyError as exc:
        raise StoreError(
            f"store {spec.table.store}: cannot read the consent records ({type(exc).__name__})"
        ) from None
    return ConsentReport(str(spec.table), now or datetime.now(UTC), notices, checks)


def render_text(report: ConsentReport) -> list[str]:
    """The report as lines of text (what ``lethe consent report`` prints)."""
    lines = [f"consent records in {report.table}", "", "purpose / notice version: given, holding, withdrawn"]
    for n in report.notices:
        mark = "" if n.declared else "  (purpose not declared in the policy)"
        lines.append(f"  {n.purpose} / {n.notice_version}: {n.given}, {n.holding}, {n.withdrawn}{mark}")
    lines += ["", "withdrawals honoured (Art. 7(3)):"]
    for c in report.withdrawals:
        if c.action == "erase":
            left = ", ".join(f"{t}: {n} row(s) left" for t, n in c.rows_left.items())
            if c.held_subjects:
                left += f" ({c.held_subjects} subject(s) on legal hold keep theirs)"
        elif c.action == "restrict":
            left = f"{c.unrestricted_subjects} subject(s) not restricted"
        else:
            left = "data kept on another ground (policy: keep)"
        verdict = "honoured" if c.honoured else "NOT honoured"
        lines.append(
            f"  {c.purpose}: {c.withdrawn_subjects} withdrawn subject(s); {c.action}: {left}: {verdict}"
        )
    return lines
