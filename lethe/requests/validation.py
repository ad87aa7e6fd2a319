"""Check the ``erasure:`` and ``rectification:`` settings of each subject against the live schema.

Erasure works on the subject graph (``lethe.requests.subjects``), so its settings are checked against it: hold flags
are boolean columns of the identity table; each table named under ``erasure.tables`` holds the subject's
rows; anonymised columns exist, are neither keys nor the links the graph follows, and their operators can
write them inside the database (``encrypt`` makes reversible pseudonyms, no erasure: ``erasure-reversible``);
rectification columns exist in the identity table. Two rules keep an erasure from undoing itself or
breaking what it keeps:

* ``erasure-orphans-kept``: a table the erasure deletes must not be referenced by a NOT NULL foreign key
  from a table it keeps or anonymises (deleting would have to delete the kept rows too). A nullable key
  is detached (set to NULL) and reported on the plan and the receipt.
* ``erasure-lookup-kept``: when the identity row is kept or anonymised, every lookup column (e.g. email)
  must be rewritten, otherwise the subject could still be found by it after "erasure".

And one keeps an erasure complete: ``erasure-personal-left``: every column the data map declares personal
(``lethe.policy.categories.is_personal``) in a table of the subject graph is deleted with its row, rewritten by an
operator, or kept with a stated legal ground (a table kept with its `reason:`, or a column under `keep:`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lethe.errors import LetheError
from lethe.operators import get_operator
from lethe.policy.categories import is_personal
from lethe.policy.model import Policy, TableRef
from lethe.requests.subjects import SubjectGraph, build_graph

if TYPE_CHECKING:  # validation imports this module: only the type is needed here
    from lethe.stores.checks import SchemaCheck

KEEPING = frozenset({"keep", "anonymise"})


def erasure_action(graph: SubjectGraph, store: str, table: str) -> str:
    """What erasing the graph's subject does to a table: its declared action, else the default delete."""
    spec = graph.definition.erasure.tables.get(TableRef(store=store, table=table))
    return spec.action if spec is not None else graph.definition.erasure.default


def check_erasure(policy: Policy, check: SchemaCheck) -> None:
    """Add the findings of every subject's erasure and rectification settings to ``check``."""
    for name in policy.subjects:
        check_subject_requests(policy, name, check)


def check_subject_requests(policy: Policy, name: str, check: SchemaCheck) -> None:
    """Add the findings of one subject's erasure and rectification settings to ``check``."""
    subject = policy.subjects[name]
    where = f"subjects.{name}"
    identity = check.table(TableRef(store=subject.store, table=subject.table), where)
    if identity is None:
        return  # missing store or table: reported by the subject check
    check.hold_flags(identity, subject.erasure.unless, f"{where}.erasure.unless")
    for column in subject.rectification.columns:
        place = f"{where}.rectification.columns"
        if check.columns(identity, [column], place) and column in identity.primary_key:
            check.add("error", "rectification-key", place, f"{column} is the key of {identity.name}")
    try:
        graph = build_graph(policy, check.stores, name)
    except LetheError:
        return  # reported by the subject-graph check
    _check_tables(graph, check, where)
    _check_orphans(graph, check, where)
    _check_lookups(graph, check, where)
    _check_personal_left(policy, graph, check, where)


