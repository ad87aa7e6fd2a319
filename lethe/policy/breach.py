"""The ``breach:`` block: who handles a personal data breach (Arts. 33 and 34), and as a processor, for whom.

A controller notifies its supervisory authority; a processor (``role: processor``) notifies each controller
it processes for without undue delay (Art. 33(2)), and the controller notifies the authority. ``controllers``
name them; ``controller_column`` is the column of the tables that says whose a row is, so a breach's scope
names only the affected controllers (without it, every controller is affected).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from lethe.policy.base import Identifier, Model, Name


class Party(Model):
    """A controller a processor works for, or the supervisory authority."""

    name: str
    email: str | None = None
    address: str | None = None
    key: str | None = None  # the value of ``controller_column`` that marks this controller's rows


class BreachPolicy(Model):
    """Who is notified of a breach, and who answers for it."""

    role: Literal["controller", "processor"] = "controller"
    authority: Party | None = None
    contact: Party | None = None  # Art. 33(3)(b): who gives more information (default: the DPO)
    controllers: dict[Name, Party] = Field(default_factory=dict)
    controller_column: Identifier | None = None
    contact_columns: list[Identifier] = Field(default_factory=list)  # e.g. email: to tell the subjects

    @model_validator(mode="after")
    def _processor_names_controllers(self) -> BreachPolicy:
        if self.role == "processor" and not self.controllers:
            raise ValueError("role processor needs `controllers:` to notify (Art. 33(2))")
        return self
