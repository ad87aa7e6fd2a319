"""The ``erasure:`` and ``rectification:`` settings of a subject: what Art. 16 and Art. 17 requests may do."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from lethe.policy.base import Identifier, Model, TableRefField
from lethe.policy.retention import ColumnAction


class ErasureAction(Model):
    """What erasing a subject does to one table's rows of that subject."""

    action: Literal["delete", "anonymise", "keep"]
    columns: dict[Identifier, ColumnAction] = Field(default_factory=dict)
    # Personal columns an anonymise action leaves as they are, each with its own legal ground; every other
    # column the data map declares must be rewritten under `columns:` (lethe.requests.validation).
    keep: dict[Identifier, str] = Field(default_factory=dict)
    # The legal ground for keeping or only pseudonymising, e.g. "tax law: invoices kept 10 years
    # (Art. 17(3)(b))"; it is shown on the receipt.
    reason: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ErasureAction:
        if self.action == "anonymise" and not self.columns:
            raise ValueError("an anonymise erasure action needs `columns:` with an operator per column")
        if self.action != "anonymise" and self.columns:
            raise ValueError(f"a {self.action} erasure action takes no `columns:`")
        if self.action != "anonymise" and self.keep:
            raise ValueError(
                f"a {self.action} erasure action takes no `keep:` (only anonymise keeps columns)"
            )
        if self.action in {"anonymise", "keep"} and not self.reason:
            raise ValueError(f"`{self.action}` needs a `reason:` (the legal ground, shown on the receipt)")
        both = sorted(set(self.columns) & set(self.keep))
        if both:
            raise ValueError(f"columns both rewritten and kept: {', '.join(both)}")
        blank = sorted(column for column, ground in self.keep.items() if not ground.strip())
        if blank:
            raise ValueError(f"`keep:` needs the legal ground of each column kept: {', '.join(blank)}")
        return self

    def kept_grounds(self) -> str:
        """The kept columns with their grounds, for the receipt: ``col (ground); ...``."""
        return "; ".join(f"{column} ({ground})" for column, ground in self.keep.items())


class ErasurePolicy(Model):
    """Art. 17 for one kind of subject: per-table actions (default delete) and what blocks erasure."""

    default: Literal["delete"] = "delete"
    tables: dict[TableRefField, ErasureAction] = Field(default_factory=dict)
    # Boolean columns of the identity table (e.g. legal_hold) that refuse erasure while set (Art. 17(3)(e)).
    unless: list[Identifier] = Field(default_factory=list)


class RectificationPolicy(Model):
    """Art. 16 for one kind of subject: the columns of the identity table a request may update."""

    columns: list[Identifier] = Field(default_factory=list)
