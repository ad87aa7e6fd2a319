"""The ``consent:`` block: where consent is recorded (Art. 7(1)) and what a withdrawal does (Art. 7(3)).

One table holds one row per consent given: the subject's key, the purpose, when it was granted, when (if) it
was withdrawn and which version of the notice the subject was shown. Each purpose says what happens to the
data processed only under that consent once it is withdrawn: ``erase`` deletes the subject's rows of the
purpose's tables, ``restrict`` registers a restriction of the purpose's activity (Art. 18 register), ``keep``
records nothing more (another ground holds the data; say which in ``reason``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from lethe.policy.base import Identifier, Model, Name, TableRefField

WithdrawalAction = Literal["erase", "restrict", "keep"]


class PurposeTable(Model):
    """A table holding data processed only under a purpose's consent, and the column naming the subject."""

    subject_column: Identifier


class ConsentPurpose(Model):
    """A purpose consent is asked for, and what withdrawing it does."""

    description: str | None = None
    activity: str | None = None  # the processing activity (``activities:``) this consent is the basis of
    on_withdrawal: WithdrawalAction
    tables: dict[TableRefField, PurposeTable] = Field(default_factory=dict)
    reason: str | None = None

    @model_validator(mode="after")
    def _action_needs(self) -> ConsentPurpose:
        if self.on_withdrawal == "erase" and not self.tables:
            raise ValueError(
                "on_withdrawal erase needs `tables:` holding the data processed under this consent"
            )
        if self.on_withdrawal == "restrict" and not self.activity:
            raise ValueError("on_withdrawal restrict needs `activity:` naming the activity to restrict")
        if self.on_withdrawal == "keep" and not self.reason:
            raise ValueError("on_withdrawal keep needs `reason:` stating the ground the data is kept on")
        return self


class ConsentRecords(Model):
    """The consent table and its columns, and the purposes consent is given for."""

    table: TableRefField
    subject: Name  # the kind of subject (``subjects:``) whose key ``subject_column`` holds
    subject_column: Identifier
    purpose_column: Identifier
    granted: Identifier
    withdrawn: Identifier
    notice_version: Identifier | None = None
    purposes: dict[Name, ConsentPurpose] = Field(min_length=1)


def consent_reference_problems(
    consent: ConsentRecords, stores: set[str], subjects: set[str], activities: set[str]
) -> list[tuple[tuple[str | int, ...], str]]:
    """Names in the ``consent:`` block that do not resolve, as (path in the file, message) pairs."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    if consent.table.store not in stores:
        problems.append((("consent", "table"), f"unknown store {consent.table.store!r}"))
    if consent.subject not in subjects:
        problems.append((("consent", "subject"), f"unknown subject {consent.subject!r}"))
    for name, purpose in consent.purposes.items():
        if purpose.activity is not None and purpose.activity not in activities:
            problems.append(
                (("consent", "purposes", name, "activity"), f"unknown activity {purpose.activity!r}")
            )
        for ref in purpose.tables:
            if ref.store != consent.table.store:
                # Withdrawn subjects are found with one query joining the consent table: one store.
                problems.append(
                    (
                        ("consent", "purposes", name, "tables", str(ref)),
                        f"must be in the consent table's store {consent.table.store!r}",
                    )
                )
    return problems
