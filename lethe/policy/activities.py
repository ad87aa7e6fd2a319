"""The ``activities:`` and ``checks:`` blocks: Art. 30 records of processing, and DPIA checks."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from lethe.policy.base import Identifier, Model, TableRefField


class Transfer(Model):
    """A transfer to a third country or international organisation (Art. 30(1)(e))."""

    country: str
    recipient: str | None = None
    safeguard: str  # e.g. adequacy decision, SCCs (Art. 46(2)(c)), BCRs


class ConsentSource(Model):
    """Where consent is recorded: one row per grant, withdrawn when ``withdrawn`` is set."""

    table: TableRefField
    subject_column: Identifier
    granted: Identifier
    withdrawn: Identifier
    purpose_column: Identifier | None = None
    purpose: str | None = None


class ProcessingSource(Model):
    """Where the processing an activity performs is logged (e.g. newsletter sends)."""

    table: TableRefField
    subject_column: Identifier
    at: Identifier


LawfulBasis = Literal[
    "consent", "contract", "legal_obligation", "vital_interests", "public_task", "legitimate_interests"
]


class Activity(Model):
    """A processing activity: the RoPA's row and the facts an access request must state."""

    name: str
    purpose: str
    lawful_basis: LawfulBasis
    legitimate_interest: str | None = None
    subjects: list[str] = Field(min_length=1)
    categories: list[str] = Field(min_length=1)
    recipients: list[str] = Field(default_factory=list)
    transfers: list[Transfer] = Field(default_factory=list)
    retention: list[str] = Field(default_factory=list)  # names of retention rules
    retention_note: str | None = None
    sources: list[str] = Field(default_factory=lambda: ["the data subject"])
    security_measures: list[str] = Field(default_factory=list)
    consent: ConsentSource | None = None
    processing: ProcessingSource | None = None
    respects_restriction: bool = True  # restricted subjects must be excluded from this activity
    automated_decisions: str | None = None

    @field_validator("retention", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _basis(self) -> Activity:
        if self.lawful_basis == "legitimate_interests" and not self.legitimate_interest:
            raise ValueError("lawful_basis legitimate_interests needs `legitimate_interest:` stating it")
        if self.consent is not None and self.lawful_basis != "consent":
            raise ValueError("`consent:` is only meaningful for lawful_basis consent")
        return self


class KAnonymityCheck(Model):
    """Every combination of quasi-identifiers must be shared by at least ``k`` rows (and ``l`` values)."""

    table: TableRefField
    quasi_identifiers: list[Identifier] = Field(min_length=1)
    k: int = Field(ge=2)
    sensitive: Identifier | None = None
    l: int | None = Field(default=None, ge=2)  # noqa: E741 - the letter is the name of the measure

    @model_validator(mode="after")
    def _l_needs_sensitive(self) -> KAnonymityCheck:
        if (self.l is None) != (self.sensitive is None):
            raise ValueError("l-diversity needs both `sensitive:` and `l:`")
        return self


class ExpectationCheck(Model):
    """Any Great Expectations expectation, by class name, with its arguments."""

    table: TableRefField
    expectation: Annotated[str, Field(pattern=r"^Expect[A-Za-z0-9]+$")]
    kwargs: dict[str, Any] = Field(default_factory=dict)
    severity: Literal["low", "medium", "high"] = "medium"


class Checks(Model):
    """DPIA checks beyond those derived from the rules and the data map."""

    k_anonymity: list[KAnonymityCheck] = Field(default_factory=list)
    expectations: list[ExpectationCheck] = Field(default_factory=list)
    allowed_regions: list[str] = Field(default_factory=list)

    @field_validator("k_anonymity", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, dict) else value