def _check_tables(graph: SubjectGraph, check: SchemaCheck, where: str) -> None:
    """Each table named under ``erasure.tables`` holds the subject's rows; its columns can be rewritten."""
    links: dict[str, set[str]] = {}
    for entry in graph.tables:
        for hop in entry.hops:
            links.setdefault(hop.table, set()).add(hop.column)
            links.setdefault(hop.parent, set()).add(hop.parent_column)
        if entry.by_value:
            links.setdefault(entry.table, set()).add(entry.by_value)
    for ref, action in graph.definition.erasure.tables.items():
        place = f"{where}.erasure.tables.{ref}"
        table = check.table(ref, place)
        if table is None:
            continue
        if graph.table(ref.store, table.name) is None:
            check.add(
                "error", "erasure-table-unreachable", place,
                f"{ref} holds no rows of subject {graph.subject} (no foreign-key path nor subject_column)",
            )  # fmt: skip
            continue
        check.columns(table, action.keep, f"{place}.keep")
        for column, spec in action.columns.items():
            column_place = f"{place}.columns.{column}"
            if not check.columns(table, [column], column_place):
                continue
            if column in table.primary_key:
                check.add("error", "anonymise-key", column_place, f"{column} is the key of {table.name}")
            elif column in links.get(table.name, set()):
                check.add(
                    "error", "erasure-anonymise-link", column_place,
                    f"{table.name}.{column} links the subject's rows: rewriting it would lose them",
                )  # fmt: skip
            elif not get_operator(spec.operator).in_database:
                check.add(
                    "error", "erasure-reversible", column_place,
                    f"operator {spec.operator!r} makes reversible pseudonyms (outside the database): "
                    "erasure needs hmac, redact, null, mask, generalise, noise or fake",
                )  # fmt: skip
            else:
                problem = get_operator(spec.operator).check(spec.options, table.columns[column].shape)
                if problem:
                    check.add(
                        "error", "operator-cannot-write", column_place, f"{table.name}.{column}: {problem}"
                    )


def _check_orphans(graph: SubjectGraph, check: SchemaCheck, where: str) -> None:
    """A deleted table must not be referenced by a NOT NULL key from a kept or anonymised table."""
    for entry in graph.tables:
        if erasure_action(graph, entry.store, entry.table) != "delete":
            continue
        schema = check.stores.schema(entry.store)
        for child, fk in schema.children_of(entry.table):
            if len(fk.columns) != 1 or child.columns[fk.columns[0]].nullable:
                continue
            if graph.table(entry.store, child.name) is None:
                continue  # not the subject's table: deleted with its parent, like any cascade
            action = erasure_action(graph, entry.store, child.name)
            if action in KEEPING:
                check.add(
                    "error", "erasure-orphans-kept", f"{where}.erasure.tables.{entry.store}.{entry.table}",
                    f"erasure deletes {entry.table} but {action}s {child.name}, whose NOT NULL key "
                    f"{fk.columns[0]} references it: anonymise {entry.table} instead, or delete {child.name}",
                )  # fmt: skip


def _check_lookups(graph: SubjectGraph, check: SchemaCheck, where: str) -> None:
    """A kept or anonymised identity row must lose every lookup value, or the subject stays findable."""
    definition = graph.definition
    action = erasure_action(graph, definition.store, definition.table)
    if action == "delete":
        return
    spec = definition.erasure.tables.get(TableRef(store=definition.store, table=definition.table))
    rewritten = set(spec.columns) if spec is not None else set()
    place = f"{where}.erasure.tables.{definition.store}.{definition.table}"
    verb = "keeps" if action == "keep" else "anonymises"
    for column in definition.lookup:
        if column not in rewritten:
            check.add(
                "error", "erasure-lookup-kept", place,
                f"erasure {verb} {definition.table} without rewriting lookup column {column}: "
                "the subject could still be found by it",
            )  # fmt: skip


def _check_personal_left(policy: Policy, graph: SubjectGraph, check: SchemaCheck, where: str) -> None:
    """An anonymised table must rewrite, or keep with a ground, every personal column the data map declares.

    Deleted rows and tables kept whole (with their `reason:`) are handled; tables the graph cannot reach are
    reported by the subject-graph check. Lookup columns left in an anonymised identity row are reported as
    ``erasure-lookup-kept`` already.
    """
    definition = graph.definition
    for entry in graph.tables:
        table_map = policy.table_map(entry.ref)
        spec = definition.erasure.tables.get(entry.ref)
        if table_map is None or spec is None or spec.action != "anonymise":
            continue
        existing = check.stores.table(entry.ref).columns
        handled = set(spec.columns) | set(spec.keep)
        if (entry.store, entry.table) == (definition.store, definition.table):
            handled |= set(definition.lookup)
        left = [
            column
            for column, mapped in table_map.columns.items()
            if is_personal(mapped.category) and column in existing and column not in handled
        ]
        if left:
            check.add(
                "error", "erasure-personal-left", f"{where}.erasure.tables.{entry.ref}",
                f"erasure anonymises {entry.table} but leaves declared personal column(s) {', '.join(left)} "
                "as they are: rewrite each under `columns:`, or give its legal ground under `keep:`",
            )  # fmt: skip
