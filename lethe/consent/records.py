"""The consent table as SQL: who gave which consent, and whose consent for a purpose is withdrawn.

A subject's consent for a purpose is *withdrawn* when it has a row for the purpose with a withdrawal time
and no row for it without one (a consent given again after a withdrawal holds). Withdrawals are recorded when
they happen, so no instant is compared: the test is the same on every engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lethe.errors import ParameterError
from lethe.policy.consent import ConsentPurpose, ConsentRecords
from lethe.policy.model import Policy
from lethe.stores.engines import Stores


@dataclass(frozen=True)
class ConsentTable:
    """The policy's ``consent:`` block with its reflected table and the engine of its store."""

    spec: ConsentRecords
    table: sa.Table
    engine: Engine

    def column(self, name: str) -> sa.Column[Any]:
        """A column of the consent table."""
        return self.table.c[name]

    @property
    def subject(self) -> sa.Column[Any]:
        """The column holding the subject's key."""
        return self.table.c[self.spec.subject_column]

    @property
    def purpose(self) -> sa.Column[Any]:
        """The column naming the purpose."""
        return self.table.c[self.spec.purpose_column]

    @property
    def withdrawn(self) -> sa.Column[Any]:
        """The withdrawal time (NULL while consent holds)."""
        return self.table.c[self.spec.withdrawn]

    def purpose_spec(self, name: str) -> ConsentPurpose:
        """A declared purpose, or a ParameterError listing the declared ones."""
        if name not in self.spec.purposes:
            raise ParameterError(
                f"unknown consent purpose {name!r}; the policy declares {', '.join(sorted(self.spec.purposes))}"
            )
        return self.spec.purposes[name]

    def withdrawn_subjects(self, purpose: str) -> sa.Select[Any]:
        """Keys of the subjects whose consent for ``purpose`` is withdrawn (none of their rows holds)."""
        other = self.table.alias("holding")
        holding = (
            sa.select(sa.literal(1))
            .select_from(other)
            .where(
                other.c[self.spec.subject_column] == self.subject,
                other.c[self.spec.purpose_column] == purpose,
                other.c[self.spec.withdrawn].is_(None),
            )
        )
        return (
            sa.select(self.subject)
            .where(self.purpose == purpose, self.withdrawn.is_not(None), ~holding.exists())
            .distinct()
        )


def open_consent(policy: Policy, stores: Stores) -> ConsentTable:
    """The consent table the policy declares; a ParameterError when it declares none."""
    spec = policy.consent
    if spec is None:
        raise ParameterError("the policy has no `consent:` block: declare where consent is recorded")
    table = stores.sa_table(spec.table.store, spec.table.table)
    return ConsentTable(spec, table, stores.engine(spec.table.store))
