"""Great Expectations plumbing: run the checks as expectations pushed down into each store's database.

Imported only when checks run (Great Expectations takes seconds to import). One ephemeral context per call
(contexts are not shared between threads), no Data Docs, no analytics, no progress bars. Per table of a
store: a SQL data source on the store's URL, a table asset, a whole-table batch, one suite with that table's
checks, one validation definition. Results are read for counts only:
``result_format=SUMMARY`` with ``partial_unexpected_count: 0`` keeps sample values out, the COUNT queries
select no column value, and only numeric fields are copied from a result.

``ExpectQueryViolationsToBeZero`` is ``UnexpectedRowsExpectation`` reading one row of counts: the stock
expectation runs its query twice (a COUNT over it and a fetch of up to 200 of its rows), which doubles the
cost of a full-table check; this one runs it once and succeeds when its ``violations`` column is 0.
An expectation whose query fails comes back with ``exception_info`` and ``success=False``: it is an
error, never a pass, and every check must come back (the evaluated count is compared with the suite).
"""

from __future__ import annotations

import os
import re
import warnings
from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, ClassVar

import sqlalchemy as sa

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

import great_expectations as gx
import great_expectations.expectations as gxe
from great_expectations.data_context.types.base import (
    DataContextConfig,
    InMemoryStoreBackendDefaults,
    ProgressBarsConfig,
)
from great_expectations.expectations import UnexpectedRowsExpectation

from lethe.dpia.sql import CheckDef, GxCheck, Measures, Outcome, QueryCheck, Status, safe_error
from lethe.stores.engines import Stores

RESULT_FORMAT: dict[str, Any] = {
    "result_format": "SUMMARY",
    "partial_unexpected_count": 0,
    "include_unexpected_rows": False,
}
# Numeric result fields that are counts, whatever the expectation; observed_value only when it is a count.
_COUNT_FIELDS = (
    "element_count",
    "unexpected_count",
    "missing_count",
    "unexpected_percent",
    "missing_percent",
)
_MISSING_COLUMN = re.compile(r'The column "([A-Za-z_][A-Za-z0-9_$]*)" in BatchData does not exist')
_EXCEPTION_CLASS = re.compile(r"^\(([\w.]+)\)")
MARK = "lethe_check"  # key of the check's id in an expectation's meta


class ExpectQueryViolationsToBeZero(UnexpectedRowsExpectation):
    """A one-row COUNT query must report ``violations = 0``; its other columns are measures."""

    metric_dependencies: ClassVar[tuple[str, ...]] = ("unexpected_rows_query.table",)

    def _validate(
        self,
        metrics: dict[str, Any],
        runtime_configuration: dict[str, Any] | None = None,
        execution_engine: Any = None,
    ) -> dict[str, Any]:
        rows = metrics["unexpected_rows_query.table"]
        if len(rows) != 1:
            raise ValueError(f"a violation count query must return one row, got {len(rows)}")
        measures = {str(k): _number(v) for k, v in rows[0].items()}
        violations = measures.get("violations")
        if not isinstance(violations, int):
            raise ValueError("a violation count query must return an integer column `violations`")
        return {"success": violations == 0, "result": {"observed_value": violations, "details": measures}}


def _number(value: Any) -> int | float | None:
    """A count or measure from a driver (Decimal on PostgreSQL/MariaDB sums); anything else is dropped."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, int | float):
        return value
    return None


def _error_text(info: dict[str, Any]) -> str:
    """Why an expectation errored, without values: the exception classes and at most a column name."""
    message = str(info.get("exception_message") or "")
    missing = _MISSING_COLUMN.search(message)
    if missing:
        return f"MetricResolutionError: column {missing.group(1)!r} does not exist"
    driver = _EXCEPTION_CLASS.match(message)
    if driver:
        return f"MetricResolutionError ({driver.group(1).rsplit('.', 1)[-1]})"
    first = message.split(":", 1)[0].strip()
    return (
        f"MetricResolutionError ({first})"
        if re.fullmatch(r"[A-Za-z_][\w.]*", first)
        else "MetricResolutionError"
    )


def _exception_info(result: Any) -> dict[str, Any] | None:
    """The first raised exception of a validation result, or None."""
    info = result.exception_info or {}
    if info.get("raised_exception"):
        return dict(info)
    for value in info.values():
        if isinstance(value, dict) and value.get("raised_exception"):
            return value
    return None


def _build(check: GxCheck) -> Any:
    """The expectation object of a check; raises for an unknown class or arguments it refuses."""
    if isinstance(check, QueryCheck):
        return ExpectQueryViolationsToBeZero(unexpected_rows_query=check.query)
    cls = getattr(gxe, check.expectation, None)
    if not isinstance(cls, type) or not issubclass(cls, gxe.Expectation):
        raise LookupError(f"Great Expectations has no expectation {check.expectation!r}")
    return cls(**check.kwargs)


def _observed(check: GxCheck, result: Any) -> Measures:
    """Counts of a result: the query's measures, or a named expectation's count fields."""
    payload = dict(result.result or {})
    if isinstance(check, QueryCheck):
        details = payload.get("details") or {}
        return {check.labels.get(k, k): v for k, v in details.items()}
    observed: Measures = {k: _number(payload[k]) for k in _COUNT_FIELDS if k in payload}
    for key, value in observed.items():
        if key.endswith("_count") and isinstance(value, float) and value.is_integer():
            observed[key] = int(value)  # MariaDB returns some counts as floats
    if "_count_" in result.expectation_config.type and "observed_value" in payload:
        observed["observed_value"] = _number(payload["observed_value"])
    return observed


def _error(definition: CheckDef, text: str, *, evaluated: bool) -> Outcome:
    return Outcome(definition, "error", {}, "great_expectations", evaluated, error=text)


def run_gx_checks(checks: Sequence[GxCheck], stores: Stores) -> list[Outcome]:
    """Run every check in its store's database; one outcome per check, in the given order."""
    # In memory, with no Data Docs site (the default ephemeral config makes a temporary one).
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
    )
    context = gx.get_context(mode="ephemeral", project_config=config)
    by_table: dict[tuple[str, str], list[GxCheck]] = defaultdict(list)
    for check in checks:
        by_table[(check.store, check.table)].append(check)
    outcomes: dict[str, Outcome] = {}
    sources: dict[str, Any] = {}
    try:
        for number, ((store, table), group) in enumerate(by_table.items()):
            try:
                if store not in sources:
                    sources[store] = _data_source(context, stores, store, len(sources))
                outcomes.update(_run_table(sources[store], table, group, f"t{number}"))
            except Exception as exc:  # a store or table that cannot be read: each of its checks is an error
                for check in group:
                    outcomes[check.definition.id] = _error(check.definition, safe_error(exc), evaluated=False)
    finally:
        for source in sources.values():  # GX's engines, so no connection outlives the run
            source.get_execution_engine().engine.dispose()
            source.get_engine().dispose()
    return [outcomes[c.definition.id] for c in checks]


