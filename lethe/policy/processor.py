"""The ``processor:`` block: processing on behalf of controllers (GDPR Art. 28 and 30(2)).

With ``role: processor`` the organisation of ``controller:`` processes personal data for others. Each
controller it works for is named under ``processor.controllers`` with the value (``key``) that marks its rows in
the tables' controller column (``controller_column:`` of a data-map table, or of its store). Retention rules
may set periods per controller (``per_controller:`` on a rule, or ``contract_periods: true`` to read them
from the ``contracts:`` table), and ``lethe processor end-contract`` returns then deletes one controller's data.
Controller keys are business identifiers, not personal data: declared ones are shown by name; values found
in the data and declared nowhere are shown as keyed fingerprints (a sole trader's id could be a person's).
"""

from __future__ import annotations

from pydantic import Field, model_validator

from lethe.policy.activities import Transfer
from lethe.policy.base import Identifier, Model, Name, TableRefField


class ContactPoint(Model):
    """A person or office to contact."""

    name: str
    email: str | None = None
    address: str | None = None


class ClientController(Model):
    """A controller the processor acts for (Art. 30(2)(a)): who, how to reach them, what is done for them."""

    name: str
    key: str | int | None = (
        None  # value of the controller column marking its rows (default: the entry's name)
    )
    email: str | None = None
    address: str | None = None
    dpo: ContactPoint | None = None
    representative_eu: ContactPoint | None = None
    # Art. 30(2)(b): the categories of processing carried out for it, as names of the policy's activities.
    activities: list[str] = Field(default_factory=list)
    transfers: list[Transfer] = Field(default_factory=list)  # Art. 30(2)(c), beyond those of its activities


class ContractsTable(Model):
    """Where contracts set each controller's retention: one row per controller.

    ``period``: a text column with a period (``90 days``, ``P1Y``) that replaces a rule's ``after:`` for the
    controller; ``ends``: a date or timestamp column, the end of the agreed retention: from that instant on,
    every row of the controller a rule covers is expired. At least one of them.
    """

    table: TableRefField
    controller: Identifier
    period: Identifier | None = None
    ends: Identifier | None = None

    @model_validator(mode="after")
    def _one_source(self) -> ContractsTable:
        if self.period is None and self.ends is None:
            raise ValueError("a contracts table needs `period:` or `ends:` (or both)")
        return self


class ProcessorRecord(Model):
    """What a processor declares: its controllers, their contracts, its general security measures."""

    controllers: dict[Name, ClientController] = Field(default_factory=dict)
    contracts: ContractsTable | None = None
    security_measures: list[str] = Field(default_factory=list)  # Art. 30(2)(d), Art. 32(1)

    def key_of(self, name: str) -> str | int:
        """The controller-column value of the controller ``name``."""
        client = self.controllers[name]
        return name if client.key is None else client.key

    def name_of(self, key: object) -> str | None:
        """The declared controller whose key is ``key`` (compared as text), if any."""
        for name in self.controllers:
            if str(self.key_of(name)) == str(key):
                return name
        return None
