"""Findings of checking a policy against live schemas, and the collector every domain's checks write to.

``lethe validate`` walks the policy (``lethe.validation``); each domain checks its own part (retention rules in
``lethe.retention.validation``, erasure settings in ``lethe.requests.validation``) through one
``SchemaCheck``, which reflects each table once and records a finding per problem. Findings carry a code
(stable, for machines), a place in the policy and a message; none holds a value from the data.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from lethe.errors import SchemaMismatchError
from lethe.policy.model import TableRef
from lethe.stores.engines import Stores
from lethe.stores.schema import TableInfo

Severity = Literal["error", "warning", "info"]


@dataclass(frozen=True)
class Finding:
    """One problem (or note) found while validating."""

    severity: Severity
    code: str
    where: str
    message: str


@dataclass
class SchemaCheck:
    """Collects findings while walking the policy."""

    stores: Stores
    findings: list[Finding] = field(default_factory=list)
    unreachable: set[str] = field(default_factory=set)

    def add(self, severity: Severity, code: str, where: str, message: str) -> None:
        """Record a finding."""
        self.findings.append(Finding(severity, code, where, message))

    def table(self, ref: TableRef, where: str) -> TableInfo | None:
        """The reflected table, or None after recording why it is missing."""
        if ref.store in self.unreachable:
            return None
        try:
            return self.stores.table(ref)
        except SchemaMismatchError as exc:
            self.add("error", "missing-table", where, str(exc))
            return None

    def columns(self, table: TableInfo, names: Iterable[str], where: str) -> bool:
        """True when every column exists; records each missing one."""
        ok = True
        for name in names:
            try:
                table.column(name)
            except SchemaMismatchError as exc:
                self.add("error", "missing-column", where, str(exc))
                ok = False
        return ok

    def hold_flags(self, table: TableInfo, flags: Iterable[str], where: str) -> None:
        """Each flag exists and is boolean (or integer: MariaDB's TINYINT), as holds are tested as true/non-zero."""
        for flag in flags:
            if self.columns(table, [flag], where):
                kind = table.columns[flag].kind
                if kind not in {"boolean", "integer"}:
                    self.add(
                        "error",
                        "exemption-not-boolean",
                        where,
                        f"exemption {flag} is {kind}; a hold flag must be boolean",
                    )
