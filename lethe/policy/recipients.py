"""The ``recipients:`` block: who received personal data and how they are told of changes (GDPR Art. 19).

Each recipient names the tables or categories of data it received and one channel:

* ``webhook``: a JSON POST to ``url`` (counts and the request's reference, never a value);
* ``outbox``: a row in ``outbox`` (``store.table``, created when missing) that the application delivers;
* ``manual``: a task for a person (``instructions``), recorded as pending in the ledger.

``disproportionate_effort`` (the reason, Art. 19 "unless this proves impossible or involves disproportionate
effort") records an exception instead of notifying.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from lethe.policy.base import Model, TableRefField


class Recipient(Model):
    """One recipient of personal data and how it is told of an erasure, rectification or restriction."""

    description: str | None = None
    tables: list[TableRefField] = Field(default_factory=list)
    categories: list[str] = Field(default_factory=list)
    channel: Literal["webhook", "outbox", "manual"]
    url: str | None = None  # webhook
    outbox: TableRefField | None = None  # outbox table
    instructions: str | None = None  # manual
    disproportionate_effort: str | None = None  # the reason for not telling this recipient

    @model_validator(mode="after")
    def _channel_complete(self) -> Recipient:
        if not self.tables and not self.categories:
            raise ValueError("a recipient names the `tables:` or `categories:` of data it received")
        if self.channel == "webhook":
            if not self.url or not self.url.startswith(("http://", "https://")):
                raise ValueError("a webhook recipient needs `url:` (http:// or https://)")
        elif self.url:
            raise ValueError(f"a {self.channel} recipient takes no `url:`")
        if self.channel == "outbox" and self.outbox is None:
            raise ValueError("an outbox recipient needs `outbox:` (store.table of the outbox)")
        if self.channel != "outbox" and self.outbox is not None:
            raise ValueError(f"a {self.channel} recipient takes no `outbox:`")
        if self.disproportionate_effort is not None and not self.disproportionate_effort.strip():
            raise ValueError("`disproportionate_effort:` needs the reason")
        return self