def _data_source(context: Any, stores: Stores, store: str, number: int) -> Any:
    """A SQL data source on the store's database (SQLite connections get Lethe's functions)."""
    stores.ping(store)  # an unreachable store is a StoreError naming it, not a driver error with its URL
    engine = stores.engine(store)
    url = engine.url.render_as_string(hide_password=False)
    with warnings.catch_warnings():
        # GX suggests its SQLite/PostgreSQL-specific sources; the generic one runs the same SQL on all three.
        warnings.simplefilter("ignore")
        return context.data_sources.add_sql(name=f"store{number}", connection_string=url)


def _register_functions(source: Any, group: Sequence[GxCheck]) -> None:
    """Register the SQLite functions the group's predicates call, on every connection GX opens."""
    prepare = [p for c in group if isinstance(c, QueryCheck) for p in c.prepare]
    if not prepare:
        return
    engine = source.get_execution_engine().engine
    if engine.dialect.name != "sqlite":
        return

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        for function in prepare:
            function(dbapi_connection)

    sa.event.listen(engine, "connect", on_connect)
    engine.dispose()  # connections opened before the listener existed would lack the functions


def _run_table(source: Any, table: str, group: Sequence[GxCheck], name: str) -> dict[str, Outcome]:
    """Validate one table's checks as one suite on a whole-table batch; outcomes by check id.

    The suite is not saved in the context and the batch is asked for directly: saving either would only
    serialise the context's configuration again, for a context that is thrown away after the run.
    """
    _register_functions(source, group)
    asset = source.add_table_asset(name=name, table_name=table)
    batch = asset.get_batch(asset.build_batch_request())
    suite = gx.ExpectationSuite(name=f"{name}-suite")
    outcomes: dict[str, Outcome] = {}
    by_expectation: dict[str, GxCheck] = {}
    for check in group:
        try:
            expectation = _build(check)
            # The check's id travels with the expectation into its result (suites unsaved have no ids).
            expectation.meta = {MARK: check.definition.id}
            suite.add_expectation(expectation)
        except Exception as exc:  # unknown expectation or arguments it refuses: not evaluated
            text = f"{type(exc).__name__}: invalid expectation {getattr(check, 'expectation', '')}".rstrip()
            outcomes[check.definition.id] = _error(check.definition, text, evaluated=False)
            continue
        by_expectation[check.definition.id] = check
    if not by_expectation:
        return outcomes
    run = batch.validate(suite, result_format=RESULT_FORMAT)
    evaluated = int(run.statistics.get("evaluated_expectations") or 0)
    seen: set[str] = set()
    for result in run.results:
        key = str((result.expectation_config.meta or {}).get(MARK))
        if key not in by_expectation:
            continue
        check = by_expectation[key]
        seen.add(key)
        info = _exception_info(result)
        if info is not None:
            outcomes[check.definition.id] = _error(check.definition, _error_text(info), evaluated=True)
            continue
        status: Status = "pass" if result.success else "fail"
        observed = _observed(check, result)
        outcomes[check.definition.id] = Outcome(
            check.definition, status, observed, "great_expectations", True
        )
    missing = [c for key, c in by_expectation.items() if key not in seen]
    for check in missing:
        text = "not evaluated: Great Expectations returned no result for this expectation"
        outcomes[check.definition.id] = _error(check.definition, text, evaluated=False)
    if evaluated != len(by_expectation):
        # A silently dropped expectation must not pass: every check of the suite becomes an error.
        text = f"Great Expectations evaluated {evaluated} of {len(by_expectation)} expectations"
        for check in by_expectation.values():
            outcomes[check.definition.id] = _error(check.definition, text, evaluated=False)
    return outcomes
