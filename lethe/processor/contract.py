"""The end of a contract with one controller: export its data, then delete it, then certify the deletion.

``plan_contract_end`` finds the controller's tables (every table of the policy with a controller column) and
counts its rows, changing nothing. ``export_controller`` writes them all into one zip encrypted with a
passphrase and records the export in the ledger. ``delete_controller`` refuses unless that export exists
on disk with the recorded SHA-256 and still holds every row (counts per table equal to the tables' now):
it then deletes the rows table by table, children first, in the batches of retention (journalled, each batch
and each table ledgered). ``certify`` writes the deletion certificate: a ledger entry and a JSON file with
counts per table, the export's SHA-256 and the times. Nothing here names a person: the controller is named by
its name in the policy, files carry counts and digests only.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from lethe.errors import LetheError, ParameterError, SchemaMismatchError, StoreError
from lethe.ledger.chain import Ledger
from lethe.ledger.entry import LedgerEntry, Scalar
from lethe.policy.model import Policy, RetentionRule, TableRef
from lethe.requests.export.archive import ExportResult, write_export
from lethe.requests.export.crypto import check_passphrase
from lethe.requests.export.plan import collect_rows, filtered_table_plan, tables_plan
from lethe.retention.enforce import RuleResult, enforce_rule
from lethe.retention.run import RetentionRun
from lethe.retention.sql import RuleSql
from lethe.retention.where import where_value
from lethe.stores.engines import Stores
from lethe.stores.schema import type_kind

CERTIFICATE_FORMAT = "lethe-deletion-certificate/1"
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True)
class ContractTable:
    """A table holding rows of the controller: where, by which column, how many rows now."""

    ref: TableRef
    column: str
    rows: int


@dataclass(frozen=True)
class ContractPlan:
    """What ending the contract would export and delete: tables in deletion order (children first)."""

    controller: str
    tables: list[ContractTable]

    @property
    def counts(self) -> dict[str, int]:
        """Rows per table."""
        return {str(t.ref): t.rows for t in self.tables}


@dataclass(frozen=True)
class Certificate:
    """The deletion certificate: what was returned and deleted for the controller, and when."""

    controller: str
    run_id: str
    export_file: str
    export_sha256: str
    exported_rows: dict[str, int]
    deleted_rows: dict[str, int]
    children: dict[str, int]
    export_started_at: str
    deletion_started_at: str
    deletion_ended_at: str
    policy_hash: str
    ledger_seq: int = 0
    file: str = ""
    format: str = field(default=CERTIFICATE_FORMAT)


def controller_key(policy: Policy, controller: str) -> Any:
    """The controller-column value of a controller declared in the policy (ParameterError otherwise)."""
    if policy.role != "processor":
        raise ParameterError("the policy is not in processor mode (`role: processor`)")
    if controller not in policy.processor.controllers:
        known = ", ".join(sorted(policy.processor.controllers)) or "none"
        raise ParameterError(
            f"unknown controller {controller!r}; declared under processor.controllers: {known}"
        )
    return policy.processor.key_of(controller)


def _bound(policy: Policy, table: sa.Table, ref: TableRef, column: str, key: Any) -> Any:
    """``key`` as ``column`` compares it."""
    try:
        return where_value(type_kind(table.c[column].type), key, policy.stores[ref.store].timezone)
    except ValueError:
        raise SchemaMismatchError(f"{ref}.{column}: the controller's key does not fit the column") from None


def _deletion_order(stores: Stores, refs: list[TableRef]) -> list[TableRef]:
    """``refs`` with every table before the tables it references (children first), else in policy order."""
    remaining = list(refs)
    ordered: list[TableRef] = []
    while remaining:
        for ref in remaining:
            children = [
                other
                for other in remaining
                if other != ref
                and other.store == ref.store
                and any(fk.ref_table == ref.table for fk in stores.table(other).foreign_keys)
            ]
            if not children:
                ordered.append(ref)
                remaining.remove(ref)
                break
        else:  # a cycle of foreign keys: the retention cascade handles what is left in policy order
            ordered += remaining
            break
    return ordered


def plan_contract_end(policy: Policy, stores: Stores, controller: str) -> ContractPlan:
    """Count the controller's rows in every table with a controller column; change nothing."""
    key = controller_key(policy, controller)
    refs = list(dict.fromkeys([*policy.data_map, *(r.table for r in policy.retention)]))
    refs = [r for r in refs if policy.controller_column(r) is not None]
    if not refs:
        raise SchemaMismatchError("no table declares a controller_column (data map or store)")
    tables: list[ContractTable] = []
    for ref in _deletion_order(stores, refs):
        column = policy.controller_column(ref)
        assert column is not None
        table = stores.sa_table(ref.store, ref.table)
        if column not in table.c:
            raise SchemaMismatchError(f"{ref} has no controller column {column!r}")
        query = sa.select(sa.func.count()).select_from(table)
        query = query.where(table.c[column] == _bound(policy, table, ref, column, key))
        try:
            with stores.engine(ref.store).connect() as connection:
                rows = int(connection.execute(query).scalar_one())
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot count {ref} ({type(exc).__name__})") from None
        tables.append(ContractTable(ref, column, rows))
    return ContractPlan(controller, tables)


def export_controller(
    policy: Policy,
    stores: Stores,
    plan: ContractPlan,
    out_dir: Path,
    *,
    passphrase: str,
    ledger: Ledger,
    run_id: str,
) -> ExportResult:
    """Write every row of the controller into one encrypted zip and record it in the ledger."""
    check_passphrase(passphrase)  # the data leaves the processor: never in clear
    started = datetime.now(UTC)
    key = controller_key(policy, plan.controller)
    table_plans = [filtered_table_plan(policy, stores, t.ref, t.column) for t in plan.tables]
    export_plan = tables_plan(f"controller {plan.controller}", table_plans)
    # Each table's key is bound as its own column compares it: one read per table (the recount before the
    # deletion catches a row written in between).
    collected = []
    for t, table_plan in zip(plan.tables, table_plans, strict=True):
        table = stores.sa_table(t.ref.store, t.ref.table)
        single = tables_plan(export_plan.subject, [table_plan])
        collected += collect_rows(stores, single, _bound(policy, table, t.ref, t.column, key))
    client = policy.processor.controllers[plan.controller]
    contact = {"name": client.name, "email": client.email, "address": client.address}
    dpo = client.dpo.model_dump() if client.dpo else None
    # The page's facts name the controller the data is returned to; activities are in the RoPA (Art. 30(2)).
    facts: dict[str, Any] = {"controller": contact, "dpo": dpo, "activities": [], "rights": []}
    extra = {"run_id": run_id, "controller": plan.controller}
    prefix = f"contract-end-{_UNSAFE.sub('_', plan.controller)}"
    result = write_export(
        policy, export_plan, collected, out_dir, prefix, run_id, passphrase, started, facts, extra
    )
    details: dict[str, Scalar] = {
        "controller": plan.controller,
        "file": result.file_name,
        "sha256": result.sha256,
        "encrypted": True,
    }
    try:
        ledger.append(
            LedgerEntry(run_id, "contract_end", policy.hash, "processor.export", "completed", started,
                        datetime.now(UTC), counts=result.counts, details=details)
        )  # fmt: skip
    except BaseException:
        result.path.unlink(missing_ok=True)  # no export without its evidence
        raise
    return result


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def check_export(policy: Policy, stores: Stores, plan: ContractPlan, export: ExportResult | None) -> None:
    """Refuse (ParameterError) to delete unless the export exists, is intact and holds every row now there."""
    if export is None:
        raise ParameterError(f"controller {plan.controller}: no export; its data is returned before deletion")
    if not export.encrypted or not export.path.is_file() or _file_sha256(export.path) != export.sha256:
        raise ParameterError(
            f"controller {plan.controller}: the export {export.file_name} is missing or changed"
        )
    now = plan_contract_end(policy, stores, plan.controller).counts
    if export.counts != now:
        changed = sorted(t for t in now if now[t] != export.counts.get(t))
        raise ParameterError(
            f"controller {plan.controller}: rows changed since the export in {', '.join(changed)}; export again"
        )


def delete_controller(run: RetentionRun, plan: ContractPlan, export: ExportResult | None) -> list[RuleResult]:
    """Delete every row of the controller, table by table (children first), after ``check_export``.

    The export must also be in the ledger (its ``processor.export`` entry for this controller and SHA-256).
    """
    check_export(run.policy, run.stores, plan, export)
    assert export is not None
    if run.ledger is None:
        raise LetheError("deleting a controller's data needs the evidence ledger (set LETHE_LEDGER_KEY)")
    recorded = any(
        e.entry.action == "processor.export"
        and e.entry.details.get("controller") == plan.controller
        and e.entry.details.get("sha256") == export.sha256
        for e in run.ledger.entries()
    )
    if not recorded:
        raise ParameterError(
            f"controller {plan.controller}: the export {export.file_name} is not in the ledger"
        )
    key = controller_key(run.policy, plan.controller)
    results: list[RuleResult] = []
    for t in plan.tables:
        rule = RetentionRule.model_validate(
            {
                "name": f"contract-end-{_UNSAFE.sub('-', t.ref.table)}",
                "table": str(t.ref),
                "after": "1 day",  # not used: the rows are selected by controller alone
                "since": t.column,
                "action": "delete",
                "max_share": 1.0,
            }
        )
        table = run.stores.sa_table(t.ref.store, t.ref.table)
        pk = list(table.primary_key.columns)
        if not pk:
            raise SchemaMismatchError(f"{t.ref} has no primary key: its rows cannot be deleted in batches")
        mine = table.c[t.column] == sa.literal(
            _bound(run.policy, table, t.ref, t.column, key), table.c[t.column].type
        )
        dialect = run.stores.engine(t.ref.store).dialect.name
        sql = RuleSql(rule, table, pk, dialect, run.as_of, mine, sa.true(), None, None, [])
        results.append(enforce_rule(run, rule, sql=sql))
    return results


def certify(
    run: RetentionRun,
    plan: ContractPlan,
    export: ExportResult,
    results: list[RuleResult],
    out_dir: Path,
    export_started: datetime,
) -> Certificate:
    """Record the deletion certificate in the ledger and write it as ``certificate-*.json`` in ``out_dir``."""
    if run.ledger is None:
        raise LetheError("a deletion certificate needs the evidence ledger (set LETHE_LEDGER_KEY)")
    children: dict[str, int] = {}
    for r in results:
        for name, n in r.children.items():
            children[name] = children.get(name, 0) + n
    started = min((r.started_at for r in results), default=datetime.now(UTC))
    ended = max((r.ended_at for r in results), default=datetime.now(UTC))
    certificate = Certificate(
        controller=plan.controller, run_id=run.run_id, export_file=export.file_name, export_sha256=export.sha256,
        exported_rows=dict(export.counts), deleted_rows={r.table: r.applied for r in results}, children=children,
        export_started_at=export_started.isoformat(), deletion_started_at=started.isoformat(),
        deletion_ended_at=ended.isoformat(), policy_hash=run.policy.hash,
    )  # fmt: skip
    counts = {f"deleted:{t}": n for t, n in certificate.deleted_rows.items()}
    counts |= {f"exported:{t}": n for t, n in certificate.exported_rows.items()}
    counts |= {f"children:{t}": n for t, n in children.items()}
    details: dict[str, Scalar] = {
        "controller": plan.controller, "export_file": export.file_name, "export_sha256": export.sha256,
        "export_started_at": certificate.export_started_at, "format": CERTIFICATE_FORMAT,
    }  # fmt: skip
    recorded = run.ledger.append(
        LedgerEntry(run.run_id, run.flow, run.policy.hash, "processor.certificate", "certified", started, ended,
                    counts=counts, details=details)
    )  # fmt: skip
    name = f"certificate-{_UNSAFE.sub('_', plan.controller)}-{ended.strftime('%Y%m%dT%H%M%SZ')}.json"
    certificate = Certificate(**{**asdict(certificate), "ledger_seq": recorded.seq, "file": name})
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / name).write_text(json.dumps(asdict(certificate), indent=1) + "\n", encoding="utf-8")
    except OSError as exc:
        raise LetheError(
            f"the certificate is in the ledger (entry {recorded.seq}) but cannot be written to {out_dir} ({type(exc).__name__})"
        ) from None
    return certificate


@dataclass(frozen=True)
class ContractEnd:
    """What ending a contract did (or, dry, would do)."""

    plan: ContractPlan
    export: ExportResult | None = None
    certificate: Certificate | None = None


def end_contract(
    run: RetentionRun, controller: str, out_dir: Path, *, passphrase: str | None, dry_run: bool = False
) -> ContractEnd:
    """Export, then delete, then certify; a dry run only plans. Any failure stops before the next step."""
    plan = plan_contract_end(run.policy, run.stores, controller)
    if dry_run:
        return ContractEnd(plan)
    if run.ledger is None:
        raise LetheError("ending a contract needs the evidence ledger (set LETHE_LEDGER_KEY)")
    if not passphrase:
        raise ParameterError("the returned data is encrypted: set a passphrase (LETHE_CONTRACT_PASSPHRASE)")
    started = datetime.now(UTC)
    export = export_controller(
        run.policy, run.stores, plan, out_dir, passphrase=passphrase, ledger=run.ledger, run_id=run.run_id
    )
    results = delete_controller(run, plan, export)
    return ContractEnd(plan, export, certify(run, plan, export, results, out_dir, started))
